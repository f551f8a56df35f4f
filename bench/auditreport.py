"""The audit log's part of the report: `audit-scale` (proofs and `audit verify` over 10M
entries) and `audit-lag` (entry to signed tree head under a data-use load), and their targets."""

from __future__ import annotations

import os
from typing import Any

from bench.scenarios import AUDIT_LAG, AUDIT_SCALE

INCLUSION_P99_MS = 10
LAG_P99_MS = 5000


def _fig(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def targets(audit: dict[str, Any], target) -> list[dict[str, Any]]:
    """The audit targets (`target` is report._target)."""
    scale = audit.get(AUDIT_SCALE) or {}
    lag = audit.get(AUDIT_LAG) or {}
    inclusion = scale.get("inclusion") if not scale.get("problem") else None
    size = scale.get("tree_size")
    return [
        target(
            f"inclusion proof p99, in-process, {size:,} entries"
            if size
            else "inclusion proof p99, in-process (10M entries)",
            inclusion and inclusion["p99_ms"],
            "<=",
            INCLUSION_P99_MS,
            " ms",
            area="audit",
        ),
        target(
            "entry → signed tree head p99, one worker, under data-use load",
            None if lag.get("problem") else lag.get("p99_ms"),
            "<=",
            LAG_P99_MS,
            " ms",
            area="audit",
        ),
    ]


def problems(audit: dict[str, Any]) -> list[str]:
    """What makes the audit phases invalid."""
    return [f"{name}: {found['problem']}" for name, found in audit.items() if found.get("problem")]


def _scale_lines(found: dict[str, Any]) -> list[str]:
    lines = ["", f"### Audit log at scale (`{AUDIT_SCALE}`)", ""]
    if "inclusion" not in found:
        return [*lines, f"- **{AUDIT_SCALE} failed**: {found.get('problem', 'no figure')}"]
    stamp = found.get("dataset") or {}
    built = "reused" if stamp.get("cached") else f"built in {_fig(stamp.get('build_s'), 0)} s"
    phases = stamp.get("log_phases_s") or {}
    copy = next((s for name, s in phases.items() if name.startswith("COPY")), None)
    inclusion, consistency = found["inclusion"], found["consistency"]
    check = found.get("check") or {}
    lines += [
        f"`{found['database']}`: {found['tree_size']:,} entries, {found['tree_heads']:,} signed "
        f"tree heads ({built}; generating, hashing and copying the log "
        f"{_fig(copy, 0)} s, the whole database {_fig(stamp.get('build_s'), 0)} s). Check: the "
        f"first {check.get('prefix_leaves', 0):,} leaves and {check.get('prefix_heads', 0)} heads "
        f"rebuilt by the app's code match: {check.get('ok')}; inclusion proofs verified "
        f"{check.get('inclusion_proofs_verified')}. Load average (1 min) around the proofs: "
        f"{' → '.join(str(x) for x in found.get('loadavg_1m') or ())} on "
        f"{os.cpu_count()} CPUs.",
        "",
        "| proof (in-process, `consent_api.audit.proofs`) | samples | p50 ms | p90 ms | p99 ms "
        "| max ms | not verified |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for name, spread in (
        ("inclusion, latest head", inclusion),
        ("consistency, two heads", consistency),
    ):
        lines.append(
            f"| {name} | {spread['samples']:,} | {_fig(spread['p50_ms'])} | "
            f"{_fig(spread['p90_ms'])} | {_fig(spread['p99_ms'])} | {_fig(spread['max_ms'])} | "
            f"{spread['not_verified']} |"
        )
    for number, run in enumerate(found.get("verify_runs") or (), start=1):
        lines.append(
            f"- `consent-wallet audit verify` run {number}: {_fig(run.get('wall_s'), 1)} s end to "
            f"end, {_fig(run.get('seconds'), 1)} s in `verify()`, ok={run.get('ok')} "
            f"({run.get('tree_size', 0):,} leaves, {run.get('heads_checked', 0):,} heads checked)"
        )
    if found.get("problem"):
        lines.append(f"- **{AUDIT_SCALE} invalid**: {found['problem']}")
    return lines


def _lag_lines(found: dict[str, Any]) -> list[str]:
    lines = ["", f"### Checkpoint lag under data-use load (`{AUDIT_LAG}`)", ""]
    if "p99_ms" not in found:
        return [*lines, f"- **{AUDIT_LAG} failed**: {found.get('problem', 'no figure')}"]
    load = found.get("load") or {}
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(found["kinds"].items()))
    lines.append(
        f"On `{found['database']}` (a log of {found['tree_size_before']:,} entries), the "
        f"`data-use` load ({_fig(load.get('rps'), 1)} req/s, p99 {_fig(load.get('p99_ms'), 1)} "
        f"ms) with one worker sequencing: **entry → signed tree head p50 "
        f"{found['p50_ms']:,.0f} ms, p99 {found['p99_ms']:,.0f} ms, max {found['max_ms']:,.0f} "
        f"ms** over the {found['entries']:,} entries recorded in the measured window ({kinds}); "
        f"{found['heads_in_window']:,} heads made in it ({_fig(found['entries_per_head'], 1)} "
        f"entries per head); worker CPU {_fig(found.get('worker_cpu_s'), 1)} s; left queued "
        f"{found['left_in_queue']}, without a head {found['leaves_without_head']}."
    )
    if found.get("problem"):
        lines.append(f"- **{AUDIT_LAG} invalid**: {found['problem']}")
    return lines


def section(audit: dict[str, Any] | None) -> list[str]:
    """The markdown of whichever audit phases ran."""
    audit = audit or {}
    lines: list[str] = []
    if audit.get(AUDIT_LAG) is not None:
        lines += _lag_lines(audit[AUDIT_LAG])
    if audit.get(AUDIT_SCALE) is not None:
        lines += _scale_lines(audit[AUDIT_SCALE])
    return lines
