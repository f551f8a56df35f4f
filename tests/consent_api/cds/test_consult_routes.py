"""POST /cds-services/patient-consent-consult: LEAP's consult, answered with our decisions
for the calling organisation, with real organisation and patient tokens."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from consent_api.consents.models import Consent
from server.db import db
from tests.conftest import bearer, shown
from tests.consent_api.cds.conftest import (
    ACT_CODE,
    CATEGORY_SYSTEM,
    REF_SYSTEM,
    category,
    consult,
    hook_request,
    mrn,
    post,
    refused,
    schema_errors,
)

UNLINKED = {"context": {"patientId": ["No patient is linked to you with this identifier."]}}
SENSITIVE_CODES = {
    "genomics": "GDIS",
    "mental_health": "MH",
    "sexual_health": "SEX",
    "substance_use": "ETH",
}


def _rows() -> dict[str, int]:
    """Rows in every table: a consult writes none."""
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def _problem(response) -> dict:
    """A problem document without what differs between any two answers (the request id)."""
    return {k: v for k, v in response.json.items() if k != "request_id"}


def test_a_consent_permits_and_the_card_names_it(client, linked_grant, hospital_token):
    consent, _, _ = linked_grant()
    card = consult(
        client, hospital_token, hook_request([mrn()], **{"class": [category("lab_results")]})
    )
    assert (card["summary"], card["indicator"]) == ("CONSENT_PERMIT", "info")
    assert card["source"] == {"label": "Consent Wallet", "url": "http://localhost/"}
    assert uuid.UUID(card["uuid"]).version == 4
    assert card["extension"] == {
        "decision": "CONSENT_PERMIT",
        "obligations": [],
        "basedOn": f"http://localhost/fhir/R5/Consent/{shown(hospital_token, consent['id'])}",
        "consents": [
            {"reference": f"Consent/{shown(hospital_token, consent['id'])}", "version": 1}
        ],
        "reasons": {"lab_results": "permitted"},
    }
    assert card["detail"].startswith(
        "St Mary's may see this patient's lab results for treatment (TREAT)"
    )
    assert "context.actor is not used" in card["detail"]


def test_based_on_is_the_consent_as_fhir_the_caller_can_read(client, linked_grant, hospital_token):
    consent, _, _ = linked_grant()
    card = consult(
        client, hospital_token, hook_request([mrn()], **{"class": [category("lab_results")]})
    )
    read = client.get(
        card["extension"]["basedOn"].removeprefix("http://localhost"),
        headers=bearer(hospital_token),
    )
    assert read.status_code == 200
    assert (read.json["id"], read.json["meta"]["versionId"]) == (
        shown(hospital_token, consent["id"]),
        "1",
    )


def test_the_patient_ref_names_the_patient_as_the_mrn_does(client, linked_grant, hospital_token):
    consent, _, patient_ref = linked_grant()
    by_ref = hook_request(
        [{"system": REF_SYSTEM, "value": patient_ref}], **{"class": [category("lab_results")]}
    )
    card = consult(client, hospital_token, by_ref)
    assert card["extension"]["decision"] == "CONSENT_PERMIT"
    assert card["extension"]["consents"] == [
        {"reference": f"Consent/{shown(hospital_token, consent['id'])}", "version": 1}
    ]


def test_an_excluded_category_is_redacted_under_a_partial_permit(
    client, linked_grant, hospital_token
):
    linked_grant(
        data_categories=["lab_results", "imaging"], exclusions=[{"data_categories": ["imaging"]}]
    )
    classes = [category("imaging"), category("lab_results")]
    card = consult(client, hospital_token, hook_request([mrn()], **{"class": classes}))
    extension = card["extension"]
    assert (card["summary"], card["indicator"]) == ("CONSENT_PERMIT", "info")
    assert extension["obligations"] == [
        {
            "id": {"system": ACT_CODE, "code": "REDACT"},
            "parameters": {"codes": [{"system": CATEGORY_SYSTEM, "code": "imaging"}]},
        }
    ]
    assert extension["reasons"] == {"lab_results": "permitted", "imaging": "excluded"}
    assert "but not: imaging (excluded by the patient)" in card["detail"]


def test_the_whole_record_redacts_the_sensitive_categories_all_does_not_cover(
    client, linked_grant, hospital_token
):
    linked_grant(data_categories=["all"])
    card = consult(client, hospital_token, hook_request([mrn()]))  # no class: the whole record
    (obligation,) = card["extension"]["obligations"]
    expected = []
    for code, v3 in SENSITIVE_CODES.items():
        expected += [{"system": CATEGORY_SYSTEM, "code": code}, {"system": ACT_CODE, "code": v3}]
    assert obligation["parameters"]["codes"] == expected
    reasons = card["extension"]["reasons"]
    assert len(reasons) == 16
    assert {c for c, r in reasons.items() if r != "permitted"} == set(SENSITIVE_CODES)
    assert set(reasons.values()) == {"permitted", "sensitive_not_named"}


def test_a_sensitive_class_is_asked_by_its_v3_code(client, grant, link, hospital_token):
    patient, named, token = grant(data_categories=["substance_use"])
    grant(patient=patient, data_categories=["all"], purposes=["HRESCH"])
    link(hospital_token, token)
    eth = {"class": [{"system": ACT_CODE, "code": "ETH"}]}
    treatment = consult(client, hospital_token, hook_request([mrn()], **eth))
    assert treatment["extension"]["reasons"] == {"substance_use": "permitted"}
    assert treatment["extension"]["basedOn"].endswith(shown(hospital_token, named["id"]))
    research = consult(client, hospital_token, hook_request([mrn()], purposeOfUse="HRESCH", **eth))
    assert research["extension"]["decision"] == "CONSENT_DENY"
    assert research["extension"]["reasons"] == {"substance_use": "sensitive_not_named"}


def test_a_revoked_consent_denies_and_is_named(client, linked_grant, hospital_token):
    consent, token, _ = linked_grant()
    revoked = client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(token))
    assert revoked.status_code == 200
    card = consult(
        client, hospital_token, hook_request([mrn()], **{"class": [category("lab_results")]})
    )
    assert (card["summary"], card["indicator"]) == ("CONSENT_DENY", "critical")
    assert card["extension"] == {
        "decision": "CONSENT_DENY",
        "obligations": [],
        "basedOn": f"http://localhost/fhir/R5/Consent/{shown(hospital_token, consent['id'])}",
        "reasons": {"lab_results": "revoked"},
    }
    assert "may not see this patient's lab results" in card["detail"]
    assert "the consent was revoked" in card["detail"]


def test_data_a_consent_does_not_cover_is_denied(client, linked_grant, hospital_token):
    linked_grant()  # lab results only
    classes = [category("imaging"), category("mental_health")]
    card = consult(client, hospital_token, hook_request([mrn()], **{"class": classes}))
    assert card["extension"]["decision"] == "CONSENT_DENY"
    assert card["extension"]["reasons"] == {
        "imaging": "out_of_scope",
        "mental_health": "out_of_scope",
    }
    assert "consents" not in card["extension"]


def test_no_consent_naming_the_caller_is_no_consent(client, linked_grant, hospital_token):
    linked_grant(grantee={"org_type": "pharma"})
    card = consult(client, hospital_token, hook_request([mrn()]))
    assert (card["summary"], card["indicator"]) == ("NO_CONSENT", "warning")
    assert card["extension"]["obligations"] == []
    assert "basedOn" not in card["extension"]
    assert "consents" not in card["extension"]
    assert set(card["extension"]["reasons"].values()) == {"no_consent"}
    assert card["detail"].startswith("No consent of this patient names St Mary's")


def test_every_purpose_asked_must_be_permitted_for_a_category(client, grant, link, hospital_token):
    patient, both, token = grant(data_categories=["lab_results"], purposes=["TREAT", "HRESCH"])
    _, treatment_only, _ = grant(patient=patient, data_categories=["imaging"])
    link(hospital_token, token)
    classes = [category("lab_results"), category("imaging")]
    body = hook_request([mrn()], purposeOfUse=["TREAT", "HRESCH"], **{"class": classes})
    card = consult(client, hospital_token, body)
    extension = card["extension"]
    assert extension["decision"] == "CONSENT_PERMIT"
    assert extension["reasons"] == {"lab_results": "permitted", "imaging": "out_of_scope"}
    assert extension["obligations"][0]["parameters"]["codes"] == [
        {"system": CATEGORY_SYSTEM, "code": "imaging"}
    ]
    # Relied on once, for both purposes; the imaging consent permits nothing asked.
    assert extension["consents"] == [
        {"reference": f"Consent/{shown(hospital_token, both['id'])}", "version": 1}
    ]
    assert "for treatment (TREAT) and research (HRESCH)" in card["detail"]
    treatment = consult(client, hospital_token, hook_request([mrn()], **{"class": classes}))
    assert treatment["extension"]["obligations"] == []
    assert [c["reference"] for c in treatment["extension"]["consents"]] == [
        f"Consent/{shown(hospital_token, both['id'])}",
        f"Consent/{shown(hospital_token, treatment_only['id'])}",
    ]


def test_identifiers_that_name_nobody_are_passed_over(client, linked_grant, hospital_token):
    linked_grant()
    ssn = {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "111111111"}
    body = hook_request([ssn, mrn()], **{"class": [category("lab_results")]})
    assert consult(client, hospital_token, body)["summary"] == "CONSENT_PERMIT"


def test_identifiers_naming_two_patients_are_refused(client, grant, link, hospital_token):
    _, _, first = grant()
    _, _, second = grant()
    link(hospital_token, first, mrn("A"))
    second_ref = link(hospital_token, second, mrn("B"))
    body = hook_request([mrn("A"), {"system": REF_SYSTEM, "value": second_ref}])
    response = post(client, hospital_token, body)
    assert response.status_code == 422
    assert response.json["code"] == "validation_failed"
    assert list(response.json["errors"]["context"]) == ["patientId"]


def test_unknown_patients_all_get_one_answer(client, grant, link, hospital_token, token_for):
    _, _, token = grant()
    other_hospital = token_for("hospital")
    other_ref = link(other_hospital, token, mrn("theirs"))
    link(hospital_token, token, mrn("ours"))
    answers = {
        "unlinked MRN": post(client, hospital_token, hook_request([mrn("nobody")])),
        "another organisation's MRN": post(client, hospital_token, hook_request([mrn("theirs")])),
        "another system": post(
            client, hospital_token, hook_request([{"system": "urn:oid:1.2.3", "value": "ours"}])
        ),
        "another organisation's ref": post(
            client, hospital_token, hook_request([{"system": REF_SYSTEM, "value": other_ref}])
        ),
        "a made-up ref": post(
            client, hospital_token, hook_request([{"system": REF_SYSTEM, "value": "a" * 32}])
        ),
        "not a ref at all": post(
            client, hospital_token, hook_request([{"system": REF_SYSTEM, "value": "hello"}])
        ),
    }
    for why, answer in answers.items():
        assert answer.status_code == 422, why
        assert answer.mimetype == "application/problem+json", why
        assert _problem(answer) == _problem(answers["unlinked MRN"]), why
    assert answers["unlinked MRN"].json["code"] == "unknown_patient"
    assert answers["unlinked MRN"].json["errors"] == UNLINKED
    # The patient is real, linked to us, and consented: our own MRN still works.
    assert (
        consult(client, hospital_token, hook_request([mrn("ours")]))["summary"] == "CONSENT_PERMIT"
    )


def test_the_decision_is_the_callers_whoever_the_actor_names(
    client, grant, link, hospital_token, token_for
):
    _, _, token = grant(grantee={"org_type": "pharma"})
    pharma = token_for("pharma")
    link(hospital_token, token)
    pharma_actor = [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:9.9.9"}]
    card = consult(client, hospital_token, hook_request([mrn()], actor=pharma_actor))
    assert card["summary"] == "NO_CONSENT"  # the pharma's consent is not the hospital's
    link(pharma, token, mrn("P-1"))
    assert consult(client, pharma, hook_request([mrn("P-1")]))["summary"] == "CONSENT_PERMIT"


def test_a_content_bundle_is_accepted_and_said_not_processed(client, linked_grant, hospital_token):
    linked_grant()
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Observation", "status": "final"}}],
    }
    body = hook_request([mrn()], content=bundle, **{"class": [category("lab_results")]})
    body |= {"fhirServer": "https://ehr.example/fhir", "prefetch": {"patient": None}}
    card = consult(client, hospital_token, body)
    assert "content" not in card["extension"]
    assert "The content Bundle was not processed" in card["detail"]


def test_a_consult_writes_nothing(client, linked_grant, hospital_token):
    consent, _, _ = linked_grant()
    before = _rows()
    card = consult(client, hospital_token, hook_request([mrn()]))
    assert card["summary"] == "CONSENT_PERMIT"
    assert _rows() == before
    assert db.session.get(Consent, uuid.UUID(consent["id"])).use_count == 0


def test_the_action_is_decided_too(client, linked_grant, hospital_token):
    linked_grant(actions=["access"])
    lab = {"class": [category("lab_results")]}
    assert consult(client, hospital_token, hook_request([mrn()], **lab))["summary"] == (
        "CONSENT_PERMIT"
    )
    disclose = consult(client, hospital_token, hook_request([mrn()], action="disclose", **lab))
    assert disclose["extension"]["reasons"] == {"lab_results": "out_of_scope"}
    assert "may not share" in disclose["detail"]


def _without(context_key: str) -> dict:
    body = hook_request([mrn()])
    del body["context"][context_key]
    return body


BAD_BODIES = [
    pytest.param({**hook_request([mrn()]), "hook": "order-sign"}, ["hook"], id="wrong hook"),
    pytest.param(
        {"hook": "patient-consent-consult", "hookInstance": "x"}, ["context"], id="no context"
    ),
    pytest.param(
        {**hook_request([mrn()]), "hookInstance": ""}, ["hookInstance"], id="empty hookInstance"
    ),
    pytest.param(hook_request([mrn()], scope="adr"), ["context", "scope"], id="legacy scope"),
    pytest.param(
        hook_request([mrn()], userId="Practitioner/1"), ["context", "userId"], id="unknown key"
    ),
    pytest.param(
        hook_request([mrn()], purposeOfUse=["TREAT", "FUN"]),
        ["context", "purposeOfUse", "1"],
        id="bad purpose",
    ),
    pytest.param(
        hook_request([mrn()], purposeOfUse="fun"),
        ["context", "purposeOfUse"],
        id="bad purpose string",
    ),
    pytest.param(
        hook_request([mrn()], purposeOfUse=[]), ["context", "purposeOfUse"], id="no purposes"
    ),
    pytest.param(_without("purposeOfUse"), ["context", "purposeOfUse"], id="purpose missing"),
    pytest.param(_without("actor"), ["context", "actor"], id="actor missing"),
    pytest.param(_without("patientId"), ["context", "patientId"], id="patientId missing"),
    pytest.param(hook_request([]), ["context", "patientId"], id="no patientId"),
    pytest.param(
        hook_request([{"value": "MRN-1"}]),
        ["context", "patientId", "0", "system"],
        id="patientId without system",
    ),
    pytest.param(
        hook_request(
            [mrn()],
            **{
                "class": [
                    {"system": "http://hl7.org/fhir/resource-types", "code": "MedicationStatement"}
                ]
            },
        ),
        ["context", "class", "0"],
        id="unknown class",
    ),
    pytest.param(
        hook_request([mrn()], **{"class": [category("all")]}),
        ["context", "class", "0"],
        id="class all",
    ),
    pytest.param(hook_request([mrn()], **{"class": []}), ["context", "class"], id="empty class"),
    pytest.param(
        hook_request([mrn()], **{"class": [{"code": "imaging"}]}),
        ["context", "class", "0", "system"],
        id="class without system",
    ),
    pytest.param(hook_request([mrn()], action="delete"), ["context", "action"], id="bad action"),
    pytest.param(
        hook_request([mrn()], content={"resourceType": "Patient"}),
        ["context", "content"],
        id="content not a Bundle",
    ),
    pytest.param(
        {**hook_request([mrn()]), "fhirAuthorization": "Bearer x"},
        ["fhirAuthorization"],
        id="fhirAuthorization not an object",
    ),
]


@pytest.mark.parametrize(("body", "path"), BAD_BODIES)
def test_bad_bodies_are_422_naming_the_field_and_write_nothing(
    client, linked_grant, hospital_token, body, path
):
    linked_grant()
    before = _rows()
    response = refused(client, hospital_token, body)
    assert response.status_code == 422
    assert response.json["code"] == "validation_failed"
    errors = response.json["errors"]
    for key in path:
        assert key in errors, (path, response.json["errors"])
        errors = errors[key]
    assert _rows() == before


def test_every_bad_field_is_named_at_once(client, hospital_token):
    body = hook_request([{"value": "x"}], purposeOfUse="FUN", action=7, scope="adr")
    body["hook"] = "nope"
    response = refused(client, hospital_token, body)
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"hook", "context"}
    assert set(response.json["errors"]["context"]) == {
        "patientId",
        "purposeOfUse",
        "action",
        "scope",
    }


def test_a_body_that_is_not_an_object_is_422(client, hospital_token):
    response = post(client, hospital_token, [hook_request([mrn()])])
    assert response.status_code == 422
    assert schema_errors("hook-request", [hook_request([mrn()])]) != []


def test_consults_need_the_consent_check_scope(client, token_for, patient_token):
    body = hook_request([mrn()])
    narrowed = token_for("hospital", scopes="consent.read patient.link")
    for token in (narrowed, patient_token):
        response = post(client, token, body)
        assert response.status_code == 403
        assert response.json["code"] == "insufficient_scope"


def test_consults_need_a_token(client):
    response = post(client, None, hook_request([mrn()]))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_consent_limited_to_a_data_period_does_not_release_the_record(
    client, linked_grant, hospital_token
):
    """Review of issue 11 (finding 1): a consult names no dates, so it asks about records of
    every date; a consent covering 2020 only must not release them all."""
    linked_grant(data_period={"start": "2020-01-01", "end": "2020-12-31"})
    card = consult(
        client, hospital_token, hook_request([mrn()], **{"class": [category("lab_results")]})
    )
    assert card["summary"] == "CONSENT_DENY"
    assert card["extension"]["reasons"] == {"lab_results": "outside_data_period"}
