"""`make bench`: serve the app under gunicorn on PostgreSQL, load each scenario with wrk, report.

Knobs: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 2), BENCH_WORKERS (CPUs),
BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_SCENARIOS (comma-separated names, all),
BENCH_PATIENTS (200000), BENCH_CONSENTS (1000000), BENCH_REGENERATE (0), BENCH_BATCH_SIZE
(1000), BENCH_BATCH_REQUESTS (200), BENCH_PROFILE (auto: only when a target is missed).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

import psycopg
import requests

from bench import checkdata, database, load, profile, report, serial
from bench.load import LoadResult
from bench.report import Outcome
from bench.scenarios import Scenario, Target, selected
from bench.server import gunicorn
from bench.settings import PG_URL, WORK, BenchError, Settings

PROBE_TIMEOUT = 10
TOKEN_SLACK = 60
SETTLE_TIMEOUT = 60.0
SETTLED_MS = 100  # /healthz this fast again: the requests wrk left queued are done


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


def settle(base_url: str) -> None:
    """Wait until the workers have drained what the last wrk run left queued.

    Sync workers keep answering requests whose client is gone; a heavy scenario's warm-up
    would otherwise eat into its measured window.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            requests.get(f"{base_url}/healthz", timeout=SETTLE_TIMEOUT)
        except requests.RequestException:
            time.sleep(0.2)
            continue
        if (time.monotonic() - started) * 1000 < SETTLED_MS:
            return
    say(f"the server still lagged after {SETTLE_TIMEOUT:.0f}s; measuring anyway")


def drive(scenario: Scenario, target: Target, settings: Settings, outcome: Outcome) -> LoadResult:
    """Warm up and measure a prepared scenario with its driver."""
    if scenario.driver == "serial":
        limit = max(60, 6 * settings.duration)
        say(f"{scenario.name}: {settings.batch_requests} requests on one connection")
        return serial.run(scenario, target.base_url, settings.batch_requests, limit)
    load_args = (target.base_url, settings.threads, settings.connections)
    say(f"{scenario.name}: warm-up {settings.warmup}s")
    outcome.warmup_rps = round(load.run(scenario, *load_args, settings.warmup).rps, 1)
    settle(target.base_url)
    say(f"{scenario.name}: measuring {settings.duration}s")
    result = load.run(scenario, *load_args, settings.duration)
    settle(target.base_url)
    return result


def measure(scenario: Scenario, target: Target, settings: Settings) -> Outcome:
    """Prepare, probe, warm up and measure one scenario; failures become its problems."""
    outcome = Outcome(scenario)
    try:
        outcome.scenario = prepared = scenario.prepare(target)
        problem = probe(prepared, target.base_url)
        if problem:
            outcome.problems.append(problem)
            return outcome
        outcome.result = drive(prepared, target, settings, outcome)
    except (BenchError, requests.RequestException) as exc:
        outcome.problems.append(f"{type(exc).__name__}: {exc}")
        return outcome
    outcome.problems += report.judge(outcome.result)
    say(f"{scenario.name}: {outcome.result.rps:,.1f} req/s, p99 {outcome.result.p99_ms:.2f} ms")
    return outcome


def sample_checks(settings: Settings) -> checkdata.CheckFiles:
    """Write the consent-check bodies sampled from the dataset."""
    try:
        return checkdata.write(PG_URL, WORK, settings.batch_size)
    except (psycopg.Error, OSError, ValueError) as exc:
        raise BenchError(f"sampling the check bodies failed: {exc}") from exc


def bench(settings: Settings) -> dict:
    """Run every selected scenario against the dataset and a fresh server; return the results."""
    scenarios = selected(settings.only)
    machine = report.machine_info()
    machine["wrk"] = load.wrk_version()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    url, dataset = database.prepare(settings, say)
    machine["postgres"] = database.postgres_version()
    checks = sample_checks(settings)
    outcomes = []
    say(f"starting gunicorn with {settings.workers} sync workers")
    with gunicorn(url, settings.workers) as base_url:
        target = Target(
            base_url,
            token_margin=settings.warmup + settings.duration + TOKEN_SLACK,
            checks=checks,
        )
        for scenario in scenarios:
            outcomes.append(measure(scenario, target, settings))
    machine["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    results = report.build(stamp, machine, settings.as_dict(), outcomes, dataset)
    results["profile"] = profile_if_needed(results, settings, url, checks)
    return results


def profile_if_needed(
    results: dict, settings: Settings, url: str, checks: checkdata.CheckFiles
) -> dict:
    """Profile the check paths in-process when a target is missed (BENCH_PROFILE=auto)."""
    missed = [t["name"] for t in results["targets"] if t["met"] is False]
    if settings.profile == "0" or (settings.profile == "auto" and not missed):
        return {"skipped": "BENCH_PROFILE=0" if settings.profile == "0" else "every target met"}
    why = "BENCH_PROFILE=1" if settings.profile == "1" else "missed: " + ", ".join(missed)
    say(f"profiling in-process ({why})")
    try:
        return profile.run(url, checks)
    except Exception as exc:  # the profile is extra: never lose the measured figures to it
        say(f"profile failed: {type(exc).__name__}: {exc}")
        return {"failed": f"{type(exc).__name__}: {exc}"}


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
