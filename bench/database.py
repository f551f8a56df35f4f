"""The bench database: migrated, seeded with the demo data and loaded with the generated
dataset; reused as it is when it already holds the dataset asked for (see bench/generate.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from alembic.script import ScriptDirectory
from psycopg import sql

from bench import generate
from bench.settings import ADMIN_URL, DATABASE, DATABASE_URL, PG_URL, ROOT, BenchError, Settings

CLI = Path(sys.executable).parent / "consent-wallet"
STEP_TIMEOUT = 120


def recreate() -> None:
    """Drop the bench database (closing its sessions) and create it empty."""
    name = sql.Identifier(DATABASE)
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
    except psycopg.OperationalError as exc:
        raise BenchError(
            f"PostgreSQL at {ADMIN_URL} is not usable ({exc}); start it first, e.g. "
            "pg_ctlcluster <version> main start"
        ) from exc


def cli(*args: str, database_url: str = DATABASE_URL) -> None:
    """Run one `consent-wallet` command against a bench database in development mode."""
    env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": database_url}
    env["LOG_LEVEL"] = "WARNING"
    try:
        done = subprocess.run(
            [str(CLI), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`consent-wallet {' '.join(args)}` took over {STEP_TIMEOUT}s") from exc
    if done.returncode != 0:
        raise BenchError(
            f"`consent-wallet {' '.join(args)}` exited {done.returncode}:\n"
            f"{done.stdout}{done.stderr}"
        )


def head_revision() -> str:
    """Return the Alembic head revision of the code under test."""
    head = ScriptDirectory(str(ROOT / "migrations")).get_current_head()
    if head is None:
        raise BenchError("migrations/ has no head revision")
    return head


def prepare(settings: Settings, say: Callable[[str], None]) -> tuple[str, dict[str, Any]]:
    """Make the bench database hold the dataset asked for; return its URL and the dataset.

    Reused when its comment records a dataset of the same size, generator and schema
    revision (the demo seed is re-run, which only resets the demo secrets); otherwise, or
    with BENCH_REGENERATE=1, dropped, migrated, seeded and loaded again.
    """
    spec = generate.Spec(patients=settings.patients, consents=settings.consents)
    revision = head_revision()
    found = None
    if not settings.regenerate:
        found = generate.cached(spec, revision, url=PG_URL, admin_url=ADMIN_URL, database=DATABASE)
    if found is not None:
        say(
            f"dataset cached: {spec.patients:,} patients, {spec.consents:,} consents at "
            f"revision {revision}, loaded {found.get('generated_at')} in {found.get('load_s')}s; "
            "not regenerating (BENCH_REGENERATE=1 forces it)"
        )
        cli("demo")
        return DATABASE_URL, {**found, "cached": True}
    say(f"recreating, migrating and seeding the {DATABASE} database")
    recreate()
    cli("db", "upgrade")
    cli("demo")
    say(f"generating {spec.patients:,} patients and {spec.consents:,} consents")
    try:
        stamp = generate.load(PG_URL, spec, revision, database=DATABASE, say=say)
    except psycopg.Error as exc:
        raise BenchError(f"loading the dataset failed: {exc}") from exc
    say(f"dataset loaded in {stamp['load_s']:.1f}s")
    return DATABASE_URL, {**stamp, "cached": False}


def postgres_version() -> str:
    """Return the PostgreSQL server's version string."""
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return row[0] if row else "unknown"
