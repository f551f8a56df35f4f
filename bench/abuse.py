"""`abuse-detection`: what the abuse rules cost the data-use path, whether the bench's benign
mix raises anything, and how fast an attack is noticed under load.

It runs on `consent_bench` after the request scenarios, with gunicorn serving it and one real
worker beside the load (`consent-wallet worker`, production settings, pushes only logged):
1. History: the demo hospital is an established one. Its trailing week is written into the
   detector's hourly counts at `HISTORY_PER_HOUR` permitted uses an hour (about 100 a
   second, what the data-use scenario drives it at on a quiet machine), emergency uses in
   the mix's own share, and every patient the sampled bodies name has been touched by it
   before (8 days ago). Nothing else is seeded: the attackers below have none.
2. Throughput, rules off then on, then off and on again (alternating, since the machine is
   noisy): the `data-use` scenario against the same worker, once with the `detect-abuse`
   job pushed out of reach (ABUSE_SCAN_SECONDS a day) and once scanning every 10 s (the
   default). Every job but that one runs in both. Reported as the ratio of the two.
3. Benign: the incidents the runs above raised (the target is none).
4. Latency under load: while the data-use scenario runs, attacker organisations (registered
   through the admin API) attack: one reads `BURSTS` patients, each `BURST_SIZE` times in a
   row (`burst`), and `SCRAPERS` others each read `SCRAPE_SIZE` patients they never touched
   (`breadth`, which suspends). For each incident: from its first abusive use's recording to
   the incident's opening, and for `breadth` to the organisation's suspension.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import requests

from bench.settings import PSEUDONYM_KEY, BenchError
from consent_api.links import refs

PHASE = "abuse-detection"
HISTORY_PER_HOUR = 360_000
BURSTS, BURST_SIZE = 20, 35
SCRAPERS, SCRAPE_SIZE = 5, 220
DETECTED_TIMEOUT = 90.0
TABLES = (
    "abuse_incident_patients",
    "abuse_incidents",
    "abuse_first_touches",
    "abuse_hourly_uses",
    "abuse_scan_state",
    "abuse_rules",
)
OFF = {"ABUSE_SCAN_SECONDS": "86400"}
ON = {"ABUSE_SCAN_SECONDS": "10"}


def hospital_id(connection: psycopg.Connection) -> uuid.UUID:
    row = connection.execute(
        "SELECT id FROM organisations WHERE name = 'St. Demo Hospital'"
    ).fetchone()
    if row is None:
        raise BenchError("the demo hospital is not in the dataset")
    return row[0]


def sampled_patients(connection: psycopg.Connection, bodies: list[dict]) -> list[uuid.UUID]:
    """The patients the data-use bodies name (by the demo hospital's references)."""
    org = hospital_id(connection)
    return sorted(set(refs.decode_with(PSEUDONYM_KEY, org, [b["patient_ref"] for b in bodies])))


def emergency_share(bodies: list[dict]) -> float:
    """The share of the mix's bodies that are emergency treatment (ETREAT)."""
    return sum(1 for b in bodies if b["purpose"] == "ETREAT") / max(len(bodies), 1)


def prepare(
    url: str, patients: list[uuid.UUID], *, now: datetime, emergency: float
) -> dict[str, Any]:
    """Forget earlier runs' incidents and summaries; write the hospital's history: its
    week at the mix's pace and in the mix's proportions (`emergency`: the share of
    emergency uses)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    per_hour_emergency = round(HISTORY_PER_HOUR * emergency)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {', '.join(TABLES)}")
        org = hospital_id(connection)
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO abuse_hourly_uses (org_id, hour, uses, refused, emergency) "
                "VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        org,
                        hour - timedelta(hours=h),
                        HISTORY_PER_HOUR,
                        HISTORY_PER_HOUR // 5,
                        per_hour_emergency,
                    )
                    for h in range(1, 169)
                ],
            )
            cursor.execute(
                "INSERT INTO abuse_first_touches (patient_id, org_id, first_at) "
                "SELECT unnest(%s::uuid[]), %s, %s",
                (patients, org, now - timedelta(days=8)),
            )
            # The detector has summarised the history up to now (the uses table was emptied).
            cursor.execute(
                "INSERT INTO abuse_scan_state (id, rolled_from, rolled_until, touched_until) "
                "VALUES (1, %s, %s, %s)",
                (hour - timedelta(hours=168), hour, now),
            )
    return {
        "history_per_hour": HISTORY_PER_HOUR,
        "history_emergency_per_hour": per_hour_emergency,
        "patients_known": len(patients),
    }


def incidents(url: str, since: datetime) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT i.rule, i.org_id, o.name, i.first_seen_at, i.opened_at, o.suspended_at, "
            "i.suspended_org, i.evidence FROM abuse_incidents i "
            "JOIN organisations o ON o.id = i.org_id WHERE i.opened_at >= %s",
            (since,),
        ).fetchall()
    keys = ("rule", "org_id", "org", "first_seen_at", "opened_at", "suspended_at", "suspended")
    return [dict(zip((*keys, "evidence"), row, strict=True)) for row in rows]


class Attacker:
    """An organisation registered for the attack, with a token."""

    def __init__(self, base_url: str, admin_token: str, name: str, org_type: str) -> None:
        self.base_url = base_url
        created = requests.post(
            f"{base_url}/v1/admin/orgs",
            json={"name": name, "type": org_type},
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=30,
        )
        if created.status_code != 201:
            raise BenchError(f"registering {name}: {created.status_code} {created.text[:200]}")
        self.id = uuid.UUID(created.json()["id"])
        token = requests.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(created.json()["client_id"], created.json()["client_secret"]),
            timeout=30,
        )
        self.token = token.json()["access_token"]
        self.session = requests.Session()

    def read(self, patient: uuid.UUID) -> int:
        body = {
            "patient_ref": refs.encode_with(PSEUDONYM_KEY, self.id, [patient])[0],
            "data_categories": ["lab_results"],
            "purpose": "TREAT",
            "action": "use",
            "record_count": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        answer = self.session.post(
            f"{self.base_url}/v1/data-uses",
            json=body,
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": uuid.uuid4().hex},
            timeout=30,
        )
        return answer.status_code


def other_patients(url: str, count: int, exclude: set[uuid.UUID]) -> list[uuid.UUID]:
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT id FROM patients WHERE erased_at IS NULL ORDER BY md5(id::text) LIMIT %s",
            (count + len(exclude),),
        ).fetchall()
    return [row[0] for row in rows if row[0] not in exclude][:count]


def attack(base_url: str, admin_token: str, url: str, known: set[uuid.UUID]) -> dict[str, Any]:
    """Run the attacks (on threads, while the load runs); return who attacked and how."""
    stamp = datetime.now(UTC).strftime("%H%M%S")
    victims = other_patients(url, BURSTS + SCRAPERS * SCRAPE_SIZE, known)
    burster = Attacker(base_url, admin_token, f"Bench burst {stamp}", "research")
    scrapers = [
        Attacker(base_url, admin_token, f"Bench scraper {stamp}-{n}", "pharma")
        for n in range(SCRAPERS)
    ]
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def count(status: int) -> None:
        with lock:
            statuses[status] = statuses.get(status, 0) + 1

    def burst(patient: uuid.UUID) -> None:
        for _ in range(BURST_SIZE):
            count(burster.read(patient))

    def scrape(n: int) -> None:
        for patient in victims[BURSTS + n * SCRAPE_SIZE : BURSTS + (n + 1) * SCRAPE_SIZE]:
            count(scrapers[n].read(patient))

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for i, patient in enumerate(victims[:BURSTS]):
            futures.append(pool.submit(burst, patient))
            if i < SCRAPERS:
                futures.append(pool.submit(scrape, i))
            time.sleep(1.0)  # spread over the load, not all at once
        for future in futures:
            future.result()
    return {
        "burst_org": str(burster.id),
        "scraper_orgs": [str(s.id) for s in scrapers],
        "statuses": statuses,
    }


def wait_detected(url: str, since: datetime, *, bursts: int, scrapers: list[str]) -> list[dict]:
    deadline = time.monotonic() + DETECTED_TIMEOUT
    while True:
        found = incidents(url, since)
        raised = [i for i in found if i["rule"] == "burst"]
        suspended = {str(i["org_id"]) for i in found if i["rule"] == "breadth" and i["suspended"]}
        if (len(raised) >= bursts and suspended >= set(scrapers)) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def latencies(found: list[dict]) -> dict[str, Any]:
    """From the first abusive use to the incident (and to the suspension), per rule."""

    def summary(values: list[float]) -> dict[str, Any]:
        values = sorted(values)
        if not values:
            return {"n": 0}
        pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
        return {
            "n": len(values),
            "p50_s": round(pick(0.5), 2),
            "p99_s": round(pick(0.99), 2),
            "max_s": round(values[-1], 2),
        }

    by_rule: dict[str, Any] = {}
    for rule in sorted({i["rule"] for i in found}):
        mine = [i for i in found if i["rule"] == rule]
        by_rule[rule] = {
            "to_incident": summary(
                [(i["opened_at"] - i["first_seen_at"]).total_seconds() for i in mine]
            )
        }
        suspended = [i for i in mine if i["suspended"] and i["suspended_at"] is not None]
        if suspended:
            by_rule[rule]["to_suspension"] = summary(
                [(i["suspended_at"] - i["first_seen_at"]).total_seconds() for i in suspended]
            )
    return by_rule
