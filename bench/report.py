"""Judge, tabulate and store a run: ratios to /healthz, validity, JSON and markdown files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import auditreport
from bench.load import LoadResult
from bench.scenarios import (
    BASELINE,
    BATCH,
    BATCH_ONE_CONNECTION,
    COHORT_COUNT,
    COHORT_COUNT_ONE_CONNECTION,
    DATA_USE,
    DATA_USE_PAID,
    DATA_USE_PUSH,
    LEDGER_VERIFY,
    PUSH_DRAIN,
    SINGLE_CHECK,
    STUDY_FANOUT,
    WEBHOOK_DRAIN,
    Scenario,
)
from bench.settings import RESULTS, ROOT, cpu_count

MAX_BAD_SHARE = 0.01  # more non-2xx or socket errors than this makes a scenario invalid
TOP_REASONS = 4


@dataclass
class Outcome:
    """One scenario's measurement, or why there is none, and what makes it doubtful."""

    scenario: Scenario
    result: LoadResult | None = None
    warmup_rps: float | None = None
    problems: list[str] = field(default_factory=list)
    window: tuple[float, float] | None = None  # the measured wrk run, epoch seconds
    push: dict[str, Any] | None = None  # a push scenario's lag from use to push
    warmup_decisions: dict[str, int] = field(default_factory=dict)
    paid: dict[str, Any] | None = None  # a paid scenario's ledger check (bench/paid.py)
    webhooks: dict[str, Any] | None = None  # a push scenario's revocation → webhook lag
    cohort: dict[str, Any] | None = None  # cohort counts: the sample and the budget spent

    @property
    def valid(self) -> bool:
        """Tell whether the figures can be trusted."""
        return self.result is not None and not self.problems


def judge(result: LoadResult) -> list[str]:
    """Return the reasons a measurement is invalid: no requests, many non-2xx or socket errors."""
    if result.requests == 0:
        return ["no request completed"]
    problems = []
    if result.non2xx > MAX_BAD_SHARE * result.requests:
        problems.append(
            f"{result.non2xx / result.requests:.1%} non-2xx responses "
            f"({_statuses(result.statuses)})"
        )
    if result.socket_error_count > MAX_BAD_SHARE * result.requests:
        problems.append(
            f"{result.socket_error_count / result.requests:.1%} socket errors "
            f"({_statuses(result.socket_errors)})"
        )
    return problems


def judge_push(push: dict[str, Any]) -> list[str]:
    """Return why a push scenario's lag is doubtful: uses whose push never arrived."""
    uses = push.get("uses_in_window", 0)
    if uses == 0:
        return ["no data use was recorded in the measured window"]
    if push.get("not_pushed", 0) > MAX_BAD_SHARE * uses:
        return [
            f"{push['not_pushed']:,} of {uses:,} uses were not pushed within the wait "
            f"({push.get('left_due_after_wait', '?')} outbox rows still due)"
        ]
    return []


def judge_cohort(result: LoadResult) -> list[str]:
    """Return why a cohort-count run is doubtful: any 409 means the budget the setup gave
    ran out, and the cheap refusals that followed would flatter the latency."""
    exhausted = result.statuses.get("409", 0)
    if exhausted:
        return [
            f"{exhausted} answers were 409 (privacy budget exhausted): the setup's budget ran out"
        ]
    return []


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {count}" for key, count in sorted(counts.items()) if count) or "-"


def _ratio(value: float, reference: float) -> float | None:
    """Three decimals, or three significant digits below 0.01 (a cohort count's req/s)."""
    if not reference:
        return None
    ratio = value / reference
    return round(ratio, 3) if abs(ratio) >= 0.01 else float(f"{ratio:.3g}")


def git_state() -> dict[str, Any]:
    """Return the commit under test and whether the work tree differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Return what the figures depend on: CPUs, load, Python and tool versions."""
    return {
        "nproc": cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "gunicorn": version("gunicorn"),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }


