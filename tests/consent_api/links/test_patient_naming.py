"""Organisations name patients their own way (issue 11): by the patient_ref they were given,
or by their own identifier of a linked patient. Never by the wallet's internal id; another
organisation's reference, a made-up one and an unlinked identifier get one answer, and
nothing is written."""

import secrets
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from consent_api.links import naming
from consent_api.links.identifiers import PATIENT_REF_SYSTEM
from consent_api.requests.models import ConsentRequest
from consent_api.uses.models import DataUse
from notifications.models import Notification
from server.db import db, utcnow
from tests.conftest import bearer, ref, report, shown, use_body
from tests.support import problem_code

CHECK_BODY = {"data_category": "lab_results", "purpose": "TREAT", "action": "use"}
MRN = {"system": "https://st-marys.example/mrn", "value": "12345"}
REQUEST = {
    "data_categories": ["lab_results"],
    "purposes": ["HRESCH"],
    "actions": ["use"],
    "justification": "Kidney study",
}


def link(client, patient_token, org_token, identifier=MRN) -> dict:
    code = client.post("/v1/me/link-codes", headers=bearer(patient_token)).json["code"]
    made = client.post(
        "/v1/patient-links",
        json={"code": code, "identifier": identifier},
        headers=bearer(org_token),
    )
    assert made.status_code == 201, made.json
    return made.json


def check(client, token, **named):
    return client.post("/v1/consent-checks", json={**named, **CHECK_BODY}, headers=bearer(token))


def request_consent(client, token, **named):
    body = {**REQUEST, "expires_at": (utcnow() + timedelta(days=7)).isoformat(), **named}
    return client.post("/v1/consent-requests", json=body, headers=bearer(token))


def fhir_search(client, token, **query):
    return client.get("/fhir/R5/Consent", query_string=query, headers=bearer(token))


def _problem(response) -> dict:
    assert response.status_code == 422, response.json
    return {k: v for k, v in response.json.items() if k != "request_id"}


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_hospital_checks_uses_asks_and_searches_by_its_mrn(
    client, grant, hospital_token, token_for
):
    patient, consent, patient_token = grant()  # to every hospital
    made = link(client, patient_token, hospital_token)
    by_mrn = {"patient_identifier": MRN}

    answer = check(client, hospital_token, **by_mrn)
    assert answer.json["decision"] == "permit"
    assert answer.json["consent_id"] == shown(hospital_token, consent["id"])

    both = report(client, hospital_token, use_body(made["patient_ref"]) | by_mrn)
    assert both.status_code == 422  # exactly one of the two
    assert both.json["errors"] == {"patient_ref": [naming.EXACTLY_ONE]}
    used = report(client, hospital_token, _use_without_patient() | by_mrn)
    assert used.status_code == 201, used.json
    assert used.json["patient_ref"] == made["patient_ref"]

    asked = request_consent(client, hospital_token, **by_mrn)
    assert asked.status_code == 201, asked.json
    assert asked.json["patient_ref"] == made["patient_ref"]
    assert "patient_id" not in asked.json

    found = fhir_search(client, hospital_token, **{"patient:identifier": "|".join(MRN.values())})
    assert found.status_code == 200, found.json
    assert [e["resource"]["id"] for e in found.json["entry"]] == [
        shown(hospital_token, consent["id"])
    ]
    subject = found.json["entry"][0]["resource"]["subject"]["reference"]
    assert subject == f"Patient/{made['patient_ref']}"
    # Nothing an organisation gets names the patient by the wallet's id.
    for answer in (used, asked, found, client.get("/v1/consents", headers=bearer(hospital_token))):
        assert str(patient.id) not in answer.get_data(as_text=True)


def test_the_reference_in_every_answer_is_the_organisations_own(
    client, grant, hospital_token, token_for
):
    patient, _, patient_token = grant(grantee={"org_type": "hospital"})
    other_token = token_for("hospital")
    made = link(client, patient_token, hospital_token)
    mirrored = client.get("/v1/consents", headers=bearer(hospital_token)).json["items"]
    elsewhere = client.get("/v1/consents", headers=bearer(other_token)).json["items"]
    assert [c["patient_ref"] for c in mirrored] == [made["patient_ref"]]
    assert [c["patient_ref"] for c in elsewhere] == [ref(other_token, patient)]
    assert elsewhere[0]["patient_ref"] != made["patient_ref"]
    # Each reference works for its own organisation only.
    assert check(client, other_token, patient_ref=elsewhere[0]["patient_ref"]).status_code == 200
    assert check(client, other_token, patient_ref=made["patient_ref"]).status_code == 422


