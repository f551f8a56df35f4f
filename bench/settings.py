"""The knobs of a bench run, read from BENCH_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from consent_api.decisions.checks import MAX_BATCH

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SERVER_LOG = ROOT / "var" / "bench-gunicorn.log"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "consent_bench"
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"  # the same, for psycopg itself
ISSUER = "https://bench.invalid"
# The served app's PSEUDONYM_KEY: fixed, so the bodies sampled for one run (with the demo
# hospital's patient references in them) stay valid for the next.
PSEUDONYM_KEY = "bench-only-pseudonym-key-" + "0" * 32
WORK = ROOT / "var" / "bench"  # request bodies for wrk, rebuilt from the dataset each run
PROFILE_MODES = ("auto", "1", "0")


class BenchError(RuntimeError):
    """A bench step failed; the message says which and why."""


def cpu_count() -> int:
    """Return the CPUs this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip().removesuffix("s")
    return _positive(name, raw, default)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    return _positive(name, env.get(name, "").strip(), default)


def _natural(env: Mapping[str, str], name: str, default: int) -> int:
    """A count that may be 0 (to skip what it counts)."""
    raw = env.get(name, "").strip()
    return 0 if raw == "0" else _positive(name, raw, default)


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _profile_mode(env: Mapping[str, str]) -> str:
    raw = env.get("BENCH_PROFILE", "auto").strip().lower() or "auto"
    if raw not in PROFILE_MODES:
        raise BenchError(f"BENCH_PROFILE must be one of {PROFILE_MODES}, got {raw!r}")
    return raw


def _positive(name: str, raw: str, default: int) -> int:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BenchError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < 1:
        raise BenchError(f"{name} must be at least 1, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """How hard and how long to drive the service."""

    duration: int
    warmup: int
    workers: int
    threads: int
    connections: int
    only: tuple[str, ...]
    patients: int = 200_000
    consents: int = 1_000_000
    regenerate: bool = False
    batch_size: int = 1_000
    batch_requests: int = 200
    profile: str = "auto"
    drain_notices: int = 20_000
    drain_timeout: int = 120
    ledger_uses: int = 1_000_000
    ledger_runs: int = 3
    audit_entries: int = 10_000_000
    audit_proofs: int = 2_000
    audit_verify_runs: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the BENCH_* variables (see bench/README.md)."""
        env = os.environ if env is None else env
        settings = cls(
            duration=_seconds(env, "BENCH_DURATION", 10),
            warmup=_seconds(env, "BENCH_WARMUP", 2),
            workers=_count(env, "BENCH_WORKERS", cpu_count()),
            threads=_count(env, "BENCH_THREADS", 2),
            connections=_count(env, "BENCH_CONNECTIONS", 32),
            only=tuple(n.strip() for n in env.get("BENCH_SCENARIOS", "").split(",") if n.strip()),
            patients=_count(env, "BENCH_PATIENTS", 200_000),
            consents=_count(env, "BENCH_CONSENTS", 1_000_000),
            regenerate=_flag(env, "BENCH_REGENERATE"),
            batch_size=_count(env, "BENCH_BATCH_SIZE", 1_000),
            batch_requests=_count(env, "BENCH_BATCH_REQUESTS", 200),
            profile=_profile_mode(env),
            drain_notices=_count(env, "BENCH_DRAIN_NOTICES", 20_000),
            drain_timeout=_seconds(env, "BENCH_DRAIN_TIMEOUT", 120),
            ledger_uses=_count(env, "BENCH_LEDGER_USES", 1_000_000),
            ledger_runs=_count(env, "BENCH_LEDGER_RUNS", 3),
            audit_entries=_count(env, "BENCH_AUDIT_ENTRIES", 10_000_000),
            audit_proofs=_count(env, "BENCH_AUDIT_PROOFS", 2_000),
            audit_verify_runs=_natural(env, "BENCH_AUDIT_VERIFY_RUNS", 1),
        )
        if settings.connections < settings.threads:
            raise BenchError(
                "BENCH_CONNECTIONS must be at least BENCH_THREADS (wrk needs one each)"
            )
        if settings.batch_size > MAX_BATCH:
            raise BenchError(f"BENCH_BATCH_SIZE must be at most {MAX_BATCH} (the API's limit)")
        return settings

    def as_dict(self) -> dict[str, object]:
        """Return the settings for the results file."""
        return {
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "gunicorn_workers": self.workers,
            "worker_class": "server.gunicorn_conf.Worker (threaded)",
            "wrk_threads": self.threads,
            "wrk_connections": self.connections,
            "database": DATABASE,
            "dataset_patients": self.patients,
            "dataset_consents": self.consents,
            "regenerate": self.regenerate,
            "batch_size": self.batch_size,
            "batch_requests": self.batch_requests,
            "profile": self.profile,
            "drain_notices": self.drain_notices,
            "drain_timeout_s": self.drain_timeout,
            "ledger_uses": self.ledger_uses,
            "ledger_runs": self.ledger_runs,
            "audit_entries": self.audit_entries,
            "audit_proofs": self.audit_proofs,
            "audit_verify_runs": self.audit_verify_runs,
        }
