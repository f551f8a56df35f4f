"""Abuse detection (issue 16): each rule fires on a synthetic attack, reported through the API
with real tokens and scanned by the worker's job, and stays silent on a benign workload; the
patients concerned are told once per incident, however many uses it counts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from consent_api.abuse.models import FirstTouch, HourlyUses, IncidentPatient
from notifications.models import Notification
from server.db import db, utcnow
from tests.conftest import bearer, ref, report, use_body
from tests.factories import PatientFactory
from tests.support import run_job_now


def scan() -> dict:
    return run_job_now("detect-abuse")


def set_rule(client, admin_token, rule: str, **changes) -> dict:
    response = client.patch(
        f"/v1/admin/abuse-rules/{rule}", json=changes, headers=bearer(admin_token)
    )
    assert response.status_code == 200, response.json
    return response.json


def incidents(client, admin_token, **query) -> list[dict]:
    response = client.get("/v1/admin/incidents", query_string=query, headers=bearer(admin_token))
    assert response.status_code == 200, response.json
    return response.json["items"]


def told(client, patient_token_for, patient) -> list[dict]:
    """The patient's inbox notices of unusual access."""
    inbox = client.get("/v1/me/notifications", headers=bearer(patient_token_for(patient)))
    return [n for n in inbox.json["items"] if n["type"] == "unusual_access"]


def consented(grant, n: int, **overrides) -> list:
    return [grant(**overrides)[0] for _ in range(n)]


def test_burst_fires_on_one_patient_read_over_and_over_and_tells_her_once(
    client, admin_token, grant, hospital_token, patient_token_for
):
    set_rule(client, admin_token, "burst", thresholds={"max_events": 3})
    patient, _, _ = grant()
    other, _, _ = grant()
    for _ in range(4):
        assert (
            report(client, hospital_token, use_body(ref(hospital_token, patient))).status_code
            == 201
        )
    assert report(client, hospital_token, use_body(ref(hospital_token, other))).status_code == 201

    assert scan()["opened"] == 1
    (incident,) = incidents(client, admin_token)
    assert incident["rule"] == "burst"
    assert incident["state"] == "open"
    assert incident["severity"] == "medium"
    assert incident["evidence"]["counts"] == {"events": 4, "max_events": 3}
    assert len(incident["evidence"]["example_use_ids"]) == 4
    assert incident["patients"] == 1
    assert [n["data"]["incident_id"] for n in told(client, patient_token_for, patient)] == [
        incident["id"]
    ]
    assert told(client, patient_token_for, other) == []

    # It goes on: the same incident grows, and she is not told again.
    for _ in range(2):
        report(client, hospital_token, use_body(ref(hospital_token, patient)))
    assert scan()["extended"] == 1
    (grown,) = incidents(client, admin_token)
    assert grown["id"] == incident["id"]
    assert grown["evidence"]["counts"]["events"] == 6
    assert grown["evidence"]["peak"]["events"] == 6
    assert len(told(client, patient_token_for, patient)) == 1


def test_refusals_fire_on_probing_as_a_count_and_as_a_share(
    client, admin_token, token_for, patient_token_for
):
    set_rule(
        client, admin_token, "refusals", thresholds={"min_refused": 3, "min_share_percent": 60}
    )
    pharma = token_for("pharma")
    probed = [PatientFactory() for _ in range(3)]
    for patient in probed:
        assert report(client, pharma, use_body(ref(pharma, patient))).status_code == 403
    assert scan()["opened"] == 1
    (incident,) = incidents(client, admin_token, rule="refusals")
    assert incident["evidence"]["counts"]["refused"] == 3
    assert incident["evidence"]["counts"]["share_percent"] == 100
    assert incident["patients"] == 3
    for patient in probed:
        assert len(told(client, patient_token_for, patient)) == 1


def test_refusals_stay_silent_when_they_are_a_small_share(
    client, admin_token, grant, hospital_token
):
    set_rule(
        client, admin_token, "refusals", thresholds={"min_refused": 3, "min_share_percent": 50}
    )
    for patient in consented(grant, 4):
        for _ in range(2):
            report(client, hospital_token, use_body(ref(hospital_token, patient)))
    for _ in range(3):  # three refused attempts among eleven: 27%
        report(client, hospital_token, use_body(ref(hospital_token, PatientFactory())))
    scan()
    assert incidents(client, admin_token) == []


