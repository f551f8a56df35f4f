"""Push delivery: one real worker process draining the outbox into the tests' fake FCM server.

The worker is `consent-wallet worker` as production runs it (APP_ENV=production,
PUSH_BACKEND=fcm, FIREBASE_CREDENTIALS naming a service-account JSON with a fresh RSA key
whose token_uri is the fake's /token, FCM_ENDPOINT the fake), so firebase-admin does the real
service-account token flow and sends each message as its own HTTP request (`send_each`, a
thread per message). The fake is `tests/notifications/fake_fcm.py`'s FakeFcm, a threaded
`http.server` (ThreadingHTTPServer: a thread per connection), in this process. `StampedFcm`
adds an arrival time to every message it records, a listen backlog deep enough for the
worker's 500 concurrent connections (with the default of 5 the kernel drops SYNs and each
costs the client a 1 s retransmission: the drain fell to about a third) and HTTP/1.1
keep-alive, as the real FCM endpoint has (the fake's own default, HTTP/1.0, opens a TCP
connection per message).

Two measurements:

* `drain`: N notices for the bench devices are queued (COPY, an empty outbox otherwise), the
  worker starts, and the drain rate is N over the time from the first to the last arrival.
* `Rig.lag`: while the data-use scenario runs with a worker pushing (scenario `push=True`),
  the time from each use's `created_at` (data_uses, the app's clock at the request) to the
  arrival of its push at the fake, for the uses recorded in the measured window.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.database import CLI
from bench.generate import demo_org
from bench.server import production_env, stop
from bench.settings import ROOT, WORK, BenchError
from bench.usedata import bench_devices
from tests.notifications.fake_fcm import FakeFcm
from tests.support import service_account_file

BACKLOG = 1024
# The push rig's worker also delivers the revocations' webhooks to a receiver on 127.0.0.1,
# which production refuses (bench/webhooks.py): development, otherwise production's settings.
WEBHOOK_WORKER_ENV = {"APP_ENV": "development", "WEBHOOK_ALLOW_LOCAL": "1"}
POLL = 0.05
READY_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 60.0
WORKER_LOG = ROOT / "var" / "bench-worker.log"
ACCOUNT = WORK / "fcm-service-account.json"


class _Stamped(list):
    """The fake's `received` list, stamping each message with its arrival (time.time())."""

    def append(self, item: dict) -> None:
        item["arrived_at"] = time.time()
        super().append(item)


class StampedFcm(FakeFcm):
    """The tests' fake FCM server, recording when each message arrived; keep-alive and a
    deep listen backlog so that the fake, not the kernel, answers the worker's bursts."""

    def __init__(self, *, backlog: int = BACKLOG, keep_alive: bool = True) -> None:
        super().__init__()
        self.received = _Stamped()
        self.server.socket.listen(backlog)  # a second listen() only deepens the queue
        if keep_alive:  # the handler class is this instance's own; it sends Content-Length
            self.server.RequestHandlerClass.protocol_version = "HTTP/1.1"

    def messages_since(self, start: int) -> tuple[list[dict], int]:
        """Return the messages received from index `start` on, and the next index."""
        with self._lock:
            new = self.received[start:]
        return new, start + len(new)


