"""`make bench`: serve the app under gunicorn on PostgreSQL, load each scenario with wrk, report.

Knobs: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 2), BENCH_WORKERS (CPUs),
BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_SCENARIOS (comma-separated names, all),
BENCH_PATIENTS (200000), BENCH_CONSENTS (1000000), BENCH_REGENERATE (0), BENCH_BATCH_SIZE
(1000), BENCH_BATCH_REQUESTS (200), BENCH_PROFILE (auto: only when a check target is missed),
BENCH_DRAIN_NOTICES (20000), BENCH_DRAIN_TIMEOUT (120), BENCH_LEDGER_USES (1000000),
BENCH_LEDGER_RUNS (3), BENCH_AUDIT_ENTRIES (10000000), BENCH_AUDIT_PROOFS (2000),
BENCH_AUDIT_VERIFY_RUNS (1), BENCH_AUDIT_DATABASE (consent_bench_audit).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import requests

from bench import (
    abuse,
    auditdata,
    auditlag,
    auditscale,
    checkdata,
    cohortdata,
    database,
    fanout,
    generate,
    ledgerdata,
    load,
    paid,
    profile,
    push,
    report,
    serial,
    usedata,
    webhooks,
)
from bench.load import LoadResult
from bench.report import Outcome
from bench.scenarios import (
    ABUSE_DETECTION,
    AUDIT_LAG,
    AUDIT_SCALE,
    BASELINE,
    DATA_USE,
    LEDGER_VERIFY,
    PUSH_DRAIN,
    SCENARIOS,
    STUDY_FANOUT,
    WEBHOOK_DRAIN,
    Scenario,
    Target,
    phase_selected,
    selected,
)
from bench.server import gunicorn
from bench.settings import PG_URL, WORK, BenchError, Settings

PROBE_TIMEOUT = 10
# During the push scenario, each webhooked to the demo hospital (0: none, to see the push lag
# without them).
REVOCATIONS_PER_S = int(os.environ.get("BENCH_REVOCATIONS_PER_S", "5"))
WEBHOOK_EVENTS = 10_000  # queued for the webhook drain
TOKEN_SLACK = 60
SETTLE_TIMEOUT = 60.0
SETTLED_MS = 100  # /healthz this fast again: the requests wrk left queued are done


def say(message: str) -> None:
    """Print progress on stderr, keeping stdout for the table."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def probe(scenario: Scenario, base_url: str) -> tuple[str | None, int]:
    """Send the request once; return why it is unfit for load (not an answer) or None, and
    the status it answered."""
    headers, body = scenario.one_request()
    response = requests.request(
        scenario.method,
        f"{base_url}{scenario.path}",
        headers=headers,
        data=body,
        allow_redirects=False,
        timeout=PROBE_TIMEOUT,
    )
    if scenario.answered(response.status_code):
        return None, response.status_code
    return (
        f"a single request answered {response.status_code}: {response.text[:300]}",
        response.status_code,
    )


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
    warm = load.run(scenario, *load_args, settings.warmup)
    outcome.warmup_rps = round(warm.rps, 1)
    outcome.warmup_decisions = warm.decisions
    settle(target.base_url)
    say(f"{scenario.name}: measuring {settings.duration}s")
    started = time.time()
    result = load.run(scenario, *load_args, settings.duration)
    outcome.window = (started, time.time())
    settle(target.base_url)
    return result


def check_paid(
    fees: paid.Fees, outcome: Outcome, probe_status: int, settings: Settings, url: str
) -> dict:
    """After a paid scenario: its uses against their postings, and `ledger verify`."""
    say(f"{outcome.scenario.name}: checking the ledger (consent-wallet ledger verify)")
    seen = int(probe_status == 201) + outcome.warmup_decisions.get("permitted", 0)
    seen += outcome.result.decisions.get("permitted", 0)
    found = paid.check(fees, PG_URL, url, answered_201=seen)
    say(
        f"{outcome.scenario.name}: {found['paid_uses']:,} paid uses, "
        f"{found['use_fee_postings']:,} use_fee postings, {found['entries']:,} entries; "
        f"ledger verify ok={found['verify'].get('ok')} in {found['verify']['wall_s']:.2f}s"
    )
    return found


