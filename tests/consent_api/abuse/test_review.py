"""The operator's review of incidents and of the rules (issue 16): acknowledge, dismiss with
a note, escalate (and suspend); bad input is a 4xx problem that changes nothing; every
incident, decision, suspension and rule change is in the audit log; the organisation is told
through its events."""

from __future__ import annotations

import uuid

import pytest

from consent_api.abuse.models import Incident
from consent_api.audit import entries
from consent_api.audit.models import AuditEntry
from server.db import db
from tests.conftest import bearer, ref, report, use_body
from tests.consent_api.abuse.test_rules_fire import incidents, scan, set_rule
from tests.consent_api.webhooks.test_event_feed import events, publish
from tests.factories import PatientFactory


@pytest.fixture
def probed(client, admin_token, token_for):
    """An incident: a data user probed three patients who never consented."""
    set_rule(client, admin_token, "refusals", thresholds={"min_refused": 3})
    pharma = token_for("pharma")
    for _ in range(3):
        report(client, pharma, use_body(ref(pharma, PatientFactory())))
    scan()
    (incident,) = incidents(client, admin_token)
    return incident, pharma


def act(client, admin_token, incident, action, body=None):
    return client.post(
        f"/v1/admin/incidents/{incident['id']}/{action}", json=body, headers=bearer(admin_token)
    )


def audited(client, admin_token, kind) -> list[dict]:
    answer = client.get("/v1/admin/audit", query_string={"kind": kind}, headers=bearer(admin_token))
    assert answer.status_code == 200, answer.json
    return answer.json["items"]


def payload(entry) -> dict:
    return entries.open_unsealed(db.session.get(AuditEntry, uuid.UUID(entry["id"])).payload).payload


def test_acknowledge_then_dismiss_with_a_note(client, admin_token, probed):
    incident, pharma = probed
    acknowledged = act(client, admin_token, incident, "acknowledge")
    assert acknowledged.status_code == 200
    assert acknowledged.json["state"] == "acknowledged"
    assert act(client, admin_token, incident, "acknowledge").json["state"] == "acknowledged"

    dismissed = act(client, admin_token, incident, "dismiss", {"note": "A test run."})
    assert dismissed.status_code == 200
    assert dismissed.json["state"] == "dismissed"
    assert dismissed.json["note"] == "A test run."
    assert dismissed.json["decided_at"]

    again = act(client, admin_token, incident, "escalate", {"suspend": True})
    assert again.status_code == 409
    assert again.json["code"] == "incident_closed"
    assert client.get("/v1/org", headers=bearer(pharma)).status_code == 200  # not suspended

    # Audited: opened by the system, each decision by the operator.
    (opened,) = audited(client, admin_token, "incident.opened")
    assert opened["actor"]["type"] == "system"
    assert payload(opened)["incident"]["rule"] == "refusals"
    (ack,) = audited(client, admin_token, "incident.acknowledged")
    (dismissal,) = audited(client, admin_token, "incident.dismissed")
    assert ack["actor"]["type"] == dismissal["actor"]["type"] == "operator"
    assert payload(dismissal)["note"] == "A test run."

    # The organisation hears of it opening and closing.
    publish()
    told = [(e["type"], e["data"]["incident"]["state"]) for e in events(client, pharma)]
    assert told == [("org.incident_opened", "open"), ("org.incident_closed", "dismissed")]


def test_a_dismissed_pattern_is_not_raised_again_for_the_same_window(client, admin_token, probed):
    incident, pharma = probed
    act(client, admin_token, incident, "dismiss", {"note": "Expected."})
    report(client, pharma, use_body(ref(pharma, PatientFactory())))
    scan()
    assert [i["id"] for i in incidents(client, admin_token)] == [incident["id"]]


def test_escalating_with_suspend_blacklists_the_organisation_with_the_note(
    client, admin_token, probed
):
    incident, pharma = probed
    escalated = act(
        client, admin_token, incident, "escalate", {"note": "Probing.", "suspend": True}
    )
    assert escalated.status_code == 200, escalated.json
    assert escalated.json["state"] == "escalated"
    assert escalated.json["org"]["status"] == "suspended"
    refused = client.get("/v1/org", headers=bearer(pharma))
    assert (refused.status_code, refused.json["code"], refused.json["reason"]) == (
        403,
        "org_suspended",
        "Probing.",
    )
    (suspension,) = audited(client, admin_token, "org.suspended")
    assert suspension["actor"]["type"] == "operator"
    assert payload(suspension)["reason"] == "Probing."


