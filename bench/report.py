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

from bench.load import LoadResult
from bench.scenarios import BASELINE, Scenario
from bench.settings import RESULTS, ROOT, cpu_count

MAX_BAD_SHARE = 0.01  # more non-2xx or socket errors than this makes a scenario invalid


@dataclass
class Outcome:
    """One scenario's measurement, or why there is none, and what makes it doubtful."""

    scenario: Scenario
    result: LoadResult | None = None
    warmup_rps: float | None = None
    problems: list[str] = field(default_factory=list)

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


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {count}" for key, count in sorted(counts.items()) if count) or "-"


def _ratio(value: float, reference: float) -> float | None:
    return round(value / reference, 3) if reference else None


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
    }
    if result is None:
        return entry
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


def build(
    stamp: str, machine: dict[str, Any], settings: dict[str, Any], outcomes: list[Outcome]
) -> dict[str, Any]:
    """Return the whole results document of a run."""
    baseline = next((o.result for o in outcomes if o.scenario.name == BASELINE and o.valid), None)
    return {
        "timestamp": stamp,
        "machine": machine,
        "git": git_state(),
        "settings": settings,
        "baseline": BASELINE,
        "max_bad_share": MAX_BAD_SHARE,
        "valid": all(o.valid for o in outcomes),
        "scenarios": [scenario_entry(o, baseline) for o in outcomes],
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


def markdown(results: dict[str, Any]) -> str:
    """Return the run as a short markdown report with one table."""
    m, s, g = results["machine"], results["settings"], results["git"]
    commit = (g["commit"] or "unknown")[:12] + (" (dirty tree)" if g["dirty"] else "")
    lines = [
        f"## Consent Wallet bench {results['timestamp']}",
        "",
        f"commit {commit} · {m['nproc']} CPUs ({m['cpu_model']}) · Python {m['python']} · "
        f"load avg {m['loadavg_before'][0]} → {m.get('loadavg_after', ['?'])[0]}",
        f"gunicorn {m['gunicorn']}, {s['gunicorn_workers']} sync workers · "
        f"PostgreSQL {m.get('postgres', '?')} · {m.get('wrk', 'wrk')}, {s['wrk_threads']} threads, "
        f"{s['wrk_connections']} connections, {s['duration_s']} s after {s['warmup_s']} s warm-up",
        "",
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