def scenario_entry(outcome: Outcome, baseline: LoadResult | None) -> dict[str, Any]:
    """Return one scenario's figures and ratios for the results file (no header values)."""
    scenario, result = outcome.scenario, outcome.result
    entry: dict[str, Any] = {
        "name": scenario.name,
        "method": scenario.method,
        "path": scenario.path,
        "description": scenario.description,
        "header_names": sorted(scenario.headers),
        "valid": outcome.valid,
        "problems": outcome.problems,
        "warmup_rps": outcome.warmup_rps,
        "decision_field": scenario.decision_field if scenario.count_decisions else None,
    }
    if outcome.push is not None:
        entry["push"] = outcome.push
    if outcome.paid is not None:
        entry["paid"] = outcome.paid
    if outcome.webhooks is not None:
        entry["webhooks"] = outcome.webhooks
    if outcome.cohort is not None:
        entry["cohort"] = outcome.cohort
    if result is None:
        return entry
    entry.update(
        driver=scenario.driver,
        items_per_request=scenario.items,
        checks_per_s=round(result.rps * scenario.items, 1) if scenario.items > 1 else None,
        decisions=result.decisions,
        reasons=result.reasons,
        permit_share=None if result.permit_share is None else round(result.permit_share, 3),
    )
    entry.update(
        requests=result.requests,
        duration_s=round(result.duration_s, 3),
        rps=round(result.rps, 1),
        p50_ms=round(result.p50_ms, 2),
        p90_ms=round(result.p90_ms, 2),
        p99_ms=round(result.p99_ms, 2),
        mean_ms=round(result.mean_ms, 2),
        max_ms=round(result.max_ms, 2),
        non2xx=result.non2xx,
        statuses=result.statuses,
        socket_errors=result.socket_errors,
        rps_ratio=_ratio(result.rps, baseline.rps) if baseline else None,
        p99_ratio=_ratio(result.p99_ms, baseline.p99_ms) if baseline else None,
    )
    return entry


def _target(
    name: str,
    measured: float | None,
    op: str,
    goal: float,
    unit: str = "",
    area: str = "checks",
) -> dict:
    """Return one target: met is None when its figure was not measured. `area` says what a
    miss would be profiled for (the in-process profile covers the checks)."""
    met = None
    if measured is not None:
        met = measured >= goal if op == ">=" else measured <= goal
    shown = None if measured is None else round(measured, 3)
    return {
        "name": name,
        "measured": shown,
        "op": op,
        "goal": goal,
        "unit": unit,
        "met": met,
        "area": area,
    }


def _valid(entries: dict[str, dict], name: str) -> dict | None:
    entry = entries.get(name)
    return entry if entry is not None and entry["valid"] else None


