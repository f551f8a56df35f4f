"""Signed consent receipts through HTTP: every version's receipt verifies, with an independent
ES256 check, against the keys published at /.well-known/jwks.json and says what the version
said; a changed claim or another key fails; a revocation's receipt says so and its notice
(inbox and push) carries its id; the audit entry's leaf index appears once sequenced and its
inclusion proof holds; an organisation reads the receipts of the consents it holds, as it
knows them, and no other's; bad versions are refused."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

from joserfc.jwk import ECKey

from consent_api.audit import merkle
from consent_api.consents.models import Consent, ConsentVersion
from notifications.push import RecordingPushSender
from server import signing
from server.db import db, utcnow
from tests.conftest import bearer, ref, shown
from tests.jose_check import verified, with_claims
from tests.support import problem_code, run_job_now


def _receipt(client, token: str, consent_id: str, *, mine: bool = True, **query):
    base = "/v1/me/consents" if mine else "/v1/consents"
    answer = client.get(f"{base}/{consent_id}/receipt", query_string=query, headers=bearer(token))
    assert answer.status_code == 200, answer.json
    return answer.json


def _verified(client, receipt: dict) -> dict:
    """The receipt's claims, read from its JWS once it verifies with a published key."""
    checked = verified(receipt["jws"], client.get("/.well-known/jwks.json").json)
    assert checked is not None, "the receipt does not verify"
    header, claims = checked
    assert header["typ"] == "consent-receipt+jwt"
    assert claims == receipt["claims"]
    return claims


def test_a_receipt_verifies_and_says_what_the_version_says(client, grant, org_credentials):
    clinic = org_credentials("hospital", name="North Clinic")
    until = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    patient, consent, token = grant(
        grantee={"org_id": str(clinic.org.id)},
        data_categories=["lab_results", "genomics"],
        purposes=["TREAT", "HRESCH"],
        actions=["use"],
        valid_until=until.isoformat(),
        max_uses=3,
    )

    receipt = _receipt(client, token, consent["id"])
    claims = _verified(client, receipt)

    assert receipt["receipt_id"] == claims["consentReceiptID"] == claims["jti"]
    assert (receipt["consent_id"], receipt["version"]) == (consent["id"], 1)
    assert claims["version"] == "KI-CR-v1.1.0"
    assert (claims["iss"], claims["jurisdiction"]) == ("http://localhost", "EU")
    assert claims["piiControllers"] == [
        {"piiController": "Consent Wallet", "piiControllerUrl": "http://localhost"}
    ]
    assert claims["piiPrincipalId"] == claims["sub"] == str(patient.id)
    assert (claims["consentId"], claims["consentVersion"]) == (consent["id"], 1)
    assert (claims["change"], claims["status"], claims["termsVersion"]) == ("created", "active", 1)
    assert claims["dataCategories"] == consent["data_categories"]
    assert claims["purposes"] == consent["purposes"] == ["TREAT", "HRESCH"]
    assert claims["actions"] == ["use"]
    assert claims["validity"] == {"from": consent["valid_from"], "until": consent["valid_until"]}
    assert claims["maxUses"] == 3
    assert claims["recipient"] == {
        "orgId": str(clinic.org.id),
        "orgType": "hospital",
        "name": "North Clinic",
    }
    (service,) = claims["services"]
    assert [p["purpose"] for p in service["purposes"]] == ["TREAT", "HRESCH"]
    assert {p["thirdPartyName"] for p in service["purposes"]} == {"North Clinic"}
    assert (claims["sensitive"], claims["spiCat"]) == (True, ["genomics"])
    assert claims["consentTimestamp"] == claims["iat"]
    assert abs(claims["iat"] - utcnow().timestamp()) < 60
    assert claims["audit"]["leafIndex"] is None


def test_a_changed_claim_or_another_key_fails_verification(client, grant):
    _, consent, token = grant()
    receipt = _receipt(client, token, consent["id"])
    published = client.get("/.well-known/jwks.json").json
    claims = _verified(client, receipt)

    assert verified(with_claims(receipt["jws"], {**claims, "status": "revoked"}), published) is None
    assert (
        verified(with_claims(receipt["jws"], {**claims, "purposes": ["HMARKT"]}), published) is None
    )
    foreign = signing.Signer([ECKey.import_key(signing.new_key())])
    assert verified(foreign.sign(claims, typ="consent-receipt+jwt"), published) is None
    # The same kid, another key behind it: a look-alike key set does not vouch for it.
    header_kid = signing.signer().active.kid
    impostor = {"keys": [{**signing.published(foreign.active), "kid": header_kid}]}
    assert verified(receipt["jws"], impostor) is None


