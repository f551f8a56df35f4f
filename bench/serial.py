"""Latency with one connection: requests sent one after another from Python, each timed.

gunicorn's sync workers close the connection after every response, so each request also
opens a TCP connection on the loopback (tens of microseconds); that is what a client sees.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from itertools import cycle, islice
from pathlib import Path

import requests

from bench.load import LoadResult
from bench.scenarios import Scenario
from bench.settings import BenchError

TIMEOUT = 30
WARMUP_REQUESTS = 5


def bodies(scenario: Scenario) -> list[str]:
    """Return the bodies to send in turn: the file's lines, or the one body."""
    if scenario.bodies is not None:
        lines = [line for line in Path(scenario.bodies).read_text().splitlines() if line]
        if lines:
            return lines
    return [scenario.body or ""]


def percentile(sorted_values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


class Tally:
    """What the timed requests answered."""

    def __init__(self) -> None:
        self.latencies_s: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()

    def record(self, response: requests.Response, elapsed: float, count: bool) -> None:
        """Note one response and how long it took."""
        self.latencies_s.append(elapsed)
        if not 200 <= response.status_code < 300:
            self.statuses[str(response.status_code)] += 1
        elif count:
            payload = response.json()
            for result in payload.get("results", [payload]):
                self.decisions[result.get("decision", "?")] += 1
                self.reasons[result.get("reason", "?")] += 1

    def result(self) -> LoadResult:
        """Return the tally as wrk would have reported it."""
        ordered = sorted(self.latencies_s)
        total = sum(ordered)
        ms = 1000
        return LoadResult(
            requests=len(ordered),
            duration_s=total,
            p50_ms=percentile(ordered, 0.50) * ms,
            p90_ms=percentile(ordered, 0.90) * ms,
            p99_ms=percentile(ordered, 0.99) * ms,
            mean_ms=total / len(ordered) * ms if ordered else 0.0,
            max_ms=ordered[-1] * ms if ordered else 0.0,
            non2xx=sum(self.statuses.values()),
            statuses=dict(self.statuses),
            socket_errors={k: self.errors[k] for k in ("connect", "read", "write", "timeout")},
            decisions=dict(self.decisions),
            reasons=dict(self.reasons),
        )


def send(session: requests.Session, scenario: Scenario, url: str, body: str) -> tuple:
    """Send one request; return (response, seconds until its body was read)."""
    started = time.perf_counter()
    response = session.request(scenario.method, url, data=body, timeout=TIMEOUT)
    _ = response.content
    return response, time.perf_counter() - started


def run(scenario: Scenario, base_url: str, requests_wanted: int, max_seconds: float) -> LoadResult:
    """Send the scenario's requests one at a time (after a short warm-up); time each one."""
    url = f"{base_url}{scenario.path}"
    tally = Tally()
    deadline = time.monotonic() + max_seconds
    with requests.Session() as session:
        session.headers.update(scenario.headers)
        plan = islice(cycle(bodies(scenario)), WARMUP_REQUESTS + requests_wanted)
        for number, body in enumerate(plan):
            if time.monotonic() > deadline:
                break
            try:
                response, elapsed = send(session, scenario, url, body)
            except requests.Timeout:
                tally.errors["timeout"] += 1
                continue
            except requests.ConnectionError:
                tally.errors["connect"] += 1
                continue
            if number >= WARMUP_REQUESTS:
                try:
                    tally.record(response, elapsed, scenario.count_decisions)
                except ValueError as exc:
                    raise BenchError(f"{scenario.name}: a response was not JSON: {exc}") from exc
    return tally.result()
