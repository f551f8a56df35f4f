"""Find the patient a consult names, as the calling organisation knows them.

Each `patientId` is either the `patient_ref` we gave the caller (system
`urn:consent-wallet:patient-ref`) or the caller's own identifier of a patient linked to it
(an MRN, say). Identifiers that name nobody for the caller are passed over, as LEAP passes
over identifiers its FHIR server does not know, so that a hospital can send every identifier
it holds; identifiers that name two patients are refused. When none names anyone the answer
is the `unknown_patient` problem of every organisation route, the same whether the value is
another organisation's reference, a made-up one or an unlinked identifier: no oracle.
"""

from __future__ import annotations

import uuid

from consent_api.cds.parsing import Consult
from consent_api.links import naming, refs
from server.errors import ValidationFailed

DIFFERENT_PATIENTS = "These identifiers name different patients: send one patient's."


def patient_id(org_id: uuid.UUID, consult: Consult) -> uuid.UUID:
    """The one patient the consult's identifiers name for `org_id`, or a 422."""
    found = {found for found in refs.decode_many(org_id, consult.refs) if found is not None}
    found.update(naming.linked(org_id, list(consult.identifiers)).values())
    if len(found) > 1:
        raise ValidationFailed(errors={"context": {"patientId": [DIFFERENT_PATIENTS]}})
    if not found:
        raise naming.UnknownPatient({"context": {"patientId": [naming.UNLINKED]}})
    (patient,) = found
    return patient