def test_every_version_has_its_own_receipt_under_a_stable_id(client, grant):
    _, consent, token = grant()
    url = f"/v1/me/consents/{consent['id']}"
    assert client.patch(url, json={"max_uses": 5}, headers=bearer(token)).status_code == 200
    assert client.post(f"{url}/pause", headers=bearer(token)).status_code == 200

    by_version = {n: _receipt(client, token, consent["id"], version=n) for n in (1, 2, 3)}
    latest = _receipt(client, token, consent["id"])

    assert latest["receipt_id"] == by_version[3]["receipt_id"]
    assert len({r["receipt_id"] for r in by_version.values()}) == 3
    assert (
        _receipt(client, token, consent["id"], version=1)["receipt_id"]
        == (by_version[1]["receipt_id"])
    )
    said = {n: _verified(client, r) for n, r in by_version.items()}
    assert [said[n]["change"] for n in (1, 2, 3)] == ["created", "amended", "paused"]
    assert [said[n]["status"] for n in (1, 2, 3)] == ["active", "active", "paused"]
    assert [said[n]["maxUses"] for n in (1, 2, 3)] == [None, 5, 5]
    assert [said[n]["termsVersion"] for n in (1, 2, 3)] == [1, 2, 2]  # a pause keeps terms


def test_a_revocation_has_a_receipt_and_its_notice_carries_the_id(client, grant):
    _, consent, token = grant()
    device = {"token": f"fcm-{uuid.uuid4().hex}", "platform": "android"}
    assert client.post("/v1/me/devices", json=device, headers=bearer(token)).status_code == 201
    url = f"/v1/me/consents/{consent['id']}/revoke"
    assert client.post(url, json={"reason": "moving"}, headers=bearer(token)).status_code == 200

    receipt = _receipt(client, token, consent["id"])
    claims = _verified(client, receipt)

    assert (claims["change"], claims["status"], claims["consentVersion"]) == (
        "revoked",
        "revoked",
        2,
    )
    assert "moving" not in receipt["jws"] + str(claims)  # the patient's words stay theirs
    notices = client.get("/v1/me/notifications", headers=bearer(token)).json["items"]
    (revoked,) = [n for n in notices if n["type"] == "consent_revoked"]
    assert revoked["data"]["receipt_id"] == receipt["receipt_id"]
    assert revoked["data"]["receipt_ids"] == receipt["receipt_id"]
    recorder = RecordingPushSender()
    run_job_now("drain-outbox", push=recorder)
    (pushed,) = [m for m in recorder.sent if m.data.get("consent_id") == consent["id"]]
    assert pushed.data["receipt_id"] == receipt["receipt_id"]


def test_the_leaf_index_appears_once_sequenced_and_its_proof_holds(client, grant):
    _, consent, token = grant()
    before = _verified(client, _receipt(client, token, consent["id"]))
    entry_id = before["audit"]["entryId"]
    assert before["audit"]["leafIndex"] is None
    answer = client.get(f"/v1/me/audit/{entry_id}/proof", headers=bearer(token))
    assert (answer.status_code, problem_code(answer.json)) == (404, "not_found")

    run_job_now("sequence-audit")

    after = _verified(client, _receipt(client, token, consent["id"]))
    assert after["audit"]["entryId"] == entry_id
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    proof = client.get(f"/v1/me/audit/{entry_id}/proof", headers=bearer(token)).json
    assert proof["leaf_index"] == after["audit"]["leafIndex"]
    assert merkle.verify_inclusion(
        base64.b64decode(proof["leaf_hash"]),
        proof["leaf_index"],
        proof["tree_size"],
        [base64.b64decode(step) for step in proof["path"]],
        base64.b64decode(proof["checkpoint"]["root"]),
    )
    entries = client.get("/v1/me/audit", headers=bearer(token)).json["items"]
    (entry,) = [e for e in entries if e["id"] == entry_id]
    assert entry["subjects"]["consent"] == consent["id"]
    assert entry["payload"]["consent"]["version"] == after["consentVersion"]