def measure(scenario: Scenario, target: Target, settings: Settings, url: str) -> Outcome:
    """Prepare, probe, warm up and measure one scenario; failures become its problems.

    A `push` scenario runs with one worker pushing to a fake FCM server, started before the
    probe (whose push shows the worker is up) and stopped after the lag is measured. A `paid`
    scenario runs with fees on the consents its uses rely on (put back afterwards), and its
    ledger is checked after the measured run (bench/paid.py).
    """
    outcome = Outcome(scenario)
    try:
        outcome.scenario = prepared = scenario.prepare(target)
        rig = push.Rig(url, PG_URL).running() if prepared.push else nullcontext()
        paying = paid.fees(PG_URL, prepared.bodies) if prepared.paid else nullcontext()
        revoked = REVOCATIONS_PER_S * (settings.warmup + settings.duration)
        hooks = (
            webhooks.revocations(url, PG_URL, revoked)
            if prepared.push and revoked
            else nullcontext()
        )
        with paying as fees, hooks as revoking, rig as pushing:
            if pushing is not None:
                say(f"{scenario.name}: worker started, pushing to a fake FCM at {pushing.fcm.url}")
            if fees is not None:
                say(
                    f"{scenario.name}: {fees.consents:,} consents of {fees.patients:,} patients "
                    f"now cost {fees.fee} points per use"
                )
            problem, status = probe(prepared, target.base_url)
            if problem:
                outcome.problems.append(problem)
                return outcome
            if pushing is not None:
                pushing.wait_first_push()
                pushing.mark()
            if revoking is not None:
                say(
                    f"{scenario.name}: revoking {revoked:,} consents of the demo hospital meanwhile"
                )
                revoking.start()
            outcome.result = drive(prepared, target, settings, outcome)
            if prepared.cohort and target.cohorts is not None:
                outcome.cohort = {
                    "sample": target.cohorts.summary,
                    "budget": cohortdata.budget_after(PG_URL, target.cohorts.org_id),
                }
            if revoking is not None:
                revoking.stop()
                outcome.webhooks = revoking.lags()
            if pushing is not None:
                say(f"{scenario.name}: waiting for the worker to push every use")
                outcome.push = pushing.lag(outcome.window)
            if fees is not None:
                outcome.paid = check_paid(fees, outcome, status, settings, url)
        if fees is not None and outcome.paid is not None:
            outcome.paid["consent_fees_restored"] = fees.restored
    except (BenchError, requests.RequestException, psycopg.Error) as exc:
        outcome.problems.append(f"{type(exc).__name__}: {exc}")
        return outcome
    outcome.problems += report.judge(outcome.result)
    if scenario.cohort:
        outcome.problems += report.judge_cohort(outcome.result)
    if outcome.push is not None:
        outcome.problems += report.judge_push(outcome.push)
    if outcome.paid is not None:
        outcome.problems += paid.judge(outcome.paid, 2, settings.connections)
    say(f"{scenario.name}: {outcome.result.rps:,.1f} req/s, p99 {outcome.result.p99_ms:.2f} ms")
    if outcome.webhooks and "p99_ms" in outcome.webhooks:
        say(
            f"{scenario.name}: revoke → webhook p50 {outcome.webhooks['p50_ms']:,.0f} ms, "
            f"p99 {outcome.webhooks['p99_ms']:,.0f} ms ({outcome.webhooks['webhooks_received']:,})"
        )
    if outcome.push and "p99_ms" in outcome.push:
        say(
            f"{scenario.name}: use → push lag p50 {outcome.push['p50_ms']:,.0f} ms, "
            f"p99 {outcome.push['p99_ms']:,.0f} ms ({outcome.push['pushed']:,} pushes)"
        )
    return outcome


def sample_checks(settings: Settings) -> checkdata.CheckFiles:
    """Write the consent-check bodies sampled from the dataset."""
    try:
        return checkdata.write(PG_URL, WORK, settings.batch_size)
    except (psycopg.Error, OSError, ValueError) as exc:
        raise BenchError(f"sampling the check bodies failed: {exc}") from exc


