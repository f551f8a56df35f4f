"""The `consent-wallet` command: operator tasks, demo seed, web server and worker."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click
from flask.cli import FlaskGroup, with_appcontext
from marshmallow import ValidationError as MarshmallowError

from consent_api.audit import offline
from consent_api.audit import verify as audit_checks
from consent_api.auth import clients
from consent_api.orgs import service as orgs_service
from consent_api.orgs.schemas import ProfileIn, SuspendIn
from consent_api.orgs.types import ORG_TYPES
from consent_api.points import service as points
from consent_api.registration import service as registration
from consent_api.registration.schemas import OrgCreatedOut
from consent_api.uses import verify as ledger_checks
from notifications import dispatch
from server import config as config_module
from server import demo as demo_module
from server import login_client, signing
from server.app import create_app
from server.config import ConfigError
from server.db import db, utcnow
from server.errors import Problem, ValidationFailed
from server.http import dump, load
from server.worker import run_worker


def _json_value(value: Any) -> Any:
    """Times as the API gives them (ISO 8601 with a T), anything else as text."""
    return value.isoformat() if isinstance(value, date) else str(value)


def emit(payload: Any) -> None:
    """Print one JSON object on stdout, the CLI's only output format."""
    click.echo(json.dumps(payload, default=_json_value, sort_keys=True))


def refuse(code: str, detail: str, errors: Any = None, *, status: int = 1) -> NoReturn:
    """Print why a command was refused, as the API's problem would say it, and exit."""
    emit({"error": code, "detail": detail, "errors": errors})
    sys.exit(status)


def transactional(command: Callable) -> Callable:
    """Run a command as one transaction: commit on success, roll back on a problem and exit
    2 when what was given is invalid (as click does for a usage error), 1 on a refusal (no
    such id, points already spent)."""

    @functools.wraps(command)
    @with_appcontext
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = command(*args, **kwargs)
            db.session.commit()
        except Problem as problem:
            db.session.rollback()
            refuse(
                problem.code,
                problem.detail,
                problem.errors,
                status=2 if isinstance(problem, ValidationFailed) else 1,
            )
        except BaseException:
            db.session.rollback()
            raise
        return result

    return wrapper


class _Commands(FlaskGroup):
    """Flask's command group (our app, and Flask-Migrate's `db`) without Flask's own
    commands (`run`, `shell`, `routes`), options (`--app`, `--env-file`, `--debug`) and
    other extensions' commands (Flask-Limiter's `limiter`): our configuration comes from the
    environment, and `serve` is how we serve."""

    FLASKS = frozenset({"app", "env_file", "debug"})
    NOT_OURS = frozenset({"limiter"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            add_default_commands=False, load_dotenv=False, set_debug_flag=False, **kwargs
        )
        self.params = [param for param in self.params if param.name not in self.FLASKS]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in super().list_commands(ctx) if name not in self.NOT_OURS]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return None if name in self.NOT_OURS else super().get_command(ctx, name)


@click.group(cls=_Commands, create_app=lambda: create_app(), add_version_option=False)
def main() -> None:
    """Consent Wallet service and operator commands."""


@main.group()
def orgs() -> None:
    """Register, list, suspend and resume organisations."""


@orgs.command("create")
@click.option("--name", required=True)
@click.option("--type", "org_type", required=True, type=click.Choice(ORG_TYPES))
@click.option("--scope", "scope_list", multiple=True, help="Narrow the client to these scopes.")
@click.option(
    "--jwks",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Public JWK Set: the client authenticates with private_key_jwt instead of a secret.",
)
@click.option("--description", help="What the directory (GET /v1/orgs) says about it.")
@click.option("--website", help="Its https website, for the directory.")
@click.option("--logo-url", help="An https URL of its logo, for the directory.")
@transactional
def orgs_create(
    name: str, org_type: str, scope_list: tuple[str, ...], jwks: Path | None, **profile
) -> None:
    """Register an organisation; prints its client credentials once."""
    keys = _json_file(jwks, field="jwks") if jwks else None
    given = {field: value for field, value in profile.items() if value is not None}
    try:
        checked = ProfileIn().load(given)
    except MarshmallowError as error:
        raise ValidationFailed(errors=error.messages) from error
    registered = registration.register_org(
        name=name, type=org_type, scopes=list(scope_list) or None, jwks=keys, **checked
    )
    emit(dump(OrgCreatedOut(), registered, now=utcnow()))


def _json_file(path: Path, *, field: str) -> Any:
    """Read a JSON file given for `field`; one that is not JSON is a validation problem."""
    try:
        return json.loads(path.read_text())
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        raise ValidationFailed(errors={field: [f"{path} is not a JSON file."]}) from error


def _emit_org(org: Any) -> None:
    emit({"id": org.id, "name": org.name, "type": org.type, "status": org.status})


