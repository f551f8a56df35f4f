"""CDS Hooks 2.0: the `patient-consent-consult` service, a drop-in for LEAP CDS consults.

`parsing` reads the hook request, `resolve` finds the patient the calling organisation names,
`service` decides every category and purpose asked with the decision core, `consult` combines
those decisions into one LEAP decision (pure), and `cards` renders the one card.
"""
