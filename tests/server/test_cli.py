"""The operator CLI: one JSON object on stdout, secrets shown once, same database as the API."""

import json
import os
import subprocess
import sys

import pytest
from flask.cli import ScriptInfo
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from consent_api.audit.models import AuditEntry
from server.cli import main
from server.db import db
from tests.conftest import basic_auth, bearer
from tests.support import ROOT


@pytest.fixture
def cli(app, session):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))

    return invoke


def test_orgs_create_prints_credentials_that_work(cli, client):
    result = cli("orgs", "create", "--name", "General Hospital", "--type", "hospital")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert set(created) >= {"id", "name", "type", "client_id", "client_secret"}
    assert created["type"] == "hospital"
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(created["client_id"], created["client_secret"]),
    )
    assert token.status_code == 200


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_orgs_suspend_refuses_a_reason_that_is_blank_or_too_long(cli, client, reason):
    created = json.loads(cli("orgs", "create", "--name", "P", "--type", "pharma").stdout)
    refused = cli("orgs", "suspend", created["id"], "--reason", reason)
    assert refused.exit_code == 2
    assert "reason" in json.loads(refused.stdout)["errors"]
    listed = [json.loads(line) for line in cli("orgs", "list").stdout.splitlines()]
    assert {o["id"]: o["suspended_at"] for o in listed}[created["id"]] is None


def test_orgs_suspend_and_resume_by_id(cli, client):
    created = json.loads(cli("orgs", "create", "--name", "P", "--type", "pharma").stdout)
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(created["client_id"], created["client_secret"]),
    ).json["access_token"]

    suspended = cli("orgs", "suspend", created["id"], "--reason", "Scraping.")
    assert json.loads(suspended.stdout)["status"] == "suspended"
    refused = client.get("/v1/org", headers=bearer(token))
    assert (refused.status_code, refused.json["code"], refused.json["reason"]) == (
        403,
        "org_suspended",
        "Scraping.",
    )

    resumed = cli("orgs", "resume", created["id"])
    assert json.loads(resumed.stdout)["status"] == "active"
    assert client.get("/v1/org", headers=bearer(token)).status_code == 200


def test_the_clis_operator_actions_are_audited_with_no_acting_organisation(cli):
    created = json.loads(cli("orgs", "create", "--name", "Q", "--type", "pharma").stdout)
    cli("orgs", "suspend", created["id"])
    cli("orgs", "resume", created["id"])
    assert cli("orgs", "create", "--name", "X", "--type", "pharma", "--scope", "admin").exit_code

    mine = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.subjects["org"].as_string() == created["id"])
        .order_by(AuditEntry.recorded_at)
    ).all()
    assert [(e.kind, e.actor_type, e.actor_id) for e in mine] == [
        ("org.registered", "operator", None),
        ("org.suspended", "operator", None),
        ("org.resumed", "operator", None),
    ]
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 3


