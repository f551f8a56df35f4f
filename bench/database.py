"""The bench database: dropped, recreated, migrated and seeded with the demo data each run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from bench.settings import ADMIN_URL, DATABASE, DATABASE_URL, ROOT, BenchError

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


def _cli(*args: str) -> None:
    """Run one `consent-wallet` command against the bench database in development mode."""
    env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": DATABASE_URL}
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


def prepare() -> str:
    """Recreate, migrate and seed the bench database; return its URL."""
    recreate()
    _cli("db", "upgrade")
    _cli("demo")
    return DATABASE_URL


def postgres_version() -> str:
    """Return the PostgreSQL server's version string."""
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return row[0] if row else "unknown"
