"""Drive one scenario with wrk, in a second process, and read the JSON its Lua script prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.scenarios import Scenario
from bench.settings import BenchError

SCRIPT = Path(__file__).with_name("scenario.lua")
MARKER = "BENCH_JSON "
GRACE = 30


@dataclass(frozen=True)
class LoadResult:
    """What wrk measured for one scenario."""

    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non2xx: int
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    decisions: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Return requests per second over the measured window."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def socket_error_count(self) -> int:
        """Return connect, read, write and timeout errors together."""
        return sum(self.socket_errors.values())

    @property
    def permit_share(self) -> float | None:
        """Return the share of counted decisions that were permits (a check's `permit`, a
        data use's `permitted`), if any were counted."""
        total = sum(self.decisions.values())
        permits = self.decisions.get("permit", 0) + self.decisions.get("permitted", 0)
        return permits / total if total else None


def wrk_binary() -> str:
    """Return the path of wrk, or fail saying how to get it."""
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("wrk is not on PATH; `make bench` installs it (apt-get install -y wrk)")
    return found


def wrk_version() -> str:
    """Return wrk's version line."""
    done = subprocess.run(
        [wrk_binary(), "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    lines = (done.stdout + done.stderr).splitlines()
    return lines[0].split(" Copyright")[0].strip() if lines else "unknown"


def wrk_argv(
    scenario: Scenario, base_url: str, threads: int, connections: int, seconds: int
) -> list[str]:
    """Return wrk's command line for one scenario."""
    argv = [wrk_binary(), "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    argv += ["--timeout", f"{scenario.timeout_s}s", "-s", str(SCRIPT)]
    for name, value in scenario.headers.items():
        argv += ["-H", f"{name}: {value}"]
    return [*argv, f"{base_url}{scenario.path}"]


LUA_VARIABLES = {
    "BENCH_METHOD",
    "BENCH_BODY",
    "BENCH_BODIES",
    "BENCH_COUNT_DECISIONS",
    "BENCH_DECISION_FIELD",
    "BENCH_REFUSAL_STATUS",
    "BENCH_IDEMPOTENCY_PREFIX",
    "BENCH_STAMP_NOW",
}


def wrk_env(scenario: Scenario) -> dict[str, str]:
    """Return wrk's environment: the method, body or bodies file its Lua script reads, and
    for data uses a fresh Idempotency-Key prefix, the NOW stamping and the refusal status."""
    env = {k: v for k, v in os.environ.items() if k not in LUA_VARIABLES}
    env["BENCH_METHOD"] = scenario.method
    if scenario.bodies is not None:
        env["BENCH_BODIES"] = str(scenario.bodies)  # `body` is then only the probe's
    elif scenario.body is not None:
        env["BENCH_BODY"] = scenario.body
    if scenario.count_decisions:
        env["BENCH_COUNT_DECISIONS"] = "1"
        env["BENCH_DECISION_FIELD"] = scenario.decision_field
    if scenario.refusal_status is not None:
        env["BENCH_REFUSAL_STATUS"] = str(scenario.refusal_status)
    if scenario.idempotent:
        env["BENCH_IDEMPOTENCY_PREFIX"] = f"bench-{uuid.uuid4().hex[:12]}"  # new per wrk run
    if scenario.stamp_now:
        env["BENCH_STAMP_NOW"] = "1"
    return env


def parse(output: str) -> LoadResult:
    """Parse the BENCH_JSON line printed by scenario.lua's done()."""
    lines = [line for line in output.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise BenchError(f"wrk printed no {MARKER.strip()} line:\n{output[-2000:]}")
    data = json.loads(lines[-1][len(MARKER) :])
    latency = data["latency_us"]
    errors = data["errors"]
    return LoadResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        max_ms=latency["max"] / 1000,
        non2xx=data["non2xx"],
        statuses=data["statuses"],
        socket_errors={k: errors[k] for k in ("connect", "read", "write", "timeout")},
        decisions=data.get("decisions", {}),
        reasons=data.get("reasons", {}),
    )


def run(
    scenario: Scenario, base_url: str, threads: int, connections: int, seconds: int
) -> LoadResult:
    """Load the scenario for `seconds` and return what wrk measured."""
    argv = wrk_argv(scenario, base_url, threads, connections, seconds)
    try:
        done = subprocess.run(
            argv,
            env=wrk_env(scenario),
            capture_output=True,
            text=True,
            timeout=seconds + GRACE,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk ran past {seconds + GRACE}s on {scenario.name}") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk exited {done.returncode} on {scenario.name}:\n{done.stderr}")
    return parse(done.stdout)
