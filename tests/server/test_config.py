"""Configuration comes from the environment; production refuses unsafe defaults."""

import pytest

from server import create_app
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
        create_app({"APP_ENV": "production", "SECRET_KEY": "s" * 48, "ISSUER": ""})


def test_production_starts_with_real_settings(database_url):
    app = create_app(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "s" * 48,
            "ISSUER": "https://wallet.example",
            "SQLALCHEMY_DATABASE_URI": database_url,
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    metadata = app.test_client().get("/.well-known/oauth-authorization-server").json
    assert metadata["token_endpoint"] == "https://wallet.example/oauth/token"
