"""Configuration read from the environment (12-factor), with overrides for tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - the sentinel production refuses
DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-change-me"
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'var' / 'consent-wallet.db'}"


class ConfigError(RuntimeError):
    """Raised when the configuration is unsafe or inconsistent."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if not 0 < value < 3600:
        raise ConfigError(f"{name} must be between 0 and 3600 seconds, got {value!r}")
    return value


def _epsilon(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if not 0 <= value <= 100:
        raise ConfigError(f"{name} must be an epsilon between 0 and 100, got {value!r}")
    return value


def _database_url(raw: str) -> str:
    # Plain postgresql:// may select psycopg2, which we do not ship: always mean psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def engine_options(url: str) -> dict[str, Any]:
    """Return the engine options for a database URL."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        # Every session in UTC: timestamps come back as UTC without per-value conversion.
        # And no JIT compilation: our statements are short, but the planner's estimates for
        # some (a fan-out's candidates, a cohort count) pass its cost threshold, and compiling
        # took 170 ms of a 9 ms query (bench/README.md). A URL's own `-c jit=on` still wins.
        # connect_args replaces the URL's own `options`, so keep those (e.g. a search_path).
        given = make_url(url).query.get("options", "")
        given = given if isinstance(given, str) else " ".join(given)
        options["connect_args"] = {"options": f"-c jit=off {given} -c timezone=UTC".strip()}
    return options


def from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the application configuration from environment variables."""
    env = os.environ if env is None else env
    access_ttl = _int(env, "ACCESS_TOKEN_TTL", 900)
    return {
        "APP_ENV": env.get("APP_ENV", "development"),
        "SECRET_KEY": env.get("SECRET_KEY", DEV_SECRET_KEY),
        # The signing keys (server/signing.py); development makes var/signing-keys.json.
        "SIGNING_KEY_FILE": env.get("SIGNING_KEY_FILE") or None,
        "SQLALCHEMY_DATABASE_URI": _database_url(env.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_BODY_BYTES", 1_048_576),
        "MAX_BATCH_BODY_BYTES": _int(env, "MAX_BATCH_BODY_BYTES", 4 * 1_048_576),
        "BODY_TIMEOUT": _int(env, "BODY_TIMEOUT", 10),
        "WEB_THREADS": _int(env, "WEB_THREADS", 4),
        "ACCESS_TOKEN_TTL": access_ttl,
        "REFRESH_TOKEN_TTL": _int(env, "REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        "AUTH_CODE_TTL": _int(env, "AUTH_CODE_TTL", 120),
        "ISSUER": env.get("ISSUER", ""),
        # The trustee as consent receipts name it (consent_api/consents/receipts.py).
        "TRUSTEE_NAME": env.get("TRUSTEE_NAME", "Consent Wallet"),
        "JURISDICTION": env.get("JURISDICTION", "EU"),
        "PRIVACY_POLICY_URL": env.get("PRIVACY_POLICY_URL", ""),
        "PSEUDONYM_KEY": env.get("PSEUDONYM_KEY", DEV_PSEUDONYM_KEY),
        "LINK_CODE_TTL": _int(env, "LINK_CODE_TTL", 600),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_SIGNUP": env.get("RATELIMIT_SIGNUP", "10 per minute;100 per hour"),
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN", "10 per minute;100 per hour"),
        "RATELIMIT_LOGIN_ACCOUNT": env.get(
            "RATELIMIT_LOGIN_ACCOUNT", "10 per 15 minutes;50 per day"
        ),
        "RATELIMIT_LINK_CODES": env.get("RATELIMIT_LINK_CODES", "10 per hour;30 per day"),
        "RATELIMIT_LINK_REDEEM": env.get("RATELIMIT_LINK_REDEEM", "30 per minute;2000 per day"),
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "consent-wallet"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # If the shared store is unreachable, count in this process rather than fail requests.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        "PUSH_BACKEND": env.get("PUSH_BACKEND", "log"),
        "FIREBASE_CREDENTIALS": env.get("FIREBASE_CREDENTIALS", ""),
        "FCM_ENDPOINT": env.get("FCM_ENDPOINT", ""),
        "OUTBOX_LEASE_SECONDS": _int(env, "OUTBOX_LEASE_SECONDS", 60),
        "OUTBOX_POLL_SECONDS": _int(env, "OUTBOX_POLL_SECONDS", 1),
        "EVENT_RETENTION_DAYS": _int(env, "EVENT_RETENTION_DAYS", 30),
        "WEBHOOK_ALLOW_LOCAL": env.get("WEBHOOK_ALLOW_LOCAL", "") in ("1", "true", "yes"),
        "WEBHOOK_TIMEOUT_SECONDS": _float(env, "WEBHOOK_TIMEOUT_SECONDS", 5.0),
        "WEBHOOK_RETRY_BASE_SECONDS": _float(env, "WEBHOOK_RETRY_BASE_SECONDS", 5.0),
        "WEBHOOK_RETRY_HOURS": _int(env, "WEBHOOK_RETRY_HOURS", 24),
        "WEBHOOK_SECRET_GRACE_HOURS": _int(env, "WEBHOOK_SECRET_GRACE_HOURS", 24),
        "WEBHOOK_LEASE_SECONDS": _int(env, "WEBHOOK_LEASE_SECONDS", 60),
        "CONSENT_REMINDER_DAYS": _int(env, "CONSENT_REMINDER_DAYS", 7),
        "REQUEST_REMINDER_HOURS": _int(env, "REQUEST_REMINDER_HOURS", 24),
        "DATA_USE_MAX_AGE_HOURS": _int(env, "DATA_USE_MAX_AGE_HOURS", 72),
        "REFUSAL_ALERT_WINDOW_MINUTES": _int(env, "REFUSAL_ALERT_WINDOW_MINUTES", 60),
        "POINTS_COMMISSION_BP": _int(env, "POINTS_COMMISSION_BP", 1500),
        "POINTS_PATIENT_SHARE_BP": _int(env, "POINTS_PATIENT_SHARE_BP", 6000),
        "POINTS_EXPIRY_MONTHS": _int(env, "POINTS_EXPIRY_MONTHS", 24),
        # The privacy budget of an organisation the operator has set none for (cohort counts).
        "COHORT_BUDGET_EPSILON": _epsilon(env, "COHORT_BUDGET_EPSILON", 1.0),
        "COHORT_BUDGET_RENEWS_DAYS": _int(env, "COHORT_BUDGET_RENEWS_DAYS", 30),
        "POINTS_EXPIRY_WARNING_DAYS": _int(env, "POINTS_EXPIRY_WARNING_DAYS", 30),
        # Studies' invitations: how often the worker files them, how many a second at most,
        # how many kept open per place to fill, and how long each stays open.
        "STUDY_FANOUT_SECONDS": _int(env, "STUDY_FANOUT_SECONDS", 10),
        # How often the worker scans data uses for abuse (`detect-abuse`).
        "ABUSE_SCAN_SECONDS": _int(env, "ABUSE_SCAN_SECONDS", 10),
        "STUDY_INVITATIONS_PER_SECOND": _int(env, "STUDY_INVITATIONS_PER_SECOND", 50),
        "STUDY_INVITATIONS_PER_PLACE": _int(env, "STUDY_INVITATIONS_PER_PLACE", 10),
        "STUDY_INVITATION_DAYS": _int(env, "STUDY_INVITATION_DAYS", 30),
        "WTF_CSRF_TIME_LIMIT": 3600,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }


def check_consistent(config: Mapping[str, Any]) -> None:
    """Refuse settings that cannot work together, in any environment."""
    lease, timeout = config.get("WEBHOOK_LEASE_SECONDS"), config.get("WEBHOOK_TIMEOUT_SECONDS")
    if lease is not None and timeout is not None and lease < 2 * timeout:
        raise ConfigError(
            "WEBHOOK_LEASE_SECONDS must be at least twice WEBHOOK_TIMEOUT_SECONDS: a worker "
            "must be able to make an attempt and record it while it holds the endpoint"
        )


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to run in production with development secrets or an embedded database."""
    if config.get("APP_ENV") != "production":
        return
    secret = config.get("SECRET_KEY") or ""
    if secret == DEV_SECRET_KEY or len(secret) < 32:
        raise ConfigError("production needs SECRET_KEY set to a random value of 32+ characters")
    pseudonym_key = config.get("PSEUDONYM_KEY") or ""
    if pseudonym_key in (DEV_PSEUDONYM_KEY, secret) or len(pseudonym_key) < 32:
        raise ConfigError(
            "production needs PSEUDONYM_KEY set to a random value of 32+ characters, other "
            "than SECRET_KEY (and never changed: organisations' patient references derive from it)"
        )
    if config.get("WEBHOOK_ALLOW_LOCAL"):
        raise ConfigError(
            "production refuses WEBHOOK_ALLOW_LOCAL: webhooks go to public https only"
        )
    if not config.get("ISSUER", "").startswith("https://"):
        raise ConfigError("production needs ISSUER set to the public https:// base URL")
    if not config.get("SIGNING_KEY_FILE"):
        raise ConfigError(
            "production needs SIGNING_KEY_FILE: a JWK Set of the ES256 keys that sign tree "
            "heads and receipts (the first signs; all are published)"
        )


def warnings_for(config: Mapping[str, Any]) -> list[str]:
    """Return what is allowed but probably not meant, for the log at start-up."""
    found = []
    if config.get("APP_ENV") == "production" and config.get("RATELIMIT_STORAGE_URI") == "memory://":
        found.append(
            "RATELIMIT_STORAGE_URI=memory:// counts per process: with N web workers the "
            "sign-up and login limits are N times looser; point it at redis:// instead"
        )
    return found