def _baseline(org_id: uuid.UUID, *, per_hour: int, emergency: int = 0, hours: int = 168) -> None:
    """A week of history, as the worker would have summarised it."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    db.session.add_all(
        HourlyUses(
            org_id=org_id,
            hour=now - timedelta(hours=h),
            uses=per_hour,
            refused=0,
            emergency=emergency,
        )
        for h in range(1, hours + 1)
    )
    db.session.flush()


def test_volume_fires_above_its_own_baseline_and_floor_only(
    client, admin_token, grant, hospital, hospital_token
):
    set_rule(client, admin_token, "volume", thresholds={"factor": 3, "floor": 5})
    _baseline(hospital.org.id, per_hour=4)
    patients = consented(grant, 10)
    for patient in patients:  # ten in an hour: below 3 times 4
        report(client, hospital_token, use_body(ref(hospital_token, patient)))
    scan()
    assert incidents(client, admin_token, rule="volume") == []

    for patient in patients:  # twenty: above it
        report(client, hospital_token, use_body(ref(hospital_token, patient)))
    scan()
    (incident,) = incidents(client, admin_token, rule="volume")
    assert incident["evidence"]["counts"] == {"uses": 20, "baseline": 4.0, "factor": 3, "floor": 5}
    assert incident["patients"] == 10


def test_emergency_fires_on_break_glass_above_its_baseline(
    client, admin_token, hospital, hospital_token, patient_token_for
):
    set_rule(client, admin_token, "emergency", thresholds={"floor": 2, "factor": 3})
    patients = [PatientFactory() for _ in range(3)]
    for patient in patients:  # no consent: emergency treatment access, which they allow
        answer = report(
            client, hospital_token, use_body(ref(hospital_token, patient), purpose="ETREAT")
        )
        assert answer.status_code == 201, answer.json
        assert answer.json["emergency"]
    scan()
    (incident,) = incidents(client, admin_token, rule="emergency")
    assert incident["severity"] == "high"
    assert incident["evidence"]["counts"]["emergency_uses"] == 3
    assert not incident["suspended_org"]  # emergency access never suspends by default
    assert client.get("/v1/org", headers=bearer(hospital_token)).status_code == 200


def test_emergency_stays_silent_within_a_hospitals_usual_break_glass(
    client, admin_token, hospital, hospital_token
):
    set_rule(client, admin_token, "emergency", thresholds={"floor": 2, "factor": 3})
    _baseline(hospital.org.id, per_hour=5, emergency=2)
    for patient in [PatientFactory() for _ in range(4)]:  # 4, not above 3 times 2
        report(client, hospital_token, use_body(ref(hospital_token, patient), purpose="ETREAT"))
    scan()
    assert incidents(client, admin_token, rule="emergency") == []


def test_breadth_fires_on_scraping_and_suspends_the_organisation(
    client, admin_token, grant, hospital, hospital_token, patient_token_for
):
    set_rule(client, admin_token, "breadth", thresholds={"new_patients": 3})
    named = grant(grantee={"org_id": str(hospital.org.id)})
    scraped = [named[0], *consented(grant, 3)]
    for patient in scraped:
        assert (
            report(client, hospital_token, use_body(ref(hospital_token, patient))).status_code
            == 201
        )

    assert scan()["opened"] == 1
    (incident,) = incidents(client, admin_token, rule="breadth")
    assert incident["evidence"]["counts"] == {"new_patients": 4, "limit": 3}
    assert incident["suspended_org"] is True
    assert incident["org"]["status"] == "suspended"

    # The organisation is told why when its token is refused...
    refused = client.get("/v1/org", headers=bearer(hospital_token))
    assert refused.status_code == 403
    assert refused.json["code"] == "org_suspended"
    assert incident["id"] in refused.json["reason"]
    # ...and the patient sees it on the consent naming it (the blacklist).
    consent = client.get(f"/v1/me/consents/{named[1]['id']}", headers=bearer(named[2])).json
    assert consent["grantee"]["suspension"]["reason"] == refused.json["reason"]
    assert consent["grantee"]["suspension"]["suspended_at"] == refused.json["suspended_at"]
    for patient in scraped:
        assert len(told(client, patient_token_for, patient)) == 1


def test_breadth_counts_only_patients_never_touched_nor_linked(
    client, admin_token, grant, hospital, hospital_token
):
    set_rule(client, admin_token, "breadth", thresholds={"new_patients": 3})
    known = consented(grant, 4)
    long_ago = utcnow() - timedelta(days=30)
    db.session.add_all(
        FirstTouch(patient_id=p.id, org_id=hospital.org.id, first_at=long_ago) for p in known
    )
    db.session.flush()
    for patient in [*known, *consented(grant, 2)]:  # two new ones: within the limit
        report(client, hospital_token, use_body(ref(hospital_token, patient)))
    scan()
    assert incidents(client, admin_token) == []
    firsts = db.session.scalars(
        select(FirstTouch.first_at).where(FirstTouch.org_id == hospital.org.id)
    ).all()
    assert len(firsts) == 6  # the scan recorded the new ones, and kept the old first touches


@pytest.mark.parametrize("rule", ["burst", "volume", "refusals", "emergency", "breadth"])
def test_a_disabled_rule_is_silent(client, admin_token, grant, hospital_token, rule):
    for name in ("burst", "volume", "refusals", "emergency", "breadth"):
        set_rule(client, admin_token, name, enabled=name != rule)
    lowest = {
        "burst": {"max_events": 1},
        "volume": {"floor": 1},
        "refusals": {"min_refused": 1, "min_share_percent": 1},
        "emergency": {"floor": 1},
        "breadth": {"new_patients": 1},
    }
    set_rule(client, admin_token, rule, thresholds=lowest[rule])
    for patient in consented(grant, 2):
        for purpose in ("TREAT", "ETREAT"):
            report(client, hospital_token, use_body(ref(hospital_token, patient), purpose=purpose))
    report(client, hospital_token, use_body(ref(hospital_token, PatientFactory())))
    scan()
    assert incidents(client, admin_token, rule=rule) == []
    set_rule(client, admin_token, rule, enabled=True)
    scan()
    raised = incidents(client, admin_token)
    assert raised
    assert {i["rule"] for i in raised} == {rule}


def test_a_benign_hospital_workload_raises_nothing_under_the_defaults(
    client, admin_token, grant, hospital, hospital_token, patient_token_for
):
    """A hospital's day at its usual pace: known patients read a few times each, a couple of
    refusals, one emergency, a few new patients; the worker scans as it goes."""
    _baseline(hospital.org.id, per_hour=150, emergency=1)
    known = consented(grant, 40)
    db.session.add_all(
        FirstTouch(patient_id=p.id, org_id=hospital.org.id, first_at=utcnow() - timedelta(days=9))
        for p in known
    )
    db.session.flush()
    for _ in range(3):
        for patient in known:
            report(client, hospital_token, use_body(ref(hospital_token, patient)))
        scan()
    for patient in consented(grant, 10):  # new admissions
        report(client, hospital_token, use_body(ref(hospital_token, patient)))
    for _ in range(2):
        report(client, hospital_token, use_body(ref(hospital_token, PatientFactory())))
    report(
        client, hospital_token, use_body(ref(hospital_token, PatientFactory()), purpose="ETREAT")
    )
    scan()
    assert incidents(client, admin_token) == []
    assert told(client, patient_token_for, known[0]) == []


def test_the_patient_finds_the_incident_in_her_export_and_erasure_removes_her_from_it(
    client, admin_token, grant, hospital_token, patient_token_for
):
    set_rule(client, admin_token, "burst", thresholds={"max_events": 1})
    patient, _, token = grant()
    for _ in range(2):
        report(client, hospital_token, use_body(ref(hospital_token, patient)))
    scan()
    (incident,) = incidents(client, admin_token)
    export = client.get("/v1/me/export", headers=bearer(token)).json
    assert [(a["incident_id"], a["rule"], a["org_name"]) for a in export["unusual_activity"]] == [
        (incident["id"], "burst", "St Mary's")
    ]

    assert client.delete("/v1/me", headers=bearer(token)).status_code == 204
    assert (
        db.session.scalars(
            select(IncidentPatient).where(IncidentPatient.patient_id == patient.id)
        ).all()
        == []
    )
    # The burst goes on: the incident grows, and nobody is told (she has no inbox now).
    report(client, hospital_token, use_body(ref(hospital_token, patient)))
    assert scan()["extended"] == 1
    assert (
        db.session.scalars(
            select(Notification).where(
                Notification.patient_id == patient.id, Notification.type == "unusual_access"
            )
        ).all()
        == []
    )