def sample_uses(settings: Settings) -> usedata.UseFiles:
    """Undo earlier runs' data uses; write the data-use bodies; give their patients devices."""
    try:
        return usedata.write(PG_URL, WORK)
    except (psycopg.Error, OSError, ValueError) as exc:
        raise BenchError(f"sampling the data-use bodies failed: {exc}") from exc


def sample_cohorts() -> cohortdata.CohortFiles:
    """Write the cohort-count bodies sampled from the dataset."""
    try:
        return cohortdata.write(PG_URL, WORK)
    except (psycopg.Error, OSError, ValueError) as exc:
        raise BenchError(f"sampling the cohort-count bodies failed: {exc}") from exc


def measure_drain(settings: Settings, url: str) -> dict:
    """Queue BENCH_DRAIN_NOTICES notices and time one worker draining them into the fake."""
    say(f"{PUSH_DRAIN}: queueing {settings.drain_notices:,} notices, starting one worker")
    try:
        found = push.drain(url, PG_URL, settings.drain_notices, settings.drain_timeout)
    except (BenchError, psycopg.Error, OSError) as exc:
        return {"notices": settings.drain_notices, "problem": f"{type(exc).__name__}: {exc}"}
    if found.get("notices_per_s") is not None:
        say(
            f"{PUSH_DRAIN}: {found['delivered']:,} notices in {found['first_to_last_s']:.1f}s, "
            f"{found['notices_per_s']:,.0f}/s"
        )
    return found


def measure_webhook_drain(settings: Settings, url: str) -> list[dict]:
    """Queue events for one endpoint, then for eight, and time one worker delivering them."""
    found = []
    for endpoints in (1, 8):
        say(f"{WEBHOOK_DRAIN}: {WEBHOOK_EVENTS:,} events for {endpoints} endpoint(s), one worker")
        try:
            result = webhooks.drain(url, PG_URL, WEBHOOK_EVENTS, endpoints)
        except (BenchError, psycopg.Error, OSError) as exc:
            result = {"endpoints": endpoints, "problem": f"{type(exc).__name__}: {exc}"}
        if result.get("webhooks_per_s") is not None:
            say(f"{WEBHOOK_DRAIN}: {result['webhooks_per_s']:,.0f} webhooks/s")
        found.append(result)
    return found


def measure_fanout(url: str) -> dict:
    """Time one worker filing an approved study's invitations (bench/fanout.py)."""
    say(f"{STUDY_FANOUT}: an approved study, one worker inviting every patient who accepts it")
    try:
        found = fanout.measure(url, PG_URL)
    except (BenchError, psycopg.Error, OSError) as exc:
        return {"problem": f"{type(exc).__name__}: {exc}"}
    if found.get("invitations_per_s") is not None:
        say(
            f"{STUDY_FANOUT}: {found['invited']:,} invitations, "
            f"{found['invitations_per_s']:,.0f}/s after the first batch"
        )
    return found


def measure_ledger(settings: Settings, dataset: dict) -> dict:
    """Build (or reuse) the million-posting ledger database and time `ledger verify` on it."""
    say(f"{LEDGER_VERIFY}: {settings.ledger_uses:,} paid uses in {ledgerdata.DATABASE}")
    try:
        stamp = ledgerdata.prepare(
            settings.ledger_uses,
            dataset,
            database.head_revision(),
            regenerate=settings.regenerate,
            say=say,
        )
        found = ledgerdata.time_verify(settings.ledger_runs, say)
    except (BenchError, psycopg.Error, OSError) as exc:
        return {"uses": settings.ledger_uses, "problem": f"{type(exc).__name__}: {exc}"}
    found["dataset"] = stamp
    if not found["ok"]:
        found["problem"] = f"ledger verify did not say ok: {found['cli_result']}"
    return found


def audit_spec(settings: Settings) -> generate.Spec:
    """The consent dataset the audit database holds: the same as consent_bench's."""
    return generate.Spec(patients=settings.patients, consents=settings.consents)