def cpu_seconds(pid: int) -> float | None:
    """Return the user + system CPU seconds a process has used (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def worker(
    database_url: str, fcm: FakeFcm | None, *, extra: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Run `consent-wallet worker` with the FCM backend pointed at the fake (none: pushes
    only logged), and `extra` settings, until the block ends (SIGTERM: it finishes the job
    it is running)."""
    env = production_env(database_url)
    if fcm is not None:
        service_account_file(ACCOUNT, f"{fcm.url}/token")
        env.update(PUSH_BACKEND="fcm", FIREBASE_CREDENTIALS=str(ACCOUNT), FCM_ENDPOINT=fcm.url)
    else:
        env.update(PUSH_BACKEND="log")
    env.update(extra or {})
    WORKER_LOG.parent.mkdir(parents=True, exist_ok=True)
    with WORKER_LOG.open("ab") as log:
        log.write(f"--- bench worker started {time.strftime('%H:%M:%S')}\n".encode())
        log.flush()
        process = subprocess.Popen(
            [str(CLI), "worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        stop(process)


def _alive(process: subprocess.Popen) -> None:
    """Fail if the worker has exited."""
    if process.poll() is not None:
        raise BenchError(f"the worker exited with {process.returncode}; see {WORKER_LOG}")


def _due(connection: psycopg.Connection, ids: list[uuid.UUID] | None = None) -> int:
    """Count outbox rows not yet sent or given up on (of these notices, if given)."""
    if ids is None:
        row = connection.execute(
            "SELECT count(*) FROM outbox_messages WHERE status IN ('pending', 'sending')"
        ).fetchone()
    else:
        row = connection.execute(
            "SELECT count(*) FROM outbox_messages WHERE status IN ('pending', 'sending') "
            "AND notification_id = ANY(%s)",
            (ids,),
        ).fetchone()
    return row[0]


def _statuses(connection: psycopg.Connection, ids: list[uuid.UUID]) -> dict[str, int]:
    rows = connection.execute(
        "SELECT status, count(*) FROM outbox_messages WHERE notification_id = ANY(%s) GROUP BY 1",
        (ids,),
    ).fetchall()
    return dict(rows)


def wait_sent(pg_url: str, timeout: float, ids: list[uuid.UUID] | None = None) -> int:
    """Wait until the outbox (or these notices' rows) holds nothing due; return what is left."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(pg_url, autocommit=True) as connection:
        while True:
            left = _due(connection, ids)
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(0.2)


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def spread_ms(seconds: list[float]) -> dict[str, float]:
    """Return p50/p90/p99/max/mean of durations in seconds, in milliseconds."""
    ordered = sorted(seconds)
    return {
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 1),
        "p90_ms": round(percentile(ordered, 0.90) * 1000, 1),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 1),
    }


def _cpu(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class Rig:
    """A fake FCM server and one worker pushing to it, for a scenario run with `push=True`."""

    database_url: str
    pg_url: str
    fcm: StampedFcm | None = None
    process: subprocess.Popen | None = None
    discarded: int = 0
    cpu_start: tuple[float | None, float] = (None, 0.0)
    notes: list[str] = field(default_factory=list)

    @contextmanager
    def running(self) -> Iterator[Rig]:
        """Empty what earlier scenarios left due, start the fake and the worker."""
        with psycopg.connect(self.pg_url, autocommit=True) as connection:
            self.discarded = connection.execute(
                "DELETE FROM outbox_messages WHERE status IN ('pending', 'sending')"
            ).rowcount
        with (
            StampedFcm() as fcm,
            worker(self.database_url, fcm, extra=WEBHOOK_WORKER_ENV) as process,
        ):
            self.fcm, self.process = fcm, process
            yield self

    def wait_first_push(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the worker has pushed something (the probe's use): it is up and sending."""
        deadline = time.monotonic() + timeout
        while not self.fcm.received:
            _alive(self.process)
            if time.monotonic() > deadline:
                raise BenchError(f"no push within {timeout:.0f}s; see {WORKER_LOG}")
            time.sleep(POLL)

    def mark(self) -> None:
        """Note the CPU time used so far, by the worker and by this process (the fake)."""
        self.cpu_start = (cpu_seconds(self.process.pid), time.process_time())

    def lag(self, window: tuple[float, float]) -> dict[str, Any]:
        """Return the lag from use to push for the uses recorded within `window` (epoch s)."""
        left = wait_sent(self.pg_url, DELIVERY_TIMEOUT)
        worker_cpu = cpu_seconds(self.process.pid)
        fake_cpu = time.process_time() - self.cpu_start[1]
        start, end = window
        with psycopg.connect(self.pg_url, autocommit=True) as connection:
            # A refused attempt pushes only when it opened an alert: later refusals by the same
            # organisation for the same patient within the alert window are counted into it.
            rows = connection.execute(
                "SELECT u.id::text, extract(epoch FROM u.created_at)::float8, u.outcome, "
                "u.outcome = 'permitted' OR EXISTS (SELECT 1 FROM notifications n "
                "WHERE n.patient_id = u.patient_id AND n.type = 'access_refused' "
                "AND n.data->>'data_use_id' = u.id::text) AS alerts "
                "FROM data_uses u "
                "WHERE u.created_at >= to_timestamp(%s) AND u.created_at < to_timestamp(%s)",
                (start, end),
            ).fetchall()
        uses = [(use_id, created, outcome) for use_id, created, outcome, alerts in rows if alerts]
        counted_into_alerts = len(rows) - len(uses)
        arrived: dict[str, float] = {}
        pushes = Counter()
        for message in list(self.fcm.received):
            data = message.get("message", {}).get("data", {})
            pushes[data.get("type", "?")] += 1
            use_id = data.get("data_use_id")
            if use_id and use_id not in arrived:
                arrived[use_id] = message["arrived_at"]
        lags = [arrived[use_id] - created for use_id, created, _ in uses if use_id in arrived]
        seconds = end - start
        found: dict[str, Any] = {
            "window_s": round(seconds, 2),
            "uses_in_window": len(uses),
            "refusals_counted_into_an_alert": counted_into_alerts,
            "pushed": len(lags),
            "not_pushed": len(uses) - len(lags),
            "left_due_after_wait": left,
            "discarded_before": self.discarded,
            "pushes_by_type": dict(pushes),
            "pushes_per_s": round(len(lags) / seconds, 1) if seconds else None,
            "worker_cpu_s": _cpu(
                None
                if worker_cpu is None or self.cpu_start[0] is None
                else worker_cpu - self.cpu_start[0]
            ),
            "fake_fcm_cpu_s": _cpu(fake_cpu),
        }
        if lags:
            found.update(spread_ms(lags))
        if any(lag < 0 for lag in lags):
            self.notes.append("some pushes arrived before their use's created_at: clock skew?")
        found["notes"] = self.notes
        return found


# --- the drain -------------------------------------------------------------------------------


def queue(pg_url: str, notices: int) -> list[uuid.UUID]:
    """Empty the outbox and queue `notices` routine data-use notices, one push each, spread
    over the bench devices; return the notification ids."""
    with psycopg.connect(pg_url) as connection:
        devices = bench_devices(connection)
        if not devices:
            raise BenchError("no bench devices to push to (bench/usedata.py registers them)")
        org_id, org_name, _ = demo_org(connection, "hospital")
        connection.execute("TRUNCATE outbox_messages")
        ids = [uuid.uuid4() for _ in range(notices)]
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY notifications (id, patient_id, type, title, body, data, high_priority, "
                "created_at) FROM STDIN"
            ) as copy:
                for number, notice_id in enumerate(ids):
                    _, patient_id = devices[number % len(devices)]
                    data = {"data_use_id": str(uuid.uuid4()), "org_id": str(org_id)}
                    copy.write_row(
                        (
                            notice_id,
                            patient_id,
                            "data_use",
                            f"{org_name} used your lab results",
                            f"For your treatment: {number % 40 + 1} records, under the consent "
                            "you gave. See your access history for details.",
                            json.dumps(data),
                            False,
                            "now",
                        )
                    )
            with cursor.copy(
                "COPY outbox_messages (id, notification_id, device_id, status, attempts, "
                "next_attempt_at, created_at) FROM STDIN"
            ) as copy:
                for number, notice_id in enumerate(ids):
                    device_id, _ = devices[number % len(devices)]
                    copy.write_row((uuid.uuid4(), notice_id, device_id, "pending", 0, "now", "now"))
        connection.commit()
        connection.execute("ANALYZE outbox_messages")
        connection.commit()
    return ids


def drain(database_url: str, pg_url: str, notices: int, timeout: float) -> dict[str, Any]:
    """Queue `notices`, start one worker, and time the fake's arrivals; return the figures."""
    queued_at = time.monotonic()
    ids = queue(pg_url, notices)
    wanted = {str(notice_id) for notice_id in ids}
    found: dict[str, Any] = {"notices": notices, "queue_s": round(time.monotonic() - queued_at, 2)}
    arrivals: list[float] = []
    seen: Counter[str] = Counter()
    with StampedFcm() as fcm:
        fake_cpu = time.process_time()
        spawned = time.time()
        with worker(database_url, fcm) as process:
            deadline = time.monotonic() + timeout
            index = 0
            while len(arrivals) < notices and time.monotonic() < deadline:
                _alive(process)
                time.sleep(POLL)
                new, index = fcm.messages_since(index)
                for message in new:
                    notice_id = message["message"].get("data", {}).get("notification_id")
                    if notice_id in wanted:
                        seen[notice_id] += 1
                        if seen[notice_id] == 1:
                            arrivals.append(message["arrived_at"])
            left = wait_sent(pg_url, 15.0, ids)
            worker_cpu = cpu_seconds(process.pid)
        fake_cpu = time.process_time() - fake_cpu
        with psycopg.connect(pg_url, autocommit=True) as connection:
            statuses = _statuses(connection, ids)
    found.update(
        delivered=len(arrivals),
        duplicates=sum(n - 1 for n in seen.values()),
        outbox_statuses=statuses,
        left_due=left,
        worker_cpu_s=_cpu(worker_cpu),
        fake_fcm_cpu_s=_cpu(fake_cpu),
    )
    if not arrivals:
        found["problem"] = f"no notice arrived within {timeout:.0f}s"
        return found
    arrivals.sort()
    first, last = arrivals[0], arrivals[-1]
    window = last - first
    per_second = Counter(int(t - first) for t in arrivals)
    found.update(
        start_to_first_s=round(first - spawned, 2),
        first_to_last_s=round(window, 2),
        notices_per_s=round((len(arrivals) - 1) / window, 1) if window > 0 else None,
        per_second=[per_second.get(s, 0) for s in range(int(window) + 1)],
    )
    if len(arrivals) < notices:
        found["problem"] = f"only {len(arrivals):,} of {notices:,} arrived within {timeout:.0f}s"
    return found
