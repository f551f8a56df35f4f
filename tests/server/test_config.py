"""Configuration comes from the environment; production refuses unsafe defaults."""

import pytest
from sqlalchemy import text

from server.app import create_app
from server.config import DEV_SECRET_KEY, ConfigError, from_env


def test_defaults_are_safe_for_development():
    config = from_env({})
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["ACCESS_TOKEN_TTL"] == 900


def test_plain_postgresql_urls_mean_psycopg_3():
    config = from_env({"DATABASE_URL": "postgresql://u@h/db"})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_non_integer_setting_is_a_clear_error():
    with pytest.raises(ConfigError, match="ACCESS_TOKEN_TTL"):
        from_env({"ACCESS_TOKEN_TTL": "soon"})


def test_production_refuses_the_default_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"APP_ENV": "production", "SECRET_KEY": DEV_SECRET_KEY})


def test_production_refuses_a_short_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"APP_ENV": "production", "SECRET_KEY": "short"})


def test_production_requires_an_https_issuer():
    with pytest.raises(ConfigError, match="ISSUER"):
        create_app({"APP_ENV": "production", "SECRET_KEY": "s" * 48, "PSEUDONYM_KEY": "p" * 48})


@pytest.mark.parametrize("key", [None, "short", "s" * 48])
def test_production_requires_a_pseudonym_key_of_its_own(key):
    """Organisations' patient references derive from it: never the default, nor SECRET_KEY."""
    config = {"APP_ENV": "production", "SECRET_KEY": "s" * 48, "ISSUER": "https://w.example"}
    with pytest.raises(ConfigError, match="PSEUDONYM_KEY"):
        create_app({**config, **({"PSEUDONYM_KEY": key} if key else {})})


def test_production_starts_with_real_settings(database_url, signing_key_file):
    app = create_app(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "s" * 48,
            "PSEUDONYM_KEY": "p" * 48,
            "ISSUER": "https://wallet.example",
            "SIGNING_KEY_FILE": signing_key_file,
            "SQLALCHEMY_DATABASE_URI": database_url,
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    metadata = app.test_client().get("/.well-known/oauth-authorization-server").json
    assert metadata["token_endpoint"] == "https://wallet.example/oauth/token"


def test_production_warns_that_memory_rate_limits_count_per_process():
    from server.config import warnings_for

    production = {"APP_ENV": "production", "RATELIMIT_STORAGE_URI": "memory://"}
    assert any("per process" in w for w in warnings_for(production))
    assert warnings_for({**production, "RATELIMIT_STORAGE_URI": "redis://r:6379"}) == []


def test_trusted_proxy_headers_set_the_client_address_for_rate_limits(database_url):
    from server.ratelimit import limiter
    from tests.conftest import app_config

    app = create_app(app_config(database_url, TRUSTED_PROXIES=1, RATELIMIT_SIGNUP="1 per minute"))
    limiter.reset()
    web = app.test_client()
    first = web.post("/v1/patients", json={}, headers={"X-Forwarded-For": "203.0.113.1"})
    other = web.post("/v1/patients", json={}, headers={"X-Forwarded-For": "203.0.113.2"})
    again = web.post("/v1/patients", json={}, headers={"X-Forwarded-For": "203.0.113.1"})
    assert (first.status_code, other.status_code, again.status_code) == (422, 422, 429)
    limiter.reset()


def test_production_refuses_webhooks_to_local_addresses():
    config = {"APP_ENV": "production", "SECRET_KEY": "s" * 48, "PSEUDONYM_KEY": "p" * 48}
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_LOCAL"):
        create_app({**config, "ISSUER": "https://w.example", "WEBHOOK_ALLOW_LOCAL": True})


def test_a_webhook_lease_must_outlast_two_attempts():
    with pytest.raises(ConfigError, match="WEBHOOK_LEASE_SECONDS"):
        create_app({"WEBHOOK_LEASE_SECONDS": 3, "WEBHOOK_TIMEOUT_SECONDS": 5.0})


def test_a_webhook_timeout_must_be_a_sensible_number_of_seconds():
    with pytest.raises(ConfigError, match="WEBHOOK_TIMEOUT_SECONDS"):
        from_env({"WEBHOOK_TIMEOUT_SECONDS": "0"})
    assert from_env({"WEBHOOK_TIMEOUT_SECONDS": "2.5"})["WEBHOOK_TIMEOUT_SECONDS"] == 2.5


def test_postgresql_sessions_run_in_utc_without_jit(app):
    """Every PostgreSQL session the app opens reads timestamps in UTC and never JIT-compiles
    (compiling cost 170 ms of a 9 ms fan-out query in the bench)."""
    from server.db import db, reads

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("a PostgreSQL session setting")
        settings = "SELECT current_setting('jit'), current_setting('TimeZone')"
        assert tuple(db.session.execute(text(settings)).one()) == ("off", "UTC")
        assert tuple(reads.execute(text(settings), {}).one()) == ("off", "UTC")


PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 48,
    "PSEUDONYM_KEY": "p" * 48,
    "ISSUER": "https://wallet.example",
}


def test_production_refuses_to_start_without_signing_keys(database_url):
    with pytest.raises(ConfigError, match="SIGNING_KEY_FILE"):
        create_app({**PRODUCTION, "SQLALCHEMY_DATABASE_URI": database_url})


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"keys": []}',
        '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}',  # no private part
        '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}',
    ],
)
def test_production_refuses_a_key_file_without_a_usable_private_key(
    database_url, tmp_path, content
):
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="SIGNING_KEY_FILE"):
        create_app(
            {**PRODUCTION, "SIGNING_KEY_FILE": str(path), "SQLALCHEMY_DATABASE_URI": database_url}
        )


def test_consent_receipts_name_the_trustee_from_the_environment():
    defaults = from_env({})
    assert (defaults["TRUSTEE_NAME"], defaults["JURISDICTION"]) == ("Consent Wallet", "EU")
    assert defaults["PRIVACY_POLICY_URL"] == ""
    given = from_env({"TRUSTEE_NAME": "Trust", "JURISDICTION": "NL"})
    assert (given["TRUSTEE_NAME"], given["JURISDICTION"]) == ("Trust", "NL")