def measure_audit_scale(settings: Settings) -> dict:
    """Build (or reuse) the 10M-entry audit log; time proofs and `audit verify` on it."""
    say(f"{AUDIT_SCALE}: {settings.audit_entries:,} audit entries in {auditdata.DATABASE}")
    try:
        return auditscale.measure(
            audit_spec(settings),
            settings.audit_entries,
            database.head_revision(),
            regenerate=settings.regenerate,
            samples=settings.audit_proofs,
            verify_runs=settings.audit_verify_runs,
            say=say,
        )
    except (BenchError, psycopg.Error, OSError) as exc:
        return {"entries": settings.audit_entries, "problem": f"{type(exc).__name__}: {exc}"}


def measure_audit_lag(settings: Settings, healthz: LoadResult | None) -> dict:
    """The data-use load on the audit database with one worker sequencing: the lag from each
    entry to the first signed tree head that covers it (bench/auditlag.py)."""
    say(f"{AUDIT_LAG}: data-use load on {auditdata.DATABASE} with one worker sequencing")
    found: dict = {"database": auditdata.DATABASE}
    try:
        stamp = auditscale.prepare(
            audit_spec(settings),
            settings.audit_entries,
            database.head_revision(),
            regenerate=settings.regenerate,
            say=say,
        )
        found["tree_size_before"] = base = stamp["tree_size"]
        uses = usedata.write(auditdata.URL, WORK / "audit", keep=auditdata.LOG_TABLES)
        scenario = next(s for s in SCENARIOS if s.name == DATA_USE)
        outcome = Outcome(replace(scenario, name=AUDIT_LAG))
        with gunicorn(auditdata.DATABASE_URL, settings.workers) as base_url:
            target = Target(
                base_url, token_margin=settings.warmup + settings.duration + TOKEN_SLACK, uses=uses
            )
            prepared = outcome.scenario.prepare(target)
            since = datetime.now(UTC)
            with push.worker(auditdata.DATABASE_URL, None) as process:
                problem, _ = probe(prepared, base_url)
                if problem:
                    raise BenchError(problem)
                found["worker_shown_up_by_a_head"] = auditlag.wait_ready(since)
                cpu = push.cpu_seconds(process.pid)
                outcome.result = drive(prepared, target, settings, outcome)
                left = auditlag.wait_sequenced()
                used = push.cpu_seconds(process.pid)
        found.update(auditlag.lag(outcome.window, base, left))
    except (BenchError, requests.RequestException, psycopg.Error, OSError) as exc:
        found["problem"] = f"{type(exc).__name__}: {exc}"
        return found
    result = outcome.result
    found["load"] = {
        "requests": result.requests,
        "rps": round(result.rps, 1),
        "rps_ratio": round(result.rps / healthz.rps, 3) if healthz and healthz.rps else None,
        "p50_ms": round(result.p50_ms, 1),
        "p99_ms": round(result.p99_ms, 1),
        "decisions": result.decisions,
        "problems": report.judge(result),
    }
    found["worker_cpu_s"] = None if cpu is None or used is None else round(used - cpu, 2)
    if found["load"]["problems"]:
        found["problem"] = "; ".join(found["load"]["problems"])
    elif not found["entries"]:
        found["problem"] = "no audit entry was recorded during the data-use load"
    elif left or found["leaves_without_head"]:
        found["problem"] = f"{left} entries still queued, {found['leaves_without_head']} unsigned"
    if "p99_ms" in found:
        say(
            f"{AUDIT_LAG}: entry → signed head p50 {found['p50_ms']:,.0f} ms, p99 "
            f"{found['p99_ms']:,.0f} ms, max {found['max_ms']:,.0f} ms ({found['entries']:,})"
        )
    return found


