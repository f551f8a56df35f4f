"""`make bench`: serve the app under gunicorn on PostgreSQL, load each scenario with wrk, report.

Knobs: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 2), BENCH_WORKERS (CPUs),
BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_SCENARIOS (comma-separated names, all).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import requests

from bench import database, load, report
from bench.report import Outcome
from bench.scenarios import Scenario, Target, selected
from bench.server import gunicorn
from bench.settings import BenchError, Settings

PROBE_TIMEOUT = 10
TOKEN_SLACK = 60


def say(message: str) -> None:
    """Print progress on stderr, keeping stdout for the table."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def probe(scenario: Scenario, base_url: str) -> str | None:
    """Send the request once; return why it is unfit for load (non-2xx), or None."""
    response = requests.request(
        scenario.method,
        f"{base_url}{scenario.path}",
        headers=dict(scenario.headers),
        data=scenario.body,
        allow_redirects=False,
        timeout=PROBE_TIMEOUT,
    )
    if 200 <= response.status_code < 300:
        return None
    return f"a single request answered {response.status_code}: {response.text[:300]}"


def measure(scenario: Scenario, target: Target, settings: Settings) -> Outcome:
    """Prepare, probe, warm up and measure one scenario; failures become its problems."""
    outcome = Outcome(scenario)
    load_args = (target.base_url, settings.threads, settings.connections)
    try:
        outcome.scenario = prepared = scenario.prepare(target)
        problem = probe(prepared, target.base_url)
        if problem:
            outcome.problems.append(problem)
            return outcome
        say(f"{scenario.name}: warm-up {settings.warmup}s")
        outcome.warmup_rps = round(load.run(prepared, *load_args, settings.warmup).rps, 1)
        say(f"{scenario.name}: measuring {settings.duration}s")
        outcome.result = load.run(prepared, *load_args, settings.duration)
    except (BenchError, requests.RequestException) as exc:
        outcome.problems.append(f"{type(exc).__name__}: {exc}")
        return outcome
    outcome.problems += report.judge(outcome.result)
    say(f"{scenario.name}: {outcome.result.rps:,.1f} req/s, p99 {outcome.result.p99_ms:.2f} ms")
    return outcome


def bench(settings: Settings) -> dict:
    """Run every selected scenario against a fresh database and server; return the results."""
    scenarios = selected(settings.only)
    machine = report.machine_info()
    machine["wrk"] = load.wrk_version()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    say(f"recreating and seeding the {database.DATABASE} database")
    url = database.prepare()
    machine["postgres"] = database.postgres_version()
    outcomes = []
    say(f"starting gunicorn with {settings.workers} sync workers")
    with gunicorn(url, settings.workers) as base_url:
        target = Target(base_url, token_margin=settings.warmup + settings.duration + TOKEN_SLACK)
        for scenario in scenarios:
            outcomes.append(measure(scenario, target, settings))
    machine["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return report.build(stamp, machine, settings.as_dict(), outcomes)


def main() -> int:
    """Run the bench, store and print the report; exit 1 if a scenario is invalid, 2 on failure."""
    try:
        results = bench(Settings.from_env())
    except BenchError as exc:
        say(f"failed: {exc}")
        return 2
    text = report.markdown(results)
    for path in report.write(results, text):
        say(f"wrote {path}")
    print(text, end="")
    if not results["valid"]:
        say("some scenarios are INVALID: see the table")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
