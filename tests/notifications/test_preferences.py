"""Notification preferences: quiet hours and daily digests, in the patient's time zone."""

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from notifications.models import Device, Notification, OutboxMessage
from notifications.preferences import Preferences, next_digest, quiet_until
from server.db import db, utcnow
from tests.conftest import bearer, ref, report, use_body
from tests.support import run_job_now

PARIS = "Europe/Paris"
# hypothesis takes naive bounds and attaches the time zone itself
NAIVE_START = datetime(2020, 1, 1)  # noqa: DTZ001
NAIVE_END = datetime(2035, 1, 1)  # noqa: DTZ001


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_quiet_hours_across_midnight_end_at_the_local_morning():
    prefs = Preferences(quiet_start=time(22), quiet_end=time(7), time_zone=PARIS)
    # 23:30 in Paris (winter, UTC+1) is quiet until 07:00 Paris = 06:00 UTC next day.
    assert quiet_until(at("2026-01-10T22:30:00+00:00"), prefs) == at("2026-01-11T06:00:00+00:00")
    assert quiet_until(at("2026-01-11T05:00:00+00:00"), prefs) == at("2026-01-11T06:00:00+00:00")
    assert quiet_until(at("2026-01-11T06:00:00+00:00"), prefs) is None
    assert quiet_until(at("2026-01-11T12:00:00+00:00"), prefs) is None


def test_quiet_hours_follow_daylight_saving_time():
    prefs = Preferences(quiet_start=time(22), quiet_end=time(7), time_zone=PARIS)
    # Summer: Paris is UTC+2, so 07:00 local is 05:00 UTC.
    assert quiet_until(at("2026-07-10T21:00:00+00:00"), prefs) == at("2026-07-11T05:00:00+00:00")


def test_quiet_hours_within_a_day_and_none_when_start_equals_end():
    daytime = Preferences(quiet_start=time(13), quiet_end=time(14), time_zone="UTC")
    assert quiet_until(at("2026-03-01T13:30:00+00:00"), daytime) == at("2026-03-01T14:00:00+00:00")
    assert quiet_until(at("2026-03-01T12:59:00+00:00"), daytime) is None
    same = Preferences(quiet_start=time(9), quiet_end=time(9))
    assert quiet_until(at("2026-03-01T09:00:00+00:00"), same) is None


@given(
    moment=st.datetimes(
        min_value=NAIVE_START,
        max_value=NAIVE_END,
        timezones=st.just(UTC),
    ),
    start=st.times(),
    end=st.times(),
    zone=st.sampled_from(["UTC", PARIS, "America/New_York", "Asia/Kolkata", "Australia/Sydney"]),
)
def test_quiet_hours_always_end_after_now_within_a_day(moment, start, end, zone):
    prefs = Preferences(quiet_start=start, quiet_end=end, time_zone=zone)
    until = quiet_until(moment, prefs)
    if until is not None:
        assert moment < until <= moment + timedelta(hours=25)


@given(
    moment=st.datetimes(
        min_value=NAIVE_START,
        max_value=NAIVE_END,
        timezones=st.just(UTC),
    ),
    clock=st.times(),
    zone=st.sampled_from(["UTC", PARIS, "America/New_York", "Pacific/Chatham"]),
)
def test_the_next_digest_is_strictly_later_and_within_a_day(moment, clock, zone):
    following = next_digest(moment, Preferences(digest_time=clock, time_zone=zone))
    assert moment < following <= moment + timedelta(hours=26)


@pytest.fixture
def phone(patient):
    device = Device(patient_id=patient.id, token="phone", platform="android")
    db.session.add(device)
    db.session.flush()
    return device


def _put(client, token, **body):
    return client.put(
        "/v1/me/notification-preferences",
        json={"data_uses": "immediate", **body},
        headers=bearer(token),
    )


def test_defaults_then_a_full_replacement(client, patient_token):
    got = client.get("/v1/me/notification-preferences", headers=bearer(patient_token)).json
    assert got == {
        "data_uses": "immediate",
        "digest_time": "08:00:00",
        "quiet_hours": None,
        "time_zone": "UTC",
        "next_digest_at": None,
    }
    put = _put(
        client,
        patient_token,
        data_uses="daily_digest",
        digest_time="19:30",
        quiet_hours={"start": "22:00", "end": "07:00"},
        time_zone=PARIS,
    )
    assert put.status_code == 200, put.json
    assert put.json["quiet_hours"] == {"start": "22:00:00", "end": "07:00:00"}
    assert put.json["next_digest_at"] is not None
    assert (
        client.get("/v1/me/notification-preferences", headers=bearer(patient_token)).json
        == put.json
    )


def test_bad_preferences_name_the_field(client, patient_token):
    response = _put(client, patient_token, data_uses="hourly", time_zone="Mars/Olympus")
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"data_uses", "time_zone"}


def _pushes():
    return db.session.execute(
        select(Notification.type, OutboxMessage.next_attempt_at).join(
            OutboxMessage, OutboxMessage.notification_id == Notification.id
        )
    ).all()


def test_routine_uses_wait_out_the_quiet_hours_but_alerts_do_not(
    client, patient, patient_token, phone, hospital_token, grant
):
    now = utcnow()
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    assert _put(client, patient_token, quiet_hours=quiet).status_code == 200
    _, _, _ = grant(patient=patient)
    report(client, hospital_token, use_body(ref(hospital_token, patient)))
    report(
        client, hospital_token, use_body(ref(hospital_token, patient), purpose="HMARKT")
    )  # refused: an alert

    due = dict(_pushes())
    assert due["data_use"] > now + timedelta(hours=1)
    assert due["access_refused"] <= utcnow()


def test_a_daily_digest_keeps_routine_uses_off_the_phone_and_sums_them_up(
    client, patient, patient_token, phone, hospital_token, grant
):
    assert _put(client, patient_token, data_uses="daily_digest").status_code == 200
    grant(patient=patient)
    for _ in range(3):
        assert (
            report(client, hospital_token, use_body(ref(hospital_token, patient))).status_code
            == 201
        )
    inbox = client.get("/v1/me/notifications", headers=bearer(patient_token)).json
    assert [n["type"] for n in inbox["items"]].count("data_use") == 3  # all in the inbox
    assert [t for t, _ in _pushes() if t == "data_use"] == []  # none pushed one by one

    assert run_job_now("send-digests") == 0  # not due yet
    from notifications.models import NotificationPreferences

    db.session.get(NotificationPreferences, patient.id).next_digest_at = utcnow()
    assert run_job_now("send-digests") == 1
    digest = db.session.scalars(
        select(Notification).where(Notification.type == "data_use_digest")
    ).one()
    assert digest.title.startswith("3 uses of your data since")
    assert "St Mary's" in digest.body
    assert [t for t, _ in _pushes()].count("data_use_digest") == 1
    assert db.session.get(NotificationPreferences, patient.id).next_digest_at > utcnow()


def test_a_time_zone_folder_is_not_a_time_zone(client, patient_token):
    response = client.put(
        "/v1/me/notification-preferences",
        json={"data_uses": "immediate", "time_zone": "America"},
        headers=bearer(patient_token),
    )
    assert response.status_code == 422
    assert "time_zone" in response.json["errors"]
