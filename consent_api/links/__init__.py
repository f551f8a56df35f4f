"""Linking patients to organisations: link codes the patient hands over, the links an
organisation holds (its own identifier for the patient, e.g. an MRN), and the pseudonymous
reference each organisation knows every patient by."""