def measure_abuse(settings: Settings, url: str, uses: usedata.UseFiles | None) -> dict:
    """The data-use load with the abuse rules off and on, alternating, beside one worker;
    the incidents the benign mix raised; then attacks under load and how fast each was
    noticed (bench/abuse.py)."""
    found: dict = {"database": "consent_bench"}
    if uses is None:
        return {"problem": "no data-use bodies were sampled"}
    bodies = [json.loads(line) for line in uses.bodies.read_text().splitlines() if line]
    try:
        with psycopg.connect(PG_URL, autocommit=True) as connection:
            patients = abuse.sampled_patients(connection, bodies)
        since = datetime.now(UTC)
        share = abuse.emergency_share(bodies)
        found["history"] = abuse.prepare(PG_URL, patients, now=since, emergency=share)
        scenario = next(s for s in SCENARIOS if s.name == DATA_USE)
        runs: list[dict] = []
        with gunicorn(url, settings.workers) as base_url:
            target = Target(
                base_url,
                token_margin=4 * (settings.warmup + settings.duration) + TOKEN_SLACK,
                uses=uses,
            )
            for rules_on in (False, True, False, True):
                outcome = Outcome(
                    replace(scenario, name=f"{ABUSE_DETECTION} {'on' if rules_on else 'off'}")
                )
                prepared = outcome.scenario.prepare(target)
                env = abuse.ON if rules_on else abuse.OFF
                with push.worker(url, None, extra=env):
                    problem, _ = probe(prepared, base_url)
                    if problem:
                        raise BenchError(problem)
                    result = drive(prepared, target, settings, outcome)
                runs.append(
                    {
                        "rules": "on" if rules_on else "off",
                        "rps": round(result.rps, 1),
                        "p99_ms": round(result.p99_ms, 1),
                        "decisions": result.decisions,
                        "problems": report.judge(result),
                    }
                )
                say(f"{ABUSE_DETECTION}: rules {runs[-1]['rules']} {result.rps:,.1f} req/s")
            found["runs"] = runs
            off = [r["rps"] for r in runs if r["rules"] == "off"]
            on = [r["rps"] for r in runs if r["rules"] == "on"]
            found["ratio_on_to_off"] = round(sum(on) / sum(off), 3) if sum(off) else None
            found["benign_incidents"] = [
                {k: str(v) for k, v in i.items() if k != "evidence"}
                for i in abuse.incidents(PG_URL, since)
            ]
            say(
                f"{ABUSE_DETECTION}: rules on / off {found['ratio_on_to_off']}, "
                f"{len(found['benign_incidents'])} incidents from the benign mix"
            )
            # Attacks under load, the rules on (scans every 10 s).
            attack_since = datetime.now(UTC)
            admin = target.org_token("operator")
            outcome = Outcome(replace(scenario, name=f"{ABUSE_DETECTION} attacked"))
            prepared = outcome.scenario.prepare(target)
            with push.worker(url, None, extra=abuse.ON):
                problem, _ = probe(prepared, base_url)
                if problem:
                    raise BenchError(problem)
                attacked: dict = {}
                runner = threading.Thread(
                    target=lambda: attacked.update(
                        abuse.attack(base_url, admin, PG_URL, set(patients))
                    )
                )
                runner.start()
                result = drive(prepared, target, settings, outcome)
                runner.join()
                detected = abuse.wait_detected(
                    PG_URL,
                    attack_since,
                    bursts=abuse.BURSTS,
                    scrapers=attacked.get("scraper_orgs", []),
                )
            found["attack"] = {**attacked, "load_rps": round(result.rps, 1)}
            found["latency"] = abuse.latencies(detected)
            found["attack_incidents"] = {
                rule: sum(1 for i in detected if i["rule"] == rule)
                for rule in sorted({i["rule"] for i in detected})
            }
    except (BenchError, requests.RequestException, psycopg.Error, OSError) as exc:
        found["problem"] = f"{type(exc).__name__}: {exc}"
        return found
    if found["benign_incidents"]:
        found["problem"] = f"the benign mix raised {len(found['benign_incidents'])} incidents"
    say(f"{ABUSE_DETECTION}: latency {found['latency']}")
    return found