def test_versions_and_consents_that_are_not_there_are_refused(client, grant):
    _, consent, token = grant()
    _, theirs, _ = grant()
    url = f"/v1/me/consents/{consent['id']}/receipt"
    for query in ({"version": "2"}, {"version": "2147483647"}):
        answer = client.get(url, query_string=query, headers=bearer(token))
        assert (answer.status_code, problem_code(answer.json)) == (404, "not_found"), query
    for elsewhere in (theirs["id"], str(uuid.uuid4())):
        answer = client.get(f"/v1/me/consents/{elsewhere}/receipt", headers=bearer(token))
        assert (answer.status_code, problem_code(answer.json)) == (404, "not_found")
    for bad in ("0", "-1", "two", "1.5", "99999999999999999999", ""):
        answer = client.get(url, query_string={"version": bad}, headers=bearer(token))
        assert (answer.status_code, problem_code(answer.json)) == (422, "validation_failed"), bad
        assert "version" in answer.json["errors"], bad
    answer = client.get(url, query_string={"versions": "1"}, headers=bearer(token))
    assert answer.status_code == 422


def test_the_organisation_named_reads_its_receipts_as_it_knows_the_consent(
    client, grant, hospital, hospital_token
):
    patient, consent, token = grant(grantee={"org_id": str(hospital.org.id)})
    url = f"/v1/me/consents/{consent['id']}"
    assert client.patch(url, json={"max_uses": 5}, headers=bearer(token)).status_code == 200
    mine = _verified(client, _receipt(client, token, consent["id"], version=1))
    held = shown(hospital_token, consent["id"])

    receipt = _receipt(client, hospital_token, held, mine=False, version=1)
    claims = _verified(client, receipt)
    latest = _verified(client, _receipt(client, hospital_token, held, mine=False))

    assert receipt["consent_id"] == claims["consentId"] == held
    assert claims["piiPrincipalId"] == claims["sub"] == ref(hospital_token, patient)
    assert str(patient.id) not in receipt["jws"] + str(receipt)
    assert consent["id"] not in str(claims)
    assert claims["audit"] == mine["audit"]  # the consent names it alone
    assert receipt["receipt_id"] != mine["consentReceiptID"]
    same = ("dataCategories", "purposes", "actions", "validity", "status", "recipient")
    assert {k: claims[k] for k in same} == {k: mine[k] for k in same}
    assert (latest["consentVersion"], latest["maxUses"]) == (2, 5)


def test_a_type_wide_consent_shows_each_organisation_its_own_receipt(
    client, grant, hospital, hospital_token, org_credentials, token_for
):
    rival = org_credentials("hospital")
    rival_token = token_for(registration=rival)
    _, consent, _ = grant(
        exclusions=[{"org_ids": [str(rival.org.id)]}, {"data_categories": ["imaging"]}]
    )

    ours = _verified(
        client, _receipt(client, hospital_token, shown(hospital_token, consent["id"]), mine=False)
    )
    theirs = _verified(
        client, _receipt(client, rival_token, shown(rival_token, consent["id"]), mine=False)
    )

    assert ours["consentReceiptID"] != theirs["consentReceiptID"]
    assert ours["piiPrincipalId"] != theirs["piiPrincipalId"]
    assert ours["audit"] is theirs["audit"] is None  # a shared entry id would join them
    assert ours["exclusions"] == [{"data_categories": ["imaging"], "purposes": [], "org_ids": []}]
    assert str(rival.org.id) not in str(ours)
    assert ours["recipient"] == {"orgId": None, "orgType": "hospital", "name": "every hospital"}


def test_an_organisation_reads_no_receipt_of_a_consent_it_does_not_hold(
    client, grant, hospital, hospital_token, org_credentials, token_for
):
    other = org_credentials("hospital")
    pharma_token = token_for("pharma")
    _, named, _ = grant(grantee={"org_id": str(other.org.id)})
    _, to_pharma, _ = grant(grantee={"org_type": "pharma"})
    for consent_id in (
        shown(hospital_token, named["id"]),  # names another hospital
        shown(hospital_token, to_pharma["id"]),  # names another type
        shown(pharma_token, to_pharma["id"]),  # an id shown to another organisation
        to_pharma["id"],  # the internal id
    ):
        answer = client.get(f"/v1/consents/{consent_id}/receipt", headers=bearer(hospital_token))
        assert (answer.status_code, problem_code(answer.json)) == (404, "not_found")
    held = shown(pharma_token, to_pharma["id"])
    answer = client.get(
        f"/v1/consents/{held}/receipt", query_string={"version": "9"}, headers=bearer(pharma_token)
    )
    assert (answer.status_code, problem_code(answer.json)) == (404, "not_found")