@orgs.command("suspend")
@click.argument("org_id", type=click.UUID)
@click.option("--reason", default=None, help="Why: shown to it and to its patients.")
@transactional
def orgs_suspend(org_id: uuid.UUID, reason: str | None) -> None:
    """Suspend an organisation (blacklist it), optionally saying why."""
    checked = load(SuspendIn(), {} if reason is None else {"reason": reason})
    _emit_org(orgs_service.suspend(org_id, reason=checked["reason"]))


@orgs.command("resume")
@click.argument("org_id", type=click.UUID)
@transactional
def orgs_resume(org_id: uuid.UUID) -> None:
    """Resume an organisation."""
    _emit_org(orgs_service.resume(org_id))


@orgs.command("list")
@with_appcontext
def orgs_list() -> None:
    """List organisations, one JSON object per line, with their client ids."""
    client_ids = clients.org_client_ids()
    for org in orgs_service.list_all():
        emit(
            {
                "id": org.id,
                "name": org.name,
                "type": org.type,
                "status": org.status,
                "client_ids": client_ids.get(org.id, []),
                "created_at": org.created_at,
                "suspended_at": org.suspended_at,
            }
        )


@main.group()
def apps() -> None:
    """Register and list public (patient) apps."""


@apps.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@transactional
def apps_create(name: str, redirect_uris: tuple[str, ...]) -> None:
    """Register a public app using authorization code + PKCE."""
    client = registration.register_app(name=name, redirect_uris=list(redirect_uris))
    emit(
        {"client_id": client.client_id, "name": client.name, "redirect_uris": client.redirect_uris}
    )


@apps.command("list")
@with_appcontext
def apps_list() -> None:
    """List the public apps, one JSON object per line."""
    for client in clients.app_clients():
        emit(
            {
                "client_id": client.client_id,
                "name": client.name,
                "redirect_uris": client.redirect_uris,
                "created_at": client.created_at,
            }
        )


@main.group()
def outbox() -> None:
    """Inspect and repair push delivery."""


@outbox.command("stats")
@with_appcontext
def outbox_stats() -> None:
    """Count outbox rows by status (pending, sending, sent, dropped, dead)."""
    emit(dispatch.stats())


@outbox.command("retry-dead")
@transactional
def outbox_retry_dead() -> None:
    """Queue every dead-lettered notice again."""
    emit({"requeued": dispatch.retry_dead(now=utcnow())})


@main.group()
def ledger() -> None:
    """Check and correct the points ledger."""


@ledger.command("verify")
@with_appcontext
def ledger_verify() -> None:
    """Check every ledger invariant; exit 1 if one fails."""
    started = time.perf_counter()
    found = ledger_checks.verify()
    found["seconds"] = round(time.perf_counter() - started, 3)
    emit(found)
    if not found["ok"]:
        sys.exit(1)


@ledger.command("reverse")
@click.argument("transaction_id", type=click.UUID)
@click.option("--reason", required=True, help="Why the transaction was wrong (kept with it).")
@transactional
def ledger_reverse(transaction_id, reason: str) -> None:
    """Post the exact opposite of a transaction (entries are never edited)."""
    posted = points.reverse(transaction_id, reason=reason, now=utcnow())
    emit({"reversal_id": posted.id, "reverses_id": transaction_id})


@main.group()
def audit() -> None:
    """Check the audit log."""


@audit.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Rebuild every leaf and the Merkle tree from the entries and compare them with what
    is stored; name the first that does not match, and exit 1."""
    started = time.perf_counter()
    found = audit_checks.verify().as_dict()
    found["seconds"] = round(time.perf_counter() - started, 3)
    emit(found)
    if not found["ok"]:
        sys.exit(1)


@audit.command("check-export")
@click.argument("export_file", type=click.File("r"))
@click.option(
    "--keys",
    "keys_file",
    type=click.File("r"),
    required=True,
    help="The service's published keys (a saved GET /.well-known/jwks.json).",
)
def audit_check_export(export_file, keys_file) -> None:
    """Check a patient's export (GET /v1/me/export) offline, with no database: its
    checkpoint's signature, each payload against its commitment, each entry's proof."""
    try:
        document, jwks = json.load(export_file), json.load(keys_file)
    except ValueError as exc:
        raise click.ClickException(f"not JSON: {exc}") from exc
    found = offline.check_export(document, jwks)
    emit(found)
    if not found["ok"]:
        sys.exit(1)


@main.group("signing-keys")
def signing_keys() -> None:
    """Rotate the keys that sign the audit log's checkpoints: SIGNING_KEY_FILE (development's
    var/signing-keys.json when unset). Processes read it when they start: restart them."""


def _key_file_after(change: Callable[[Path], signing.Signer]) -> None:
    """Apply a change to the key file and print its keys, the signing one first, without
    their private parts; a bad file or a refused change exits 1 and says why."""
    try:
        signer = change(signing.key_file(config_module.from_env()))
    except ConfigError as error:
        refuse("bad_key_file", str(error))
    except signing.Refused as error:
        refuse(error.code, str(error))
    except OSError as error:
        refuse("key_file_not_written", str(error))
    for key in signer.keys:
        emit({"kid": key.kid, "alg": signing.ALG, "signs": key is signer.active})


# A kid is a key's RFC 7638 thumbprint in base64url, so one in 64 starts with "-": read such
# a word as the KID argument, not as an unknown option.
KID_ARGUMENT = {"ignore_unknown_options": True}


@signing_keys.command("list", with_appcontext=False)
def signing_keys_list() -> None:
    """List the keys: each one's kid, and which one signs (the first)."""
    _key_file_after(signing.load)