def test_orgs_create_with_a_scope_the_type_cannot_hold_fails_cleanly(cli):
    result = cli("orgs", "create", "--name", "X", "--type", "pharma", "--scope", "admin")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"] == "validation_failed"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            json.dumps({"keys": [RSAKey.generate_key(2048).as_dict(private=True)]}), id="private"
        ),
        pytest.param(json.dumps({"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}), id="bad"),
        pytest.param("not json {", id="not-json"),
        pytest.param(json.dumps({"keys": [{"kty": ["RSA"]}]}), id="kty-a-list"),
    ],
)
def test_orgs_create_with_an_unusable_jwks_fails_cleanly(cli, tmp_path, content):
    keys = tmp_path / "jwks.json"
    keys.write_text(content)
    result = cli("orgs", "create", "--name", "K", "--type", "hospital", "--jwks", str(keys))
    assert result.exit_code == 2, result.output
    answer = json.loads(result.stdout)
    assert answer["error"] == "validation_failed"
    assert list(answer["errors"]) == ["jwks"]


def test_orgs_create_sets_the_directory_profile_and_refuses_a_bad_one(cli):
    made = cli(
        "orgs",
        "create",
        "--name",
        "Listed",
        "--type",
        "research",
        "--description",
        "We study sleep.",
        "--website",
        "https://sleep.example",
    )
    created = json.loads(made.stdout)
    assert (created["description"], created["website"]) == (
        "We study sleep.",
        "https://sleep.example",
    )
    refused = cli(
        "orgs", "create", "--name", "Bad", "--type", "research", "--website", "http://sleep.example"
    )
    assert refused.exit_code == 2  # invalid input, as a usage error
    assert list(json.loads(refused.stdout)["errors"]) == ["website"]


def test_suspending_an_unknown_org_fails_cleanly(cli):
    result = cli("orgs", "suspend", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 1  # a refusal, not a usage error
    assert json.loads(result.stdout)["error"] == "not_found"


def test_apps_create_registers_a_public_client(cli, login):
    result = cli("apps", "create", "--name", "Wallet", "--redirect-uri", "https://w.example/cb")
    created = json.loads(result.stdout)
    assert created["client_id"].startswith("app_")
    assert created["redirect_uris"] == ["https://w.example/cb"]


def test_demo_seed_is_idempotent_and_its_credentials_work(cli, client):
    first = cli("demo")
    second = cli("demo")
    assert first.exit_code == second.exit_code == 0
    assert "curl" in first.stderr
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("demo-hospital", "demo-hospital-secret"),
    )
    assert token.status_code == 200
    orgs = [json.loads(line) for line in cli("orgs", "list").stdout.splitlines()]
    assert sum(org["name"] == "St. Demo Hospital" for org in orgs) == 1
    rewards = client.get("/v1/rewards").json["items"]
    assert [r["name"] for r in rewards] == ["Pharmacy voucher"]  # once, seeded twice
    operators = db.session.scalars(
        select(AuditEntry.kind).where(AuditEntry.actor_type == "operator")
    ).all()
    assert sorted(operators) == ["org.registered"] * 3 + ["points.reward_created"]


def test_cli_and_server_share_the_database_url(tmp_path):
    """A real process: migrate, register, and read back through DATABASE_URL alone."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "APP_ENV": "development",
    }
    exe = [sys.executable, "-m", "server.cli"]
    run = {
        "env": env,
        "cwd": ROOT,
        "capture_output": True,
        "text": True,
        "timeout": 60,
        "check": True,
    }
    subprocess.run([*exe, "db", "upgrade"], **run)
    created = json.loads(
        subprocess.run([*exe, "orgs", "create", "--name", "H", "--type", "hospital"], **run).stdout
    )
    listed = subprocess.run([*exe, "orgs", "list"], **run).stdout
    assert created["id"] in listed


# --- issue 13, the newcomer: ours only, ids and times as the API gives them, honest exit codes


def test_help_lists_our_commands_and_not_flasks(cli):
    shown = cli("--help").output
    commands = ("orgs", "apps", "outbox", "ledger", "signing-keys", "demo", "serve", "worker", "db")
    for ours in commands:
        assert f"  {ours} " in shown or f"  {ours}\n" in shown, ours
    not_ours = ("  run ", "  shell ", "  routes ", "  limiter ", "--env-file", "--app", "--debug")
    for flasks in (*not_ours, "dotenv"):
        assert flasks not in shown, flasks


def test_orgs_list_gives_each_client_id_and_times_as_the_api_does(cli):
    created = json.loads(cli("orgs", "create", "--name", "Listed", "--type", "research").stdout)
    listed = [json.loads(line) for line in cli("orgs", "list").stdout.splitlines()]
    (mine,) = [org for org in listed if org["id"] == created["id"]]
    assert mine["client_ids"] == [created["client_id"]]
    assert "T" in mine["created_at"]
    assert mine["created_at"] == created["created_at"]


def test_apps_list_gives_each_app(cli):
    made = json.loads(
        cli(
            "apps", "create", "--name", "Listed app", "--redirect-uri", "https://a.example/cb"
        ).stdout
    )
    listed = [json.loads(line) for line in cli("apps", "list").stdout.splitlines()]
    (mine,) = [app for app in listed if app["client_id"] == made["client_id"]]
    assert (mine["name"], mine["redirect_uris"]) == ("Listed app", ["https://a.example/cb"])
    assert "T" in mine["created_at"]


def test_a_refusal_exits_1_and_bad_input_2(cli):
    unknown = cli("ledger", "reverse", "00000000-0000-0000-0000-000000000000", "--reason", "x")
    assert unknown.exit_code == 1
    assert json.loads(unknown.stdout)["error"] == "not_found"
    bad = cli("orgs", "create", "--name", "X", "--type", "pharma", "--scope", "admin")
    assert bad.exit_code == 2


def test_the_demo_banner_waits_for_the_api_and_says_so_when_it_never_answers(cli):
    """Issue 13: `make run` printed the banner about 26 s before gunicorn listened; now the
    seed is quiet and `demo-banner` prints it once /readyz answers (or says it never did)."""
    seeded = cli("demo", "--quiet")
    assert seeded.exit_code == 0
    assert "curl" not in seeded.stderr
    never = cli("demo-banner", "--base-url", "http://127.0.0.1:9", "--wait", "1")
    assert never.exit_code == 1
    assert "did not answer ready" in never.stderr
    assert "client_secret" not in never.stderr