def test_dismissing_can_reinstate_an_organisation_a_rule_suspended(
    client, admin_token, grant, hospital_token
):
    set_rule(client, admin_token, "breadth", thresholds={"new_patients": 1})
    for _ in range(2):
        report(client, hospital_token, use_body(ref(hospital_token, grant()[0])))
    scan()
    (incident,) = incidents(client, admin_token)
    assert incident["suspended_org"]
    (suspension,) = audited(client, admin_token, "org.suspended")
    assert suspension["actor"] == {"type": "system", "id": None}
    assert suspension["subjects"]["incident"] == incident["id"]

    act(client, admin_token, incident, "dismiss", {"note": "A migration.", "resume_org": True})
    assert client.get("/v1/org", headers=bearer(hospital_token)).status_code == 200


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("dismiss", {}, "note"),
        ("dismiss", {"note": ""}, "note"),
        ("dismiss", {"note": "x", "resume_org": "yes"}, "resume_org"),
        ("dismiss", {"note": "x", "extra": 1}, "extra"),
        ("escalate", {"suspend": 1}, "suspend"),
        ("escalate", {"note": "x" * 2001}, "note"),
    ],
)
def test_bad_decisions_are_422_naming_the_field_and_change_nothing(
    client, admin_token, probed, action, body, field
):
    incident, pharma = probed
    answer = act(client, admin_token, incident, action, body)
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    assert field in answer.json["errors"]
    db.session.expire_all()
    assert db.session.get(Incident, uuid.UUID(incident["id"])).state == "open"
    assert client.get("/v1/org", headers=bearer(pharma)).status_code == 200


def test_unknown_incidents_are_404(client, admin_token):
    for action in ("acknowledge", "dismiss", "escalate"):
        answer = act(client, admin_token, {"id": str(uuid.uuid4())}, action, {"note": "x"})
        assert (answer.status_code, answer.json["code"]) == (404, "not_found")
    answer = client.get(f"/v1/admin/incidents/{uuid.uuid4()}", headers=bearer(admin_token))
    assert answer.status_code == 404


def test_the_queue_filters_and_pages(client, admin_token, probed, token_for):
    incident, _ = probed
    assert [i["id"] for i in incidents(client, admin_token, state="open")] == [incident["id"]]
    assert incidents(client, admin_token, state="dismissed") == []
    assert incidents(client, admin_token, rule="burst") == []
    answer = client.get(
        "/v1/admin/incidents", query_string={"state": "closed"}, headers=bearer(admin_token)
    )
    assert answer.status_code == 422
    assert "state" in answer.json["errors"]


def test_rules_are_listed_with_their_defaults(client, admin_token):
    answer = client.get("/v1/admin/abuse-rules", headers=bearer(admin_token))
    assert answer.status_code == 200
    rules = {r["rule"]: r for r in answer.json["items"]}
    assert list(rules) == ["burst", "volume", "refusals", "emergency", "breadth"]
    assert rules["breadth"]["auto_suspend"] is True
    assert rules["burst"]["thresholds"] == rules["burst"]["defaults"]


def test_changing_a_rule_keeps_what_is_left_out_and_is_audited(client, admin_token):
    set_rule(client, admin_token, "volume", thresholds={"factor": 8})
    changed = set_rule(client, admin_token, "volume", severity="high", auto_suspend=True)
    assert changed["thresholds"]["factor"] == 8
    assert changed["thresholds"]["floor"] == changed["defaults"]["floor"]
    assert (changed["severity"], changed["auto_suspend"]) == ("high", True)
    kept = audited(client, admin_token, "abuse_rule.changed")
    assert [payload(e)["severity"] for e in kept] == ["high", "medium"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_schema"),
        ({"thresholds": {"max_events": 0}}, "thresholds"),
        ({"thresholds": {"max_events": "3"}}, "thresholds"),
        ({"thresholds": {"max_events": 2.5}}, "thresholds"),
        ({"thresholds": {"floor": 3}}, "thresholds"),  # not a threshold of burst
        ({"thresholds": [1]}, "thresholds"),
        ({"enabled": "no"}, "enabled"),
        ({"severity": "critical"}, "severity"),
        ({"window_minutes": 5}, "window_minutes"),
    ],
)
def test_bad_rule_changes_are_422_and_change_nothing(client, admin_token, body, field):
    answer = client.patch("/v1/admin/abuse-rules/burst", json=body, headers=bearer(admin_token))
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]
    rule = client.get("/v1/admin/abuse-rules/burst", headers=bearer(admin_token)).json
    assert rule["thresholds"] == rule["defaults"]
    assert audited(client, admin_token, "abuse_rule.changed") == []


def test_an_unknown_rule_is_404(client, admin_token):
    for answer in (
        client.get("/v1/admin/abuse-rules/scraping", headers=bearer(admin_token)),
        client.patch(
            "/v1/admin/abuse-rules/scraping", json={"enabled": False}, headers=bearer(admin_token)
        ),
    ):
        assert (answer.status_code, answer.json["code"]) == (404, "not_found")