def _webhook_targets(
    entries: dict[str, dict], hooks: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    pushing = _valid(entries, DATA_USE_PUSH)
    lag = pushing and pushing.get("webhooks")
    lag = lag if lag and lag.get("webhooks_received") == lag.get("revoked") else None
    push = pushing and pushing.get("push")
    one = next((h for h in hooks or () if h["endpoints"] == 1 and not h.get("problem")), None)
    return [
        _target(
            "revoke → webhook p99, one worker, under data-use load",
            lag and lag.get("p99_ms"),
            "<=",
            2000,
            " ms",
            area="webhooks",
        ),
        _target(
            "use → push p99, one worker, under data-use load",
            push and push.get("p99_ms"),
            "<=",
            500,
            " ms",
            area="push",
        ),
        _target(
            "webhook delivery, one worker, one endpoint",
            one and one.get("webhooks_per_s"),
            ">=",
            500,
            " webhooks/s",
            area="webhooks",
        ),
    ]


def targets(
    scenarios: list[dict[str, Any]],
    drain: dict[str, Any] | None = None,
    hooks: list[dict[str, Any]] | None = None,
    invited: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Return the targets, measured or not (reported, never asserted)."""
    entries = {entry["name"]: entry for entry in scenarios}
    use = _valid(entries, DATA_USE)
    cohort = _valid(entries, COHORT_COUNT)
    cohort_serial = _valid(entries, COHORT_COUNT_ONE_CONNECTION)
    drained = drain if drain and not drain.get("problem") else None
    single = _valid(entries, SINGLE_CHECK)
    serial = _valid(entries, BATCH_ONE_CONNECTION)
    batch = _valid(entries, BATCH)
    single_rps = single["rps"] if single else None
    serial_checks = None
    if serial and serial["p50_ms"]:
        serial_checks = serial["items_per_request"] / (serial["p50_ms"] / 1000)

    def per_single(checks: float | None) -> float | None:
        return checks / single_rps if checks and single_rps else None

    return [
        _target("single check req/s ÷ healthz", single and single["rps_ratio"], ">=", 0.40),
        _target("single check p99 ÷ healthz p99", single and single["p99_ratio"], "<=", 2.5),
        _target(
            f"batch of {serial['items_per_request']:,} median, one connection"
            if serial
            else "batch median, one connection",
            serial and serial["p50_ms"],
            "<=",
            30,
            " ms",
        ),
        _target(
            "batch checks/s (1 conn, median) ÷ single req/s",
            per_single(serial_checks),
            ">=",
            100,
            "x",
        ),
        _target(
            "batch checks/s (wrk) ÷ single req/s",
            per_single(batch and batch["checks_per_s"]),
            ">=",
            100,
            "x",
        ),
        _target("data use req/s ÷ healthz", use and use["rps_ratio"], ">=", 0.15, area="uses"),
        _target(
            "cohort count p99, one connection",
            cohort_serial and cohort_serial["p99_ms"],
            "<=",
            200,
            " ms",
            area="cohorts",
        ),
        _target(
            "cohort count p99 under wrk (all its connections)",
            cohort and cohort["p99_ms"],
            "<=",
            200,
            " ms",
            area="cohorts",
        ),
        _target(
            "push drain, one worker",
            drained and drained["notices_per_s"],
            ">=",
            500,
            " notices/s",
            area="push",
        ),
        *_webhook_targets(entries, hooks),
        _target(
            "study invitations, one worker",
            invited and not invited.get("problem") and invited.get("invitations_per_s"),
            ">=",
            1000,
            " invitations/s",
            area="studies",
        ),
    ]


def build(
    stamp: str,
    machine: dict[str, Any],
    settings: dict[str, Any],
    outcomes: list[Outcome],
    dataset: dict[str, Any] | None = None,
    drain: dict[str, Any] | None = None,
    uses: Any = None,
    verified: dict[str, Any] | None = None,
    hooks: list[dict[str, Any]] | None = None,
    invited: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
    abuse: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the whole results document of a run."""
    baseline = next((o.result for o in outcomes if o.scenario.name == BASELINE and o.valid), None)
    scenarios = [scenario_entry(o, baseline) for o in outcomes]
    sample = None
    if uses is not None:
        sample = {
            "bodies": uses.uses,
            "patients": uses.patients,
            "devices_added": uses.devices_added,
            "holder_org_id": uses.holder_org_id,
            **uses.reset,
        }
    return {
        "timestamp": stamp,
        "machine": machine,
        "git": git_state(),
        "settings": settings,
        "dataset": dataset,
        "baseline": BASELINE,
        "max_bad_share": MAX_BAD_SHARE,
        "valid": all(o.valid for o in outcomes)
        and not (drain and drain.get("problem"))
        and not (verified and verified.get("problem"))
        and not any(h.get("problem") for h in hooks or ())
        and not (invited and invited.get("problem"))
        and not auditreport.problems(audit or {})
        and not (abuse and abuse.get("problem")),
        "scenarios": scenarios,
        "data_use_sample": sample,
        PUSH_DRAIN: drain,
        LEDGER_VERIFY: verified,
        WEBHOOK_DRAIN: hooks,
        STUDY_FANOUT: invited,
        "audit": audit or {},
        "abuse_detection": abuse,
        "targets": targets(scenarios, drain, hooks, invited)
        + auditreport.targets(audit or {}, _target),
    }


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _row(entry: dict[str, Any]) -> str:
    cells = [
        entry["name"],
        f"{entry['method']} {entry['path']}",
        _num(entry.get("rps")),
        _num(entry.get("p50_ms"), 2),
        _num(entry.get("p99_ms"), 2),
        str(entry.get("non2xx", "n/a")),
        str(sum(entry["socket_errors"].values())) if "socket_errors" in entry else "n/a",
        _num(entry.get("rps_ratio"), 3),
        _num(entry.get("p99_ratio"), 2),
        "yes" if entry["valid"] else "**NO**",
    ]
    return "| " + " | ".join(cells) + " |"


def _dataset_line(dataset: dict[str, Any] | None) -> list[str]:
    if not dataset:
        return []
    how = "reused from an earlier run" if dataset.get("cached") else "generated by this run"
    return [
        f"Dataset ({how}): {dataset['patients']:,} patients, {dataset['consents']:,} consents, "
        f"{dataset.get('versions', 0):,} consent versions, {dataset.get('organisations', '?')} "
        f"organisations, schema {dataset['revision']}; loaded {dataset.get('generated_at')} "
        f"in {dataset.get('load_s', 0):.1f} s.",
        "",
    ]


def _reasons(entry: dict[str, Any]) -> str:
    reasons = entry.get("reasons") or {}
    total = sum(reasons.values())
    top = sorted(reasons.items(), key=lambda item: -item[1])[:TOP_REASONS]
    return ", ".join(f"{name} {count / total:.0%}" for name, count in top) if total else "-"


def _check_row(entry: dict[str, Any]) -> str:
    share = entry.get("permit_share")
    cells = [
        entry["name"],
        "1 (sequential)" if entry.get("driver") == "serial" else "wrk",
        f"{entry.get('items_per_request', 1):,}",
        _num(entry.get("rps")),
        _num(entry.get("checks_per_s") or entry.get("rps"), 0),
        _num(entry.get("p50_ms"), 2),
        _num(entry.get("p99_ms"), 2),
        "n/a" if share is None else f"{share:.1%}",
        _reasons(entry),
    ]
    return "| " + " | ".join(cells) + " |"


def _checks_section(results: dict[str, Any]) -> list[str]:
    entries = [
        e
        for e in results["scenarios"]
        if e.get("items_per_request") and e.get("decisions") and e["decision_field"] == "decision"
    ]
    if not entries:
        return []
    return [
        "",
        "### Consent checks",
        "",
        "| scenario | connections | checks/request | req/s | checks/s | p50 ms | p99 ms "
        "| permit share | top reasons |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
        *(_check_row(entry) for entry in entries),
    ]


def _use_row(entry: dict[str, Any]) -> str:
    share = entry.get("permit_share")
    push = entry.get("push") or {}
    cells = [
        entry["name"],
        "yes" if push else "no",
        _num(entry.get("rps")),
        _num(entry.get("p50_ms"), 2),
        _num(entry.get("p99_ms"), 2),
        _num(entry.get("rps_ratio"), 3),
        "n/a" if share is None else f"{share:.1%}",
        _reasons(entry),
        _num(push.get("p50_ms"), 0) if push else "-",
        _num(push.get("p99_ms"), 0) if push else "-",
        f"{push.get('pushed', 0):,} / {push.get('uses_in_window', 0):,}" if push else "-",
    ]
    return "| " + " | ".join(cells) + " |"


def _drain_lines(drain: dict[str, Any]) -> list[str]:
    if drain.get("notices_per_s") is None:
        return [f"- **{PUSH_DRAIN} failed**: {drain.get('problem', 'no figure')}"]
    lines = [
        f"Push drain: **{drain['notices_per_s']:,.0f} notices/s** — one worker "
        f"(`consent-wallet worker`, PUSH_BACKEND=fcm) sent {drain['delivered']:,} of "
        f"{drain['notices']:,} queued notices to the fake FCM server in "
        f"{drain['first_to_last_s']:.1f} s from the first arrival to the last "
        f"({drain['start_to_first_s']:.1f} s from starting the worker to the first); "
        f"CPU: worker {_num(drain.get('worker_cpu_s'), 1)} s, fake FCM "
        f"{_num(drain.get('fake_fcm_cpu_s'), 1)} s; duplicates {drain.get('duplicates', 0)}; "
        f"outbox afterwards {_statuses(drain.get('outbox_statuses') or {})}.",
    ]
    if drain.get("problem"):
        lines.append(f"- **{PUSH_DRAIN} invalid**: {drain['problem']}")
    return lines


def _webhook_lines(entry: dict[str, Any]) -> list[str]:
    found = entry.get("webhooks")
    if not found:
        return []
    if "p99_ms" not in found:
        return [f"- {entry['name']}: **no revocation webhook arrived** ({found})."]
    return [
        f"- {entry['name']}: {found['revoked']:,} consents revoked during the run (a few a "
        f"second, each in its own transaction); **revoke → webhook p50 "
        f"{_num(found['p50_ms'], 0)} ms, p99 {_num(found['p99_ms'], 0)} ms** (max "
        f"{_num(found['max_ms'], 0)} ms), {found['webhooks_received']:,} received at the "
        f"receiver; every signature verified with standardwebhooks: "
        f"{'yes' if found['all_verified'] else '**NO**'}."
    ]


def _hook_lines(hooks: list[dict[str, Any]]) -> list[str]:
    lines = []
    for found in hooks:
        if found.get("webhooks_per_s") is None:
            lines.append(f"- **{WEBHOOK_DRAIN} failed**: {found.get('problem', 'no figure')}")
            continue
        lines.append(
            f"Webhook drain, {found['endpoints']} endpoint(s): **{found['webhooks_per_s']:,.0f} "
            f"webhooks/s** — one worker delivered {found['delivered']:,} of {found['events']:,} "
            f"queued events to a local receiver (signatures verified: "
            f"{'yes' if found['all_verified'] else '**NO**'}) in {found['first_to_last_s']:.1f} s "
            f"from the first arrival to the last; worker CPU {_num(found.get('worker_cpu_s'), 1)} "
            f"s; duplicates {found['duplicates']}; deliveries afterwards "
            f"{_statuses(found.get('deliveries_after') or {})}."
        )
        if found.get("problem"):
            lines.append(f"- **{WEBHOOK_DRAIN} invalid**: {found['problem']}")
    return lines


def _paid_lines(entry: dict[str, Any]) -> list[str]:
    found = entry.get("paid")
    if not found:
        return []
    verify = found["verify"]
    match = "yes" if found["postings_match"] else "**NO**"
    return [
        f"- {entry['name']}: {found['consents_made_paid']:,} consents of "
        f"{found['patients']:,} patients cost {found['fee_per_consent']} points per use during "
        f"the run. The server wrote **{found['paid_uses']:,} paid uses** "
        f"({found['with_holder']:,} naming a holder; {found['unpaid_201s']} permitted unpaid; "
        f"{found.get('emergency_without_consent', 0)} emergency accesses without a consent, "
        "unpaid by design; "
        f"{found['refused_written']:,} refused) and **{found['use_fee_postings']:,} use_fee "
        f"postings** with {found['entries']:,} entries ({found['entries_expected']:,} expected "
        f"from the split) and {found['lots']:,} lots: match {match}. wrk saw "
        f"{found['wrk_201s']:,} of those 201s (probe, warm-up, run); the other "
        f"{found['written_not_seen_by_wrk']:,} were queued at the workers when wrk stopped.",
        "- `consent-wallet ledger verify` on consent_bench right after the run: "
        f"**{'ok' if verify.get('ok') else 'NOT ok'}** ({verify.get('postings', 0):,} postings, "
        f"{verify.get('entries', 0):,} entries) in {verify['wall_s']:.2f} s end to end "
        f"({verify.get('seconds')} s in verify()).",
    ]


INVARIANTS = (  # verify()'s counts that must be 0
    "sum_of_all_entries",
    "unbalanced_transactions",
    "wallets_not_matching_entries",
    "wallets_not_matching_lots",
    "negative_wallets",
    "paid_uses_without_exactly_one_posting",
)


def _invariants(result: dict[str, Any]) -> str:
    return ", ".join(f"{name} {result.get(name, '?')}" for name in INVARIANTS)


def _ledger_section(results: dict[str, Any]) -> list[str]:
    found = results.get(LEDGER_VERIFY)
    if not found:
        return []
    lines = ["", "### Ledger verify at scale", ""]
    if "cli_wall_s" not in found:
        return [*lines, f"- **{LEDGER_VERIFY} failed**: {found.get('problem', 'no figure')}"]
    stamp = found.get("dataset") or {}
    how = "reused from an earlier run" if stamp.get("cached") else "built by this run"
    inside = found["in_process"]
    runs = ", ".join(f"{s:.2f}" for s in found["cli_wall_s"])
    verify_runs = ", ".join(f"{s:.2f}" for s in found["cli_verify_s"] if s is not None)
    inside_runs = ", ".join(f"{s:.2f}" for s in inside["runs_s"])
    lines += [
        f"`{found['database']}` ({how}; loaded {stamp.get('generated_at')} in "
        f"{stamp.get('load_s', 0):.1f} s): {stamp.get('uses', 0):,} paid uses, "
        f"**{found['postings']:,} postings, {found['entries']:,} entries**, "
        f"{stamp.get('lots', 0):,} lots, {stamp.get('accounts', 0):,} accounts "
        f"({stamp.get('wallets', 0):,} wallets); {stamp.get('with_holder', 0):,} uses name a "
        "holder.",
        "",
        "| `ledger verify` | median s | runs (s) |",
        "|---|--:|---|",
        f"| CLI end to end (`consent-wallet ledger verify`, process start to exit) "
        f"| {found['cli_wall_median_s']:.2f} | {runs} |",
        f"| CLI, inside verify() (its `seconds`) | {found['cli_verify_median_s']:.2f} "
        f"| {verify_runs} |",
        f"| in-process verify() (bench process, app context) | {inside['median_s']:.2f} "
        f"| {inside_runs} |",
        "",
        f"Result: **{'ok' if found['ok'] else 'NOT ok'}** every run, CLI and in-process "
        f"({_invariants(found['cli_result'])}).",
    ]
    if inside.get("per_statement"):
        lines += [
            "",
            "| verify() check (one query each) | median s |",
            "|---|--:|",
            *(f"| {row['check']} | {row['median_s']:.3f} |" for row in inside["per_statement"]),
        ]
    lines += ["", f"- plans: {found.get('plans')}"]
    if found.get("problem"):
        lines.append(f"- **{LEDGER_VERIFY} invalid**: {found['problem']}")
    return lines


def _uses_section(results: dict[str, Any]) -> list[str]:
    names = (DATA_USE, DATA_USE_PAID, DATA_USE_PUSH)
    entries = [e for e in results["scenarios"] if e["name"] in names]
    drain = results.get(PUSH_DRAIN)
    if not entries and not drain and not results.get(WEBHOOK_DRAIN):
        return []
    lines = ["", "### Data uses and push delivery", ""]
    sample = results.get("data_use_sample")
    if sample:
        lines += [
            f"{sample['bodies']:,} sampled uses of {sample['patients']:,} patients, each with "
            f"one push device ({sample['devices_added']:,} registered by this run); "
            f"{sample['data_uses_removed']:,} uses of earlier runs undone first.",
            "",
        ]
    if entries:
        lines += [
            "| scenario | worker pushing | req/s | p50 ms | p99 ms | req/s ÷ healthz "
            "| permitted | reasons | use → push p50 ms | p99 ms | pushed / uses |",
            "|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|",
            *(_use_row(entry) for entry in entries),
            "",
        ]
        for entry in entries:
            lines += _paid_lines(entry)
            lines += _webhook_lines(entry)
            push = entry.get("push")
            if push and push.get("worker_cpu_s") is not None:
                lines.append(
                    f"- {entry['name']}: worker CPU {push['worker_cpu_s']:.1f} s, fake FCM "
                    f"CPU {_num(push.get('fake_fcm_cpu_s'), 1)} s over the run; pushes by type "
                    f"{_statuses(push.get('pushes_by_type') or {})}; max lag "
                    f"{_num(push.get('max_ms'), 0)} ms."
                )
        lines.append("")
    if drain:
        lines += _drain_lines(drain)
    hooks = results.get(WEBHOOK_DRAIN)
    if hooks:
        lines += ["", *_hook_lines(hooks)]
    return lines


def _fanout_section(results: dict[str, Any]) -> list[str]:
    found = results.get(STUDY_FANOUT)
    if not found:
        return []
    lines = ["", "### Study invitations (fan-out)", ""]
    if found.get("invitations_per_s") is None:
        return [*lines, f"- **{STUDY_FANOUT} failed**: {found.get('problem', 'no figure')}"]
    lines.append(
        f"**{found['invitations_per_s']:,.0f} invitations/s** — one worker "
        f"(`consent-wallet worker`, the fan-out unbounded) invited {found['invited']:,} of the "
        f"{found['expected']:,} patients who accept an approved study of {found['sponsor']} "
        f"(health research on `{found['data_category']}`), each a consent request, an inbox "
        f"notice and pushes for their devices, in {found['first_to_last_s']:.1f} s from the "
        f"first committed batch ({found['first_batch']:,}) to the last "
        f"({found['start_to_last_s']:.1f} s from starting the worker); worker CPU "
        f"{_num(found.get('worker_cpu_s'), 1)} s; patients over their cap: "
        f"{found.get('over_cap')}; deleted afterwards: {found.get('deleted', 0):,}."
    )
    if found.get("problem"):
        lines.append(f"- **{STUDY_FANOUT} invalid**: {found['problem']}")
    return lines


def _small(value: float | None) -> str:
    if value is None or abs(value) >= 0.01:
        return _num(value, 3)
    return f"{value:.2g}"


def _cohort_row(entry: dict[str, Any]) -> str:
    errors = sum(entry["socket_errors"].values())
    cells = [
        entry["name"],
        "1 (sequential)" if entry.get("driver") == "serial" else "wrk",
        f"{entry['requests']:,}",
        _num(entry["rps"]),
        _num(entry["p50_ms"], 2),
        _num(entry["p90_ms"], 2),
        _num(entry["p99_ms"], 2),
        _num(entry["max_ms"], 2),
        _small(entry.get("rps_ratio")),
        f"{entry['non2xx']} ({_statuses(entry['statuses'])})",
        str(errors),
    ]
    return "| " + " | ".join(cells) + " |"


def _cohort_section(results: dict[str, Any]) -> list[str]:
    names = (COHORT_COUNT, COHORT_COUNT_ONE_CONNECTION)
    entries = [e for e in results["scenarios"] if e["name"] in names]
    if not entries:
        return []
    lines = ["", "### Cohort counts", ""]
    measured = [e for e in entries if "requests" in e]
    if measured:
        lines += [
            "| scenario | connections | requests | req/s | p50 ms | p90 ms | p99 ms | max ms "
            "| req/s ÷ healthz | non-2xx (by status) | socket errors |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|---|--:|",
            *(_cohort_row(entry) for entry in measured),
            "",
        ]
    sample = next((e["cohort"]["sample"] for e in entries if e.get("cohort")), None)
    if sample:
        lines.append(
            f"- {sample['bodies']:,} sampled scopes of the demo pharma "
            f"({sample['with_data_period']:,} with a data period, "
            f"{sample['default_epsilon']:,} with the default epsilon); estimated consenting "
            f"count by size: {_statuses(sample['consenting_estimate_by_bucket'])} (median "
            f"{sample['consenting_estimate_median']:,}); invitable (exact): "
            f"{_statuses(sample['invitable_by_bucket'])} (median {sample['invitable_median']:,})."
        )
    for entry in entries:
        budget = (entry.get("cohort") or {}).get("budget") or {}
        if "spent_epsilon" in budget:
            lines.append(
                f"- {entry['name']}: privacy budget written by the setup "
                f"{budget['total_epsilon']:,.0f} epsilon; spent during the scenario (probe, "
                f"warm-up, run and what was still queued) {budget['spent_epsilon']:,.2f}."
            )
    return lines


def _targets_section(results: dict[str, Any]) -> list[str]:
    rows = []
    for target in results.get("targets", []):
        met = {True: "yes", False: "**NO**", None: "not measured"}[target["met"]]
        unit = target["unit"]
        measured = "n/a" if target["measured"] is None else f"{target['measured']:,.2f}{unit}"
        goal = f"{target['op'].replace('>=', '≥').replace('<=', '≤')} {target['goal']}{unit}"
        rows.append(f"| {target['name']} | {measured} | {goal} | {met} |")
    if not rows:
        return []
    return [
        "",
        "### Targets (reported, not asserted)",
        "",
        "| target | measured | goal | met |",
        "|---|--:|--:|---|",
        *rows,
    ]


def _trips_line(trips: dict[str, Any], what: str) -> str:
    kinds = ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(trips["by_kind"].items(), key=lambda kv: -kv[1])
    )
    return (
        f"SQL round trips per {what}: **{trips['per_check']:.2f}** ({kinds}); "
        f"pool checkouts {trips['checkouts_per_check']:.2f}, "
        f"pre-pings {trips['pings_per_check']:.2f}."
    )


def _phase_rows(phases: list[dict[str, Any]], what: str) -> list[str]:
    lines = [f"| phase of one {what} | µs per {what} | share |", "|---|--:|--:|"]
    lines += [f"| {p['phase']} | {p['us']:,.0f} | {p['share']:.0%} |" for p in phases]
    return [*lines, ""]


def _profile_section(results: dict[str, Any]) -> list[str]:
    found = results.get("profile")
    if not found:
        return []
    if "skipped" in found:
        return ["", f"Profile: {found['skipped']}."]
    lines = ["", "### Profile (in-process, test client, production settings)", ""]
    for key in ("failed", "failed_checks", "failed_uses"):
        if key in found:
            lines += [f"Profile failed: {found[key]}.", ""]
    trips = found.get("round_trips") or {}
    if trips:
        lines += [_trips_line(trips, "single check"), ""]
    phases = found.get("phases") or []
    if phases:
        lines += _phase_rows(phases, "single check")
    if found.get("batch_ms_in_process") is not None:
        lines.append(
            f"One batch in-process (no profiler): median {found['batch_ms_in_process']:,.1f} ms, "
            f"of which garbage collection {found.get('batch_gc_ms_in_process', 0):,.1f} ms."
        )
        lines.append("")
    files = list(found.get("files", []))
    for key, what in (("data_use", "data use"), ("data_use_paid", "paid data use")):
        use = found.get(key) or {}
        if use.get("round_trips"):
            lines += [_trips_line(use["round_trips"], what), ""]
        if use.get("phases"):
            lines += _phase_rows(use["phases"], what)
        files += use.get("files", [])
    for name in files:
        lines.append(f"- {name}")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """Return the run as a short markdown report: scenarios, checks, targets, profile."""
    m, s, g = results["machine"], results["settings"], results["git"]
    commit = (g["commit"] or "unknown")[:12] + (" (dirty tree)" if g["dirty"] else "")
    lines = [
        f"## Consent Wallet bench {results['timestamp']}",
        "",
        f"commit {commit} · {m['nproc']} CPUs ({m['cpu_model']}) · Python {m['python']} · "
        f"load avg {m['loadavg_before'][0]} → {m.get('loadavg_after', ['?'])[0]}",
        f"gunicorn {m['gunicorn']}, {s['gunicorn_workers']} workers · "
        f"PostgreSQL {m.get('postgres', '?')} · {m.get('wrk', 'wrk')}, {s['wrk_threads']} threads, "
        f"{s['wrk_connections']} connections, {s['duration_s']} s after {s['warmup_s']} s warm-up",
        "",
        *_dataset_line(results.get("dataset")),
        "| scenario | request | req/s | p50 ms | p99 ms | non-2xx | socket errors "
        "| req/s ÷ healthz | p99 ÷ healthz | valid |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
        *(_row(entry) for entry in results["scenarios"]),
        "",
        f"Ratios are taken against /{results['baseline']} in the same run. A scenario is invalid "
        f"when over {results['max_bad_share']:.0%} of its responses are non-2xx or socket errors.",
    ]
    for entry in results["scenarios"]:
        for problem in entry["problems"]:
            lines.append(f"- **{entry['name']} invalid**: {problem}")
        if entry["valid"] and entry.get("non2xx"):
            lines.append(f"- {entry['name']}: {entry['non2xx']} non-2xx ({entry['statuses']})")
    lines += _checks_section(results) + _uses_section(results) + _cohort_section(results)
    lines += _fanout_section(results)
    lines += _ledger_section(results)
    lines += auditreport.section(results.get("audit"))
    lines += _targets_section(results) + _profile_section(results)
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    """Write a file atomically (a .tmp sibling, then rename)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def write(results: dict[str, Any], text: str) -> list[Path]:
    """Store <timestamp>.json/.md and refresh latest.json/.md; return the paths written."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = json.dumps(results, indent=2, sort_keys=True) + "\n"
    stamp = results["timestamp"].replace("-", "").replace(":", "")
    paths = []
    for name, content in (
        (f"{stamp}.json", document),
        (f"{stamp}.md", text),
        ("latest.json", document),
        ("latest.md", text),
    ):
        _write(RESULTS / name, content)
        paths.append(RESULTS / name)
    return paths
