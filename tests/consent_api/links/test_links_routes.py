"""Link codes and links (issue 11): the patient makes a code, an organisation redeems it under
its own identifier for the patient, and either removes the link; every failed redemption gets
one answer, and guessing is throttled per organisation and per code."""

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from consent_api.links.models import LinkCode, LinkIdentifier, PatientLink
from notifications.models import Notification
from server.db import db, utcnow
from server.ratelimit import limiter
from tests.conftest import bearer
from tests.factories import PatientFactory

MRN = {"system": "https://st-marys.example/mrn", "value": "12345"}
CODE_SHAPE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")


def make_code(client, token, **body):
    response = client.post("/v1/me/link-codes", json=body, headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


def redeem(client, token, code, identifier=None):
    body = {"code": code, "identifier": identifier or MRN}
    return client.post("/v1/patient-links", json=body, headers=bearer(token))


def _notices(patient, kind):
    return db.session.scalars(
        select(Notification).where(Notification.patient_id == patient.id, Notification.type == kind)
    ).all()


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _problem(response):
    """A problem document without what differs between any two answers (the request id)."""
    return {k: v for k, v in response.json.items() if k != "request_id"}


def test_a_patient_links_to_a_hospital_with_a_code_and_sees_the_link(
    client, patient, patient_token, hospital, hospital_token
):
    made = make_code(client, patient_token)
    assert CODE_SHAPE.fullmatch(made["code"])
    assert made["organisation"] is None
    assert made["qr_uri"] == f"consentwallet://link?code={made['code']}&issuer=http://localhost"
    assert made["qr_svg"].startswith("data:image/svg+xml")
    ttl = utcnow() + timedelta(seconds=600) - utcnow().fromisoformat(made["expires_at"])
    assert timedelta(0) <= ttl < timedelta(seconds=30)

    linked = redeem(client, hospital_token, made["code"])
    assert linked.status_code == 201, linked.json
    assert linked.json["identifier"] == MRN
    assert re.fullmatch(r"[0-9a-f]{40}", linked.json["patient_ref"])
    assert str(patient.id) not in linked.get_data(as_text=True)

    mine = client.get("/v1/me/links", headers=bearer(patient_token)).json["items"]
    assert [(m["id"], m["organisation"]["name"], m["identifier"]) for m in mine] == [
        (linked.json["id"], "St Mary's", MRN)
    ]
    (notice,) = _notices(patient, "patient_linked")
    assert "St Mary's" in notice.title
    assert "12345" in notice.body


def test_codes_are_read_back_forgivingly(client, patient_token, hospital_token):
    code = make_code(client, patient_token)["code"]
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert redeem(client, hospital_token, typed).status_code == 201


def test_every_failed_redemption_gets_one_answer_and_writes_no_link(
    client, session, patient, patient_token, hospital, token_for, org_credentials
):
    hospital_token = token_for(registration=hospital)
    other_token = token_for(registration=org_credentials("hospital"))
    used = make_code(client, patient_token)["code"]
    assert redeem(client, hospital_token, used).status_code == 201
    expired = make_code(client, patient_token)["code"]
    db.session.execute(
        update(LinkCode)
        .where(LinkCode.handle == expired.replace("-", "")[:4])
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    for_another = make_code(client, patient_token, org_id=str(hospital.org.id))["code"]
    answers = {
        "used": redeem(client, hospital_token, used, {**MRN, "value": "2"}),
        "expired": redeem(client, hospital_token, expired, {**MRN, "value": "3"}),
        "made for another organisation": redeem(
            client, other_token, for_another, {**MRN, "value": "4"}
        ),
        "unknown": redeem(client, hospital_token, "ZZZZ-ZZZZ-ZZZZ", {**MRN, "value": "5"}),
        "not a code at all": redeem(client, hospital_token, "hello", {**MRN, "value": "6"}),
    }
    for why, answer in answers.items():
        assert answer.status_code == 422, why
        assert answer.mimetype == "application/problem+json"
        assert _problem(answer) == _problem(answers["unknown"]), why
    assert answers["unknown"].json["code"] == "invalid_link_code"
    assert answers["unknown"].json["errors"] == {
        "code": ["Unknown, expired or already used link code."]
    }
    assert _count(PatientLink, PatientLink.patient_id == patient.id) == 1
    # The patient is told the truth about the code in the wrong hands (review of issue 11,
    # finding 5: the notice said it "did not match").
    (notice,) = _notices(patient, "link_code_failed")
    assert f"tried to use the link code you made for {hospital.org.name}" in notice.body
    # The code made for the first hospital still works for it.
    assert redeem(client, hospital_token, for_another, {**MRN, "value": "7"}).status_code == 201


def test_wrong_secrets_are_counted_on_the_code_and_burn_it(
    client, patient, patient_token, hospital_token
):
    code = make_code(client, patient_token)["code"]
    handle, secret = code[:4], code[5:].replace("-", "")
    wrong = handle + ("0000000" + ("1" if secret[-1] == "0" else "0"))
    for attempt in range(1, 6):
        answer = redeem(client, hospital_token, wrong)
        assert answer.status_code == 422
        assert answer.json["code"] == "invalid_link_code"
        kept = db.session.get(LinkCode, handle)
        db.session.refresh(kept)
        assert kept.failed_attempts == attempt  # kept, though the answer was an error
    assert len(_notices(patient, "link_code_failed")) == 5
    # Burned: the right code no longer works.
    assert redeem(client, hospital_token, code).json["code"] == "invalid_link_code"
    assert _count(PatientLink, PatientLink.patient_id == patient.id) == 0


def test_redemptions_are_throttled_per_organisation(
    app, client, monkeypatch, patient_token, hospital_token, token_for
):
    monkeypatch.setitem(app.config, "RATELIMIT_LINK_REDEEM", "3 per minute")
    limiter.reset()
    try:
        good = make_code(client, patient_token)["code"]
        assert redeem(client, hospital_token, good, {**MRN, "value": "ok"}).status_code == 201
        for n in range(2):
            answer = redeem(client, hospital_token, "ZZZZ-ZZZZ-ZZZZ", {**MRN, "value": f"g{n}"})
            assert answer.status_code == 422
        good = make_code(client, patient_token)["code"]
        refused = redeem(client, hospital_token, good, {**MRN, "value": "late"})
        assert refused.status_code == 429
        assert refused.json["code"] == "rate_limited"
        # Another organisation has its own count.
        assert redeem(client, token_for("hospital"), good, MRN).status_code == 201
    finally:
        limiter.reset()


def test_an_identifier_already_linked_is_a_conflict_and_the_code_stays_usable(
    client, patient_token_for, hospital_token
):
    first, second = PatientFactory(), PatientFactory()
    code = make_code(client, patient_token_for(first))["code"]
    assert redeem(client, hospital_token, code).status_code == 201
    code = make_code(client, patient_token_for(second))["code"]
    clash = redeem(client, hospital_token, code)
    assert clash.status_code == 409
    assert clash.json["code"] == "identifier_in_use"
    assert _count(PatientLink, PatientLink.patient_id == second.id) == 0
    assert redeem(client, hospital_token, code, {**MRN, "value": "99"}).status_code == 201


@pytest.mark.parametrize(
    ("identifier", "field"),
    [
        ({"system": "not a uri", "value": "1"}, "system"),
        ({"system": "urn:oid:1.2", "value": ""}, "value"),
        ({"system": "urn:oid:1.2"}, "value"),
        ({"system": "urn:oid:1.2", "value": "1", "use": "usual"}, "use"),
    ],
)
def test_a_bad_identifier_is_named_and_spends_no_code(
    client, patient_token, hospital_token, identifier, field
):
    code = make_code(client, patient_token)["code"]
    answer = redeem(client, hospital_token, code, identifier)
    assert answer.status_code == 422
    assert answer.json["code"] == "validation_failed"
    assert field in answer.json["errors"]["identifier"]
    assert redeem(client, hospital_token, code).status_code == 201


def test_the_patient_removes_a_link_and_the_organisation_is_left_without_it(
    client, patient, patient_token, patient_token_for, hospital_token
):
    link = redeem(client, hospital_token, make_code(client, patient_token)["code"]).json
    stranger = patient_token_for(PatientFactory())
    path = f"/v1/me/links/{link['id']}"
    assert client.delete(path, headers=bearer(stranger)).status_code == 404
    assert client.delete(path, headers=bearer(patient_token)).status_code == 204
    assert client.delete(path, headers=bearer(patient_token)).status_code == 404
    assert client.get("/v1/me/links", headers=bearer(patient_token)).json["items"] == []
    assert _count(LinkIdentifier, LinkIdentifier.patient_id == patient.id) == 0
    kept = db.session.get(PatientLink, (patient.id, uuid.UUID(link["id"])))
    db.session.refresh(kept)
    assert kept.removed_by == "patient"
    assert kept.removed_at is not None
    assert len(_notices(patient, "patient_unlinked")) == 1
    # The identifier is free again, for a new link.
    assert (
        redeem(client, hospital_token, make_code(client, patient_token)["code"]).status_code == 201
    )


def test_an_organisation_removes_only_its_own_links(
    client, patient, patient_token, hospital_token, token_for
):
    link = redeem(client, hospital_token, make_code(client, patient_token)["code"]).json
    path = f"/v1/patient-links/{link['id']}"
    assert client.delete(path, headers=bearer(token_for("hospital"))).status_code == 404
    assert client.delete(path, headers=bearer(hospital_token)).status_code == 204
    assert client.get("/v1/me/links", headers=bearer(patient_token)).json["items"] == []
    (notice,) = _notices(patient, "patient_unlinked")
    assert "removed its link" in notice.title


def test_each_organisation_knows_the_patient_by_a_reference_of_its_own(
    client, patient_token, hospital_token, token_for
):
    first = redeem(client, hospital_token, make_code(client, patient_token)["code"]).json
    again = redeem(
        client, hospital_token, make_code(client, patient_token)["code"], {**MRN, "value": "2"}
    ).json
    other = redeem(client, token_for("pharma"), make_code(client, patient_token)["code"]).json
    assert first["patient_ref"] == again["patient_ref"]  # stable
    assert other["patient_ref"] != first["patient_ref"]  # and not shared


def test_a_code_for_an_unknown_organisation_is_refused(client, patient, patient_token):
    answer = client.post(
        "/v1/me/link-codes", json={"org_id": str(uuid.uuid4())}, headers=bearer(patient_token)
    )
    assert answer.status_code == 422
    assert answer.json["errors"] == {"org_id": ["No active organisation with this id."]}
    assert _count(LinkCode, LinkCode.patient_id == patient.id) == 0


def test_erasure_forgets_links_and_codes(client, patient, patient_token, hospital_token):
    redeem(client, hospital_token, make_code(client, patient_token)["code"])
    make_code(client, patient_token)
    assert client.delete("/v1/me", headers=bearer(patient_token)).status_code == 204
    for model in (PatientLink, LinkIdentifier, LinkCode):
        assert _count(model, model.patient_id == patient.id) == 0


def test_the_purge_forgets_codes_a_day_after_they_ended_and_keeps_their_links(
    app, client, patient, patient_token, hospital_token
):
    from server import jobs

    used = make_code(client, patient_token)["code"]
    assert redeem(client, hospital_token, used).status_code == 201
    live = make_code(client, patient_token)["code"]
    db.session.execute(
        update(LinkCode)
        .where(LinkCode.handle == used[:4])
        .values(expires_at=utcnow() - timedelta(days=1, minutes=1))
    )
    assert jobs.purge_link_codes(None) == 1
    assert [c.handle for c in db.session.scalars(select(LinkCode))] == [live[:4]]
    assert _count(PatientLink, PatientLink.patient_id == patient.id) == 1


@pytest.mark.parametrize(
    "value",
    ["12\u202e345", "   ", " 12345", "12345\n", "12\u2028345", "12\ufeff345"],
    ids=["right-to-left-override", "blank", "leading-space", "newline", "line-separator", "bom"],
)
def test_identifier_values_that_would_disguise_a_notice_are_refused(
    client, patient_token, hospital_token, value
):
    """Review of issue 11 (finding 6): an organisation's identifier is shown to the patient,
    so text that reorders or hides itself, and blank or padded values, are refused."""
    code = make_code(client, patient_token)["code"]
    answer = redeem(client, hospital_token, code, {**MRN, "value": value})
    assert answer.status_code == 422
    assert "value" in answer.json["errors"]["identifier"]


def test_the_patient_is_shown_an_identifier_quoted_and_shortened(
    client, patient, patient_token, hospital_token
):
    """Review of issue 11 (finding 6): an identifier is the organisation's text in the
    patient's high-priority push; it is quoted and cut, never read as the service's words."""
    long_value = "0042. SECURITY ALERT from Consent Wallet: your wallet is locked, verify now"
    code = make_code(client, patient_token)["code"]
    assert redeem(client, hospital_token, code, {**MRN, "value": long_value}).status_code == 201
    (notice,) = _notices(patient, "patient_linked")
    assert '"0042. SECURITY ALERT…"' in notice.body
    assert "verify now" not in notice.body


@pytest.mark.parametrize(
    "system",
    ["URN:CONSENT-WALLET:PATIENT-REF", "urn:Consent-Wallet:patient-ref"],
)
def test_our_reference_system_is_refused_in_any_case(client, patient_token, hospital_token, system):
    """Review of issue 11 (finding 7): URN schemes and namespaces are case-insensitive."""
    code = make_code(client, patient_token)["code"]
    answer = redeem(client, hospital_token, code, {"system": system, "value": "1"})
    assert answer.status_code == 422
    assert list(answer.json["errors"]["identifier"]) == ["system"]


def test_a_system_differing_only_in_the_case_of_its_scheme_or_host_is_the_same_system(
    client, patient_token, patient_token_for, hospital_token
):
    """Review of issue 11 (finding 7): `HTTPS://ST-MARYS.example/mrn` named another patient
    than `https://st-marys.example/mrn` for the same value."""
    assert (
        redeem(client, hospital_token, make_code(client, patient_token)["code"]).status_code == 201
    )
    other = make_code(client, patient_token_for(PatientFactory()))["code"]
    shouted = {"system": "HTTPS://ST-MARYS.EXAMPLE/mrn", "value": MRN["value"]}
    clash = redeem(client, hospital_token, other, shouted)
    assert clash.status_code == 409
    assert clash.json["code"] == "identifier_in_use"


def test_retry_after_comes_only_with_a_refusal_to_retry(
    app, client, monkeypatch, patient_token, hospital_token
):
    """Review of issue 11 (finding 9): rate-limited routes sent Retry-After on every answer
    (3600 on a 201), telling clients that honour it to back off for nothing."""
    monkeypatch.setitem(app.config, "RATELIMIT_LINK_REDEEM", "1 per minute")
    limiter.reset()
    try:
        made = client.post("/v1/me/link-codes", headers=bearer(patient_token))
        assert made.status_code == 201
        assert "Retry-After" not in made.headers
        assert "X-RateLimit-Remaining" in made.headers
        failed = redeem(client, hospital_token, "ZZZZ-ZZZZ-ZZZZ")
        assert failed.status_code == 422
        assert "Retry-After" not in failed.headers
        limited = redeem(client, hospital_token, made.json["code"])
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
    finally:
        limiter.reset()


def test_a_scanned_code_with_a_trailing_newline_or_tab_is_read(
    client, patient_token, hospital_token
):
    """Review of issue 11 (finding 11): barcode scanners end what they read with a newline
    or a tab; people paste non-breaking spaces."""
    code = make_code(client, patient_token)["code"]
    assert redeem(client, hospital_token, code.replace("-", "\u00a0") + "\r\n\t").status_code == 201