def test_a_batch_mixes_references_and_identifiers_in_order(client, grant, hospital_token):
    linked, _, linked_token = grant()
    other, _, _ = grant(purposes=["HRESCH"])
    link(client, linked_token, hospital_token)
    checks = [
        {"patient_identifier": MRN, **CHECK_BODY},
        {"patient_ref": ref(hospital_token, other), **CHECK_BODY},
        {"patient_ref": ref(hospital_token, linked), **CHECK_BODY, "purpose": "HMARKT"},
        {"patient_identifier": MRN, **CHECK_BODY, "data_category": "imaging"},
    ]
    answer = client.post(
        "/v1/consent-checks/batch", json={"checks": checks}, headers=bearer(hospital_token)
    )
    assert answer.status_code == 200, answer.json
    assert [r["reason"] for r in answer.json["results"]] == [
        "permitted",
        "out_of_scope",
        "out_of_scope",
        "out_of_scope",
    ]


def test_a_batch_by_identifier_reads_patients_and_consents_in_one_statement(
    client, grant, hospital_token
):
    identifiers = []
    for n in range(3):
        _, _, token = grant()
        identifiers.append({**MRN, "value": f"mrn-{n}"})
        link(client, token, hospital_token, identifiers[-1])
    checks = [{"patient_identifier": identifiers[n % 3], **CHECK_BODY} for n in range(1000)]
    statements = []

    def seen(_connection, _cursor, statement, *_args):
        statements.append(statement)

    engine = db.session.connection().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = client.post(
            "/v1/consent-checks/batch", json={"checks": checks}, headers=bearer(hospital_token)
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert answer.status_code == 200
    assert {r["decision"] for r in answer.json["results"]} == {"permit"}
    consent_reads = [s for s in statements if "link_identifiers" in s]
    assert len(consent_reads) == 1
    assert "consents" in consent_reads[0]


@pytest.fixture
def names(client, grant, hospital_token, token_for):
    """A patient who consented to every hospital and is linked to another hospital, and the
    ways the first hospital may try to name her without having been given to: the other
    hospital's reference, a made-up one; the other's identifier, and a removed link's."""
    patient, _, patient_token = grant()
    other_token = token_for("hospital")
    theirs = link(client, patient_token, other_token)
    mine = link(client, patient_token, hospital_token, {**MRN, "value": "gone"})
    client.delete(f"/v1/me/links/{mine['id']}", headers=bearer(patient_token))
    return (
        patient,
        {
            "another organisation's reference": {"patient_ref": theirs["patient_ref"]},
            "a made-up reference": {"patient_ref": secrets.token_hex(20)},
            "a reference of nobody": {"patient_ref": ref(hospital_token, uuid.uuid4())},
        },
        {
            "another organisation's identifier": {"patient_identifier": MRN},
            "a never-linked identifier": {"patient_identifier": {**MRN, "value": "nobody"}},
            "a removed link's identifier": {"patient_identifier": {**MRN, "value": "gone"}},
        },
    )


def test_no_oracle_for_references_and_identifiers_on_any_route(client, names, hospital_token):
    patient, references, identifiers = names
    del references["a reference of nobody"]  # valid: a plain deny, tested below
    for group in (references, identifiers):
        answers = {
            (route, why): call(client, hospital_token, **named)
            for why, named in group.items()
            for route, call in {
                "check": check,
                "use": lambda c, t, **n: report(c, t, {**_use_without_patient(), **n}),
                "request": request_consent,
            }.items()
        }
        shapes = {key: _problem(answer) for key, answer in answers.items()}
        for (route, why), shape in shapes.items():
            first = next(s for (r, _), s in shapes.items() if r == route)
            assert shape == first, (route, why)
            assert shape["code"] == "unknown_patient"
    assert _count(DataUse, DataUse.patient_id == patient.id) == 0
    assert _count(ConsentRequest, ConsentRequest.patient_id == patient.id) == 0
    kinds = db.session.scalars(
        select(Notification.type).where(Notification.patient_id == patient.id)
    ).all()
    assert "access_refused" not in kinds
    assert "consent_request_received" not in kinds


def test_a_reference_of_nobody_is_a_plain_deny(client, names, hospital_token):
    _, references, _ = names
    answer = check(client, hospital_token, **references["a reference of nobody"])
    assert (answer.json["decision"], answer.json["reason"]) == ("deny", "no_consent")


def test_the_fhir_search_answers_unknown_names_alike(client, names, hospital_token):
    _, references, identifiers = names
    shapes = [
        _problem(fhir_search(client, hospital_token, patient=named["patient_ref"]))
        for why, named in references.items()
        if why != "a reference of nobody"
    ]
    assert shapes[0] == shapes[1]
    assert problem_code(shapes[0]) == "unknown_patient"  # an OperationOutcome, under /fhir/
    # The issue names the search's own parameter (review finding: it said patient_ref).
    assert shapes[0]["issue"][0]["expression"] == ["patient"]
    shapes = [
        _problem(
            fhir_search(
                client,
                hospital_token,
                **{"patient:identifier": "|".join(named["patient_identifier"].values())},
            )
        )
        for named in identifiers.values()
    ]
    assert shapes[0] == shapes[1] == shapes[2]


def test_a_batch_names_each_check_that_names_nobody(client, names, hospital_token, grant):
    _, references, identifiers = names
    checks = [
        {**references["another organisation's reference"], **CHECK_BODY},
        {**references["a reference of nobody"], **CHECK_BODY},
        {**identifiers["a never-linked identifier"], **CHECK_BODY},
    ]
    answer = client.post(
        "/v1/consent-checks/batch", json={"checks": checks}, headers=bearer(hospital_token)
    )
    assert answer.status_code == 422
    assert answer.json["code"] == "unknown_patient"
    assert answer.json["errors"]["checks"] == {
        "0": {
            "patient_ref": ["Not a patient reference of yours: use the patient_ref we gave you."]
        },
        "2": {"patient_identifier": ["No patient is linked to you with this identifier."]},
    }


def _use_without_patient() -> dict:
    body = use_body("")
    del body["patient_ref"]
    return body


def test_an_identifier_in_our_reference_system_is_the_reference(client, grant, hospital_token):
    patient, consent, patient_token = grant()
    as_identifier = {"system": PATIENT_REF_SYSTEM, "value": ref(hospital_token, patient)}
    answer = check(client, hospital_token, patient_identifier=as_identifier)
    assert answer.json["consent_id"] == shown(hospital_token, consent["id"])
    found = fhir_search(
        client, hospital_token, **{"patient:identifier": "|".join(as_identifier.values())}
    )
    assert [e["resource"]["id"] for e in found.json["entry"]] == [
        shown(hospital_token, consent["id"])
    ]
    # And no organisation may link patients under it.
    code = client.post("/v1/me/link-codes", headers=bearer(patient_token)).json["code"]
    refused = client.post(
        "/v1/patient-links",
        json={"code": code, "identifier": as_identifier},
        headers=bearer(hospital_token),
    )
    assert refused.status_code == 422
    assert list(refused.json["errors"]["identifier"]) == ["system"]


def test_organisations_cannot_join_their_references_on_a_shared_consent(
    client, grant, hospital_token, token_for
):
    """Review of issue 11 (finding 2): a consent granted to every hospital was shown to each
    by its one id, next to each one's own patient_ref: a key on which two hospitals could
    join their references. Each organisation now knows every consent by an id of its own,
    in its list, its checks, its uses, FHIR and CDS Hooks, and reads it by that id only."""
    patient, consent, _ = grant()  # to every hospital
    other = token_for("hospital")
    seen = {}
    for token in (hospital_token, other):
        (listed,) = client.get("/v1/consents", headers=bearer(token)).json["items"]
        checked = check(client, token, patient_ref=ref(token, patient)).json["consent_id"]
        used = report(client, token, use_body(ref(token, patient))).json["consents"][0]
        found = fhir_search(client, token, patient=ref(token, patient)).json["entry"][0]
        seen[token] = {listed["id"], checked, used["consent_id"], found["resource"]["id"]}
        assert len(seen[token]) == 1  # one id for the consent, wherever this organisation looks
    assert seen[hospital_token].isdisjoint(seen[other])
    assert consent["id"] not in seen[hospital_token] | seen[other]  # nor the patient's own
    (mine,) = seen[hospital_token]
    assert client.get(f"/fhir/R5/Consent/{mine}", headers=bearer(hospital_token)).status_code == 200
    assert client.get(f"/fhir/R5/Consent/{mine}", headers=bearer(other)).status_code == 404