def bench(settings: Settings) -> dict:
    """Run every selected scenario against the dataset and a fresh server; return the results."""
    scenarios = selected(settings.only)
    machine = report.machine_info()
    machine["wrk"] = load.wrk_version()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    url, dataset = database.prepare(settings, say)
    machine["postgres"] = database.postgres_version()
    checks = uses = cohorts = None
    # With only phases asked for (BENCH_SCENARIOS naming no request but healthz), consent_bench
    # is left as it is: no sample, and no reset of the uses an earlier run wrote.
    if any(scenario.name != BASELINE for scenario in scenarios):
        checks = sample_checks(settings)
        uses = sample_uses(settings)
        say(
            f"data uses: {uses.uses:,} bodies for {uses.patients:,} patients "
            f"({uses.devices_added:,} devices added); undid "
            f"{uses.reset['data_uses_removed']:,} earlier uses"
        )
        cohorts = sample_cohorts()
        buckets = cohorts.summary["consenting_estimate_by_bucket"]
        say(
            f"cohort counts: {cohorts.summary['bodies']:,} bodies, estimated consenting counts "
            + ", ".join(f"{name}: {n}" for name, n in buckets.items())
        )
    outcomes = []
    say(f"starting gunicorn with {settings.workers} workers (the served configuration)")
    with gunicorn(url, settings.workers) as base_url:
        target = Target(
            base_url,
            token_margin=settings.warmup + settings.duration + TOKEN_SLACK,
            checks=checks,
            uses=uses,
            cohorts=cohorts,
        )
        for scenario in scenarios:
            outcomes.append(measure(scenario, target, settings, url))
    drain = measure_drain(settings, url) if phase_selected(PUSH_DRAIN, settings.only) else None
    hooks = None
    if phase_selected(WEBHOOK_DRAIN, settings.only):
        hooks = measure_webhook_drain(settings, url)
    invited = measure_fanout(url) if phase_selected(STUDY_FANOUT, settings.only) else None
    verified = None
    if phase_selected(LEDGER_VERIFY, settings.only):
        verified = measure_ledger(settings, dataset)
    healthz = next((o.result for o in outcomes if o.scenario.name == BASELINE and o.valid), None)
    audit = {}
    if phase_selected(AUDIT_LAG, settings.only):  # first: audit-scale then rewinds the log
        audit[AUDIT_LAG] = measure_audit_lag(settings, healthz)
    if phase_selected(AUDIT_SCALE, settings.only):
        audit[AUDIT_SCALE] = measure_audit_scale(settings)
    abused = None
    if phase_selected(ABUSE_DETECTION, settings.only):
        abused = measure_abuse(settings, url, uses)
    machine["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    results = report.build(
        stamp,
        machine,
        settings.as_dict(),
        outcomes,
        dataset,
        drain,
        uses,
        verified,
        hooks,
        invited,
        audit,
        abused,
    )
    results["profile"] = profile_if_needed(results, settings, url, checks, uses)
    return results


def profile_if_needed(
    results: dict, settings: Settings, url: str, checks: checkdata.CheckFiles, uses
) -> dict:
    """Profile in-process what missed a target (BENCH_PROFILE=auto): the check paths for a
    check target, the data use for the data-use target; both with BENCH_PROFILE=1."""
    missed = [t for t in results["targets"] if t["met"] is False]
    areas = {t["area"] for t in missed} & {"checks", "uses"}
    if settings.profile == "1":
        areas = {"checks", "uses"}
    if settings.profile == "0" or not areas:
        return {"skipped": "BENCH_PROFILE=0" if settings.profile == "0" else "every target met"}
    found: dict = {}
    for area, action in (
        ("checks", lambda: profile.run(url, checks)),
        (
            "uses",
            lambda: {
                "data_use": profile.run_uses(url, uses),
                "data_use_paid": profile.run_uses(url, uses, paid=True),
            },
        ),
    ):
        if area not in areas:
            continue
        why = ", ".join(t["name"] for t in missed if t["area"] == area)
        say(f"profiling {area} in-process ({why or 'BENCH_PROFILE=1'})")
        try:
            found.update(action())
        except Exception as exc:  # the profile is extra: never lose the measured figures to it
            say(f"profile of {area} failed: {type(exc).__name__}: {exc}")
            found[f"failed_{area}"] = f"{type(exc).__name__}: {exc}"
    return found


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