def test_the_controller_and_jurisdiction_come_from_the_settings(app, client, grant, monkeypatch):
    monkeypatch.setitem(app.config, "TRUSTEE_NAME", "Health Data Trust NL")
    monkeypatch.setitem(app.config, "JURISDICTION", "NL")
    monkeypatch.setitem(app.config, "PRIVACY_POLICY_URL", "https://trust.example/privacy")
    _, consent, token = grant()

    claims = _verified(client, _receipt(client, token, consent["id"]))

    assert claims["piiControllers"] == [
        {"piiController": "Health Data Trust NL", "piiControllerUrl": "http://localhost"}
    ]
    assert (claims["jurisdiction"], claims["policyUrl"]) == ("NL", "https://trust.example/privacy")


def test_a_version_kept_in_an_older_shape_still_has_its_receipt(client, grant, hospital):
    _, consent, token = grant(grantee={"org_id": str(hospital.org.id)})
    kept = db.session.get(ConsentVersion, (uuid.UUID(consent["id"]), 1))
    older = {k: v for k, v in kept.snapshot.items() if k not in ("fee_per_use", "data_period")}
    kept.snapshot = {**older, "grantee": {**older["grantee"], "org_type": None}}
    db.session.flush()

    claims = _verified(client, _receipt(client, token, consent["id"]))

    assert claims["recipient"] == {
        "orgId": str(hospital.org.id),
        "orgType": "hospital",
        "name": "St Mary's",
    }
    assert (claims["feePerUse"], claims["dataPeriod"]) == (0, None)


def test_an_expiry_has_a_receipt_and_its_notice_carries_the_id(client, grant):
    _, consent, token = grant(valid_until=(utcnow() + timedelta(days=1)).isoformat())
    db.session.get(Consent, uuid.UUID(consent["id"])).valid_until = utcnow() - timedelta(seconds=1)
    assert run_job_now("expire-consents") == 1

    receipt = _receipt(client, token, consent["id"])
    claims = _verified(client, receipt)

    assert (claims["change"], claims["status"], claims["termsVersion"]) == ("expired", "expired", 1)
    assert claims["collectionMethod"] == "ended by the service at the end of its validity"
    notices = client.get("/v1/me/notifications", headers=bearer(token)).json["items"]
    (expired,) = [n for n in notices if n["type"] == "consent_expired"]
    assert expired["data"]["receipt_id"] == receipt["receipt_id"]


def test_after_erasure_the_organisation_still_reads_the_receipts(
    client, grant, hospital, hospital_token
):
    _, consent, token = grant(grantee={"org_id": str(hospital.org.id)})
    before = _verified(client, _receipt(client, token, consent["id"]))
    assert client.delete("/v1/me", headers=bearer(token)).status_code == 204
    held = shown(hospital_token, consent["id"])

    last = _verified(client, _receipt(client, hospital_token, held, mine=False))
    first = _verified(client, _receipt(client, hospital_token, held, mine=False, version=1))

    assert (last["change"], last["status"], last["consentVersion"]) == ("revoked", "revoked", 2)
    assert last["audit"]["entryId"] not in (None, before["audit"]["entryId"])
    assert first["audit"] == before["audit"]  # the entries outlive the patient's key
    answer = client.get(f"/v1/me/consents/{consent['id']}/receipt", headers=bearer(token))
    assert answer.status_code == 401


def test_a_receipt_kept_from_before_a_rotation_still_verifies(app, client, grant, monkeypatch):
    _, consent, token = grant()
    kept = _receipt(client, token, consent["id"])
    old = signing.signer()
    rotated = signing.Signer([ECKey.import_key(signing.new_key()), *old.keys])
    monkeypatch.setitem(app.extensions, "signer", rotated)

    again = _receipt(client, token, consent["id"])

    assert _verified(client, kept) == _verified(client, again)
    header, _ = verified(again["jws"], client.get("/.well-known/jwks.json").json)
    assert header["kid"] == rotated.active.kid != old.active.kid
    assert again["receipt_id"] == kept["receipt_id"]
