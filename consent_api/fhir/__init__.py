"""FHIR R5 interoperability: consents as FHIR Consent resources."""
