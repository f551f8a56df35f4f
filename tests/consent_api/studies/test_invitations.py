"""A study's invitations (issue 14): the worker invites the patients whose research
preferences accept an approved study, in its dates, within each patient's cap and a bounded
rate; patients answer them as any request; the sponsor sees only suppressed counts."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from consent_api.requests.models import ConsentRequest
from consent_api.research.studies import Study
from server.db import db, utcnow
from tests.conftest import bearer, ref
from tests.consent_api.studies.test_studies_routes import study_body
from tests.support import run_job_now


def _invite() -> int:
    return run_job_now("invite-to-studies")


def _mine(client, token) -> list[dict]:
    return client.get("/v1/me/consent-requests", headers=bearer(token)).json["items"]


def _counts(client, token, study) -> dict:
    shown = client.get(f"/v1/studies/{study['id']}", headers=bearer(token)).json["invitations"]
    return {name: count["count"] for name, count in shown.items()}


def test_an_approved_study_invites_the_patients_whose_preferences_accept_it(
    client, opted_in, approved_study, pharma_token
):
    [(_, token)] = opted_in()
    refusing = [
        *opted_in(opted_in=False),
        *opted_in(purposes=["PUBHLTH"]),  # another purpose
        *opted_in(data_categories=["lab_results"], purposes=["HRESCH"]),  # not medications
        *opted_in(org_types=["research"]),  # not from pharma
    ]
    study = approved_study(data_categories=["lab_results", "medications"])

    assert _invite() == 1

    [invitation] = _mine(client, token)
    assert invitation["status"] == "pending"
    assert invitation["study"] == {
        "id": study["id"],
        "title": study["title"],
        "description": study["description"],
        "purpose": "HRESCH",
        "ethics_reference": study["ethics_reference"],
        "starts_on": study["starts_on"],
        "ends_on": study["ends_on"],
    }
    assert (invitation["purposes"], invitation["data_categories"]) == (
        ["HRESCH"],
        ["lab_results", "medications"],
    )
    assert invitation["fee_per_use"] == study["fee_per_use"]
    assert invitation["valid_until"].startswith(study["ends_on"])  # the consent ends with it
    assert invitation["justification"] == study["description"]
    for _, other in refusing:
        assert _mine(client, other) == []
    # The sponsor never sees the invitation, nor whom it went to.
    own = client.get("/v1/consent-requests", headers=bearer(pharma_token)).json["items"]
    assert own == []
    hidden = client.get(f"/v1/consent-requests/{invitation['id']}", headers=bearer(pharma_token))
    assert hidden.status_code == 404
    withdrawn = client.post(
        f"/v1/consent-requests/{invitation['id']}/withdraw", headers=bearer(pharma_token)
    )
    assert withdrawn.status_code == 404
    # Once invited to a study is once: the next run finds nobody new.
    assert _invite() == 0
    assert len(_mine(client, token)) == 1


def test_the_patient_is_told_in_their_inbox_and_on_their_phone(client, opted_in, approved_study):
    [(_, token)] = opted_in()
    device = client.post(
        "/v1/me/devices", json={"token": "phone-1", "platform": "android"}, headers=bearer(token)
    )
    assert device.status_code == 201, device.json
    study = approved_study()

    assert _invite() == 1

    [notice] = client.get("/v1/me/notifications", headers=bearer(token)).json["items"]
    [invitation] = _mine(client, token)
    assert notice["type"] == "consent_request_received"
    assert notice["title"].endswith("invites you to a study")
    assert notice["body"].startswith(f"{study['title']}: ")
    assert notice["data"]["request_id"] == invitation["id"]
    assert notice["data"]["study_id"] == study["id"]
    pushed = run_job_now("drain-outbox")
    assert pushed.get("sent") == 1, pushed


def test_no_invitations_before_approval_or_outside_the_studys_dates(
    client, opted_in, approved_study, pharma_token
):
    [(_, token)] = opted_in(max_invitations_per_month=30)
    submitted = client.post("/v1/studies", json=study_body(), headers=bearer(pharma_token))
    assert submitted.status_code == 201
    today = utcnow().date()
    approved_study(starts_on=(today + timedelta(days=1)).isoformat())  # not begun
    ending = approved_study()
    db.session.execute(
        update(Study)
        .where(Study.id == uuid.UUID(ending["id"]))
        .values(starts_on=today - timedelta(days=30), ends_on=today)
    )

    assert _invite() == 0
    assert _mine(client, token) == []


def test_an_ended_study_cannot_be_approved(client, pharma_token, admin_token):
    made = client.post("/v1/studies", json=study_body(), headers=bearer(pharma_token)).json
    db.session.execute(
        update(Study)
        .where(Study.id == uuid.UUID(made["id"]))
        .values(starts_on=utcnow().date() - timedelta(days=30), ends_on=utcnow().date())
    )
    answer = client.post(f"/v1/admin/studies/{made['id']}/approve", headers=bearer(admin_token))
    assert (answer.status_code, answer.json["code"]) == (409, "study_ended")
    assert client.get(f"/v1/studies/{made['id']}", headers=bearer(pharma_token)).json["status"] == (
        "submitted"
    )


def test_each_patient_gets_at_most_their_cap_in_any_thirty_days(client, opted_in, approved_study):
    [(_, one)] = opted_in(max_invitations_per_month=1)
    [(_, two)] = opted_in(max_invitations_per_month=2)
    for number in range(3):
        approved_study(title=f"Study {number}")

    assert _invite() == 3  # one for the first patient, two for the second
    assert (len(_mine(client, one)), len(_mine(client, two))) == (1, 2)
    assert _invite() == 0

    # Thirty-one days later, the first invitation no longer counts against the cap.
    first = _mine(client, one)[0]
    db.session.execute(
        update(ConsentRequest)
        .where(ConsentRequest.id == uuid.UUID(first["id"]))
        .values(created_at=utcnow() - timedelta(days=31))
    )
    assert _invite() == 1
    assert len(_mine(client, one)) == 2


def test_opting_out_stops_invitations(client, opted_in, approved_study):
    [(_, token)] = opted_in()
    answer = client.put(
        "/v1/me/research-preferences", json={"opted_in": False}, headers=bearer(token)
    )
    assert answer.json["opted_in"] is False
    approved_study()
    assert _invite() == 0
    assert _mine(client, token) == []


def test_an_erased_patient_is_invited_to_nothing(client, opted_in, approved_study):
    [(someone, token)] = opted_in()
    assert client.delete("/v1/me", headers=bearer(token)).status_code == 204
    approved_study()
    assert _invite() == 0
    invited = db.session.scalar(select(func.count()).where(ConsentRequest.patient_id == someone.id))
    assert invited == 0


def test_each_run_files_at_most_the_rate_times_the_interval(
    client, opted_in, approved_study, monkeypatch
):
    opted_in(5)
    approved_study()
    monkeypatch.setitem(current_app.config, "STUDY_INVITATIONS_PER_SECOND", 1)
    monkeypatch.setitem(current_app.config, "STUDY_FANOUT_SECONDS", 3)
    assert [_invite(), _invite(), _invite()] == [3, 2, 0]


def test_a_study_keeps_a_bounded_number_of_invitations_open_per_place(
    client, opted_in, approved_study, monkeypatch
):
    patients = opted_in(6)
    approved_study(recruitment_target=1)
    monkeypatch.setitem(current_app.config, "STUDY_INVITATIONS_PER_PLACE", 2)

    assert _invite() == 2
    assert _invite() == 0  # two open for the one place
    invited = [(someone, token) for someone, token in patients if _mine(client, token)]
    first, second = invited
    denial = client.post(
        f"/v1/me/consent-requests/{_mine(client, first[1])[0]['id']}/deny",
        headers=bearer(first[1]),
    )
    assert denial.status_code == 200
    assert _invite() == 1  # room for one more
    approval = client.post(
        f"/v1/me/consent-requests/{_mine(client, second[1])[0]['id']}/approve",
        headers=bearer(second[1]),
    )
    assert approval.status_code == 201, approval.json
    assert _invite() == 0  # the place is filled: nobody else is asked


def test_the_sponsor_sees_counts_suppressed_below_eleven_and_rounded_to_five(
    client, opted_in, approved_study, pharma_token
):
    patients = opted_in(13)
    study = approved_study()
    assert _counts(client, pharma_token, study) == dict.fromkeys(
        ("invited", "seen", "approved", "denied", "lapsed")
    )

    assert _invite() == 13
    counts = client.get(f"/v1/studies/{study['id']}", headers=bearer(pharma_token)).json
    assert counts["invitations"]["invited"] == {"count": 15, "below": None}  # 13, to the 5
    assert counts["invitations"]["seen"] == {"count": None, "below": 11}

    approvers, (_, denier), (idler, _) = patients[:11], patients[11], patients[12]
    for _, token in approvers:
        [invitation] = _mine(client, token)  # reading it marks it seen
        answer = client.post(
            f"/v1/me/consent-requests/{invitation['id']}/approve", headers=bearer(token)
        )
        assert answer.status_code == 201, answer.json
    [invitation] = _mine(client, denier)
    client.post(f"/v1/me/consent-requests/{invitation['id']}/deny", headers=bearer(denier))
    # The thirteenth never opened theirs, and let it lapse.
    db.session.execute(
        update(ConsentRequest)
        .where(ConsentRequest.patient_id == idler.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )

    assert _counts(client, pharma_token, study) == {
        "invited": 15,  # 13, 12 and 11, each to the nearest 5: never subtracted into 1
        "seen": 10,
        "approved": 10,
        "denied": None,  # one: fewer than 11
        "lapsed": None,
    }
    listed = client.get("/v1/studies", headers=bearer(pharma_token)).json["items"]
    assert listed[0]["invitations"]["approved"] == {"count": 10, "below": None}


def test_an_approved_invitation_reaches_the_sponsor_as_a_consent_by_its_own_reference(
    client, opted_in, approved_study, pharma_token
):
    [(someone, token)] = opted_in()
    approved_study()
    _invite()
    [invitation] = _mine(client, token)
    approved = client.post(
        f"/v1/me/consent-requests/{invitation['id']}/approve",
        json={"data_categories": ["lab_results"]},  # narrowed
        headers=bearer(token),
    )
    assert approved.status_code == 201, approved.json

    held = client.get("/v1/consents", headers=bearer(pharma_token)).json["items"]
    [consent] = held
    assert consent["data_categories"] == ["lab_results"]
    assert "patient_id" not in consent
    assert consent["patient_ref"] == ref(pharma_token, someone)


def test_a_denial_or_a_lapse_tells_the_sponsor_nothing_but_the_count(
    client, opted_in, approved_study, pharma_token
):
    [(_, denier), (_, idler)] = opted_in(2)
    approved_study()
    _invite()
    [invitation] = _mine(client, denier)
    client.post(
        f"/v1/me/consent-requests/{invitation['id']}/deny",
        json={"reason": "Not now"},
        headers=bearer(denier),
    )
    db.session.execute(
        update(ConsentRequest)
        .where(ConsentRequest.status == "pending")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    assert run_job_now("expire-requests") == 1
    assert _mine(client, idler)[0]["status"] == "expired"
    run_job_now("publish-events")
    events = client.get("/v1/events", headers=bearer(pharma_token)).json["items"]
    assert [event["type"] for event in events] == []


def _invitation(client, token) -> dict:
    [invitation] = _mine(client, token)
    assert invitation["study"] is not None
    return invitation


def test_the_sponsors_feed_never_names_an_invitation(
    client, opted_in, approved_study, pharma_token
):
    """README: the sponsor never sees invitations, only counts and, for a patient who
    approved, the consent it now holds. An approval tells it `consent.granted`; it must not
    also be told `consent_request.approved` with the invitation's id, a request it cannot
    follow (404) or withdraw: the feed (and every webhook) would carry the invitation."""
    [(_, token)] = opted_in()
    approved_study()
    assert run_job_now("invite-to-studies") == 1
    invitation = _invitation(client, token)
    approved = client.post(
        f"/v1/me/consent-requests/{invitation['id']}/approve", headers=bearer(token)
    )
    assert approved.status_code == 201, approved.json
    run_job_now("publish-events")

    events = client.get("/v1/events", headers=bearer(pharma_token)).json["items"]

    assert "consent.granted" in [event["type"] for event in events]
    named = [event for event in events if event["data"].get("request_id") == invitation["id"]]
    assert named == [], named
    # Every request the feed names is one the organisation can follow.
    for event in events:
        if "request_id" in event["data"]:
            followed = client.get(
                f"/v1/consent-requests/{event['data']['request_id']}",
                headers=bearer(pharma_token),
            )
            assert followed.status_code == 200, (event["type"], followed.json)


def test_a_studys_counts_cannot_be_subtracted_into_a_small_exact_number(
    client, opted_in, approved_study, pharma_token
):
    """README: the sponsor sees only the study's counts, each suppressed below 11, so no
    answer singles out a handful of people. Twelve invited and eleven who opened theirs are
    both shown exactly, so the sponsor reads that exactly one patient never opened it."""
    patients = opted_in(12)
    study = approved_study()
    assert run_job_now("invite-to-studies") == 12
    for _, token in patients[:11]:
        _invitation(client, token)  # the patient opens the list: seen

    counts = client.get(f"/v1/studies/{study['id']}", headers=bearer(pharma_token)).json[
        "invitations"
    ]

    shown = {name: count["count"] for name, count in counts.items()}
    assert shown["invited"] is not None  # twelve: shown
    if shown["seen"] is not None:
        unseen = shown["invited"] - shown["seen"]
        assert unseen == 0 or unseen >= 11, f"exactly {unseen} never opened theirs: {shown}"