@signing_keys.command("add", with_appcontext=False)
@click.option(
    "--standby",
    is_flag=True,
    help="Publish the new key without signing with it, until `promote`d.",
)
def signing_keys_add(standby: bool) -> None:
    """Put a new ES256 key first: it signs from the next start (with --standby, last: it is
    published and does not sign), and every key stays published (a missing file is made
    with the new key alone)."""
    _key_file_after(lambda path: signing.add_key(path, standby=standby))


@signing_keys.command("promote", with_appcontext=False, context_settings=KID_ARGUMENT)
@click.argument("kid")
def signing_keys_promote(kid: str) -> None:
    """Make a published key the signing one, from the next start (the others stay
    published)."""
    _key_file_after(lambda path: signing.promote_key(path, kid))


@signing_keys.command("retire", with_appcontext=False, context_settings=KID_ARGUMENT)
@click.argument("kid")
def signing_keys_retire(kid: str) -> None:
    """Remove a key that no longer signs: after the next start it is not published, and
    what it signed no longer verifies. The signing key is refused."""
    _key_file_after(lambda path: signing.retire_key(path, kid))


@main.command("demo")
@click.option("--base-url", default=None, help="Where the API will listen, for the printed curl.")
@click.option("--quiet", is_flag=True, help="Seed only; `demo-banner` prints the credentials.")
@transactional
def demo(base_url: str | None, quiet: bool) -> None:
    """Seed the demo data (idempotent) and print its credentials and a curl that works."""
    seeded = demo_module.seed()
    if not quiet:
        click.echo(demo_module.describe(seeded, base_url or _base_url()), err=True)


@main.command("demo-banner")
@click.option("--base-url", default=None, help="Where the API listens (HOST and PORT by default).")
@click.option("--wait", default=120.0, show_default=True, help="Seconds to wait for /readyz.")
def demo_banner(base_url: str | None, wait: float) -> None:
    """Print the demo's credentials and curl once the API answers /readyz (for `make run`,
    which starts it beside the server): a newcomer's first paste then works."""
    base = base_url or _base_url()
    if not login_client.wait_ready(base, timeout=wait):
        raise click.ClickException(f"{base}/readyz did not answer ready within {wait:g} s")
    click.echo(demo_module.describe(demo_module.known(), base), err=True)


@main.command("demo-login")
@click.option("--base-url", default=None, help="Where the API listens (HOST and PORT by default).")
def demo_login(base_url: str | None) -> None:
    """Log the demo patient in as the app does (authorization code + PKCE, over HTTP, against
    the running server) and print the access token: for the README's walk-through."""
    email, password, _ = demo_module.DEMO_PATIENT
    _, client_id, redirect_uri = demo_module.DEMO_APP
    try:
        answer = login_client.patient_token(
            base_url or _base_url(),
            client_id=client_id,
            redirect_uri=redirect_uri,
            email=email,
            password=password,
        )
    except login_client.LoginFailed as exc:
        raise click.ClickException(f"{exc} (is `make run` serving?)") from exc
    click.echo(answer["access_token"])


def _base_url() -> str:
    return f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"


@main.command("serve", context_settings={"ignore_unknown_options": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args: tuple[str, ...]) -> None:
    """Serve the API with gunicorn, configured by server/gunicorn_conf.py (HOST, PORT,
    WEB_CONCURRENCY, WEB_CLIENT_THREADS, ACCESS_LOG); extra arguments go to gunicorn."""
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:server.gunicorn_conf",
        *gunicorn_args,
        "server.wsgi:app",
    ]
    os.execv(sys.executable, argv)  # noqa: S606 - replace this process with gunicorn, same venv


@main.command("worker")
def worker() -> None:
    """Run the background scheduler: the one process that runs periodic jobs."""
    run_worker(create_app())


if __name__ == "__main__":
    main()
