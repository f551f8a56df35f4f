"""OAuth 2.0 endpoints: authorize (login form), token, revoke, and server metadata."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InsecureTransportError, InvalidRequestError
from flask import Blueprint, Response, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from consent_api.auth import language
from consent_api.auth import rights as auth_rights
from consent_api.auth.grants import OAuthRefusal, PrivateKeyJWT
from consent_api.auth.server import authorization
from consent_api.patients import service as patients
from consent_api.patients.current import current_patient
from consent_api.patients.schemas import PasswordChangeIn
from server import scopes
from server.errors import Problem, render_problem
from server.guard import bearer, public, require
from server.http import body, issuer
from server.ratelimit import configured, limiter

bp = Blueprint("oauth", __name__, template_folder="templates")


def _authorize_error(error: OAuth2Error) -> Response:
    # Once client and redirect URI are verified, errors go back to the app (RFC 6749 4.1.2.1);
    # before that, redirecting would make us an open redirector, so we answer here.
    if error.redirect_uri:
        try:
            return authorization.handle_error_response(request, error)
        except ValueError:
            pass  # authlib cannot quote what the client sent into the redirect: answer here
    raise Problem(
        error.description or error.error,
        code="invalid_authorization_request",
        oauth_error=error.error,
    )


def _consent_grant():
    """Validate the authorization request: (grant, None) or (None, the error response)."""
    try:
        return authorization.get_consent_grant(end_user=None), None
    except OAuth2Error as error:
        return None, _authorize_error(error)
    except ValueError as error:  # characters RFC 6749 forbids in an error description
        raise Problem(
            "The authorization request holds characters OAuth does not allow.",
            code="invalid_authorization_request",
            oauth_error="invalid_request",
        ) from error


def _login_page(grant, error: str | None = None, *, status: int = 200) -> Response:
    page = render_template(
        "login.html",
        lang=language.current(),
        client_name=grant.client.name,
        scope_words=[language.SCOPE_WORDS.get(s, s) for s in scopes.parse(grant.request.scope)],
        action=request.full_path,
        csrf_token=generate_csrf(),
        error=error,
    )
    response = Response(page, status=status, mimetype="text/html")
    response.headers["Content-Language"] = language.current()
    response.vary.add("Accept-Language")
    return response


def _wants_a_page() -> bool:
    """Whether the form came from a browser (which prefers HTML) rather than a program."""
    accepted = request.accept_mimetypes
    return accepted.best_match(["application/json", "text/html"]) == "text/html" and (
        accepted["text/html"] > accepted["application/json"]
    )


@bp.before_request
def _no_nul_in_parameters() -> None:
    # Client ids, codes and e-mails reach the database; PostgreSQL text cannot hold NUL.
    for source in (request.args, request.form):
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                raise Problem(f"Parameter {key!r} contains a NUL character.", code="nul_character")


@bp.errorhandler(Problem)
def _oauth_error_body(problem: Problem):
    """Token and revocation errors keep their RFC 6749 body, even when we refuse early."""
    if request.endpoint not in ("oauth.token", "oauth.revoke") or problem.status >= 500:
        return render_problem(problem)
    if isinstance(problem, OAuthRefusal):
        return authorization.handle_error_response(request, problem.oauth)
    body = {
        "error": problem.extra.get("oauth_error", "invalid_request"),
        "error_description": problem.detail,
    }
    return jsonify(body), 400, {"Cache-Control": "no-store"}


@bp.errorhandler(InsecureTransportError)
def _insecure_transport(error: InsecureTransportError):
    """authlib checks for https before its own error handling begins, so its error would
    escape as a 500: answer it as authlib answers errors, with an RFC 6749 code. (The
    authorization endpoint catches it earlier, with its other errors.) Behind a proxy that
    terminates TLS, TRUSTED_PROXIES makes its X-Forwarded-Proto believed."""
    refusal = InvalidRequestError(description="OAuth 2.0 requires https.")
    return authorization.handle_error_response(request, refusal)


@bp.get("/oauth/authorize")
@public
def authorize_form():
    """Validate the authorization request and show the login form."""
    grant, error_response = _consent_grant()
    return error_response or _login_page(grant)


def _login_account() -> str:
    return patients.normalise_email(request.form.get("email", ""))


@bp.post("/oauth/authorize")
@public
@limiter.limit(configured("RATELIMIT_LOGIN"))
# Logins per account, whatever the address: guessing one patient's password from many
# addresses is throttled too. Every attempt counts, the patient's own included, so the count is
# taken atomically before the password is checked (counting failures afterwards let concurrent
# guesses through between the check and the count).
@limiter.limit(configured("RATELIMIT_LOGIN_ACCOUNT"), key_func=_login_account)
def authorize_submit():
    """Check the CSRF token and the patient's credentials, then redirect with a code."""
    grant, error_response = _consent_grant()
    if error_response:
        return error_response
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        if _wants_a_page():  # a person: the same form again, fresh, saying why
            message = gettext("This form expired. Please sign in again.")
            return _login_page(grant, error=message, status=400)
        raise Problem(
            "The form expired or did not come from us; reload it.", code="csrf_failed"
        ) from exc
    decisions = request.form.getlist("decision") or ["allow"]
    decision = decisions[0] if len(decisions) == 1 else None
    if decision not in ("allow", "deny"):  # never a sign-in on a button we did not draw
        raise Problem(
            "The form's decision is allow or deny.",
            status=400,
            code="invalid_decision",
            errors={"decision": ["Must be allow or deny."]},
        )
    if decision == "deny":  # RFC 6749 4.1.2.1: access_denied to the app
        return authorization.create_authorization_response(grant_user=None, grant=grant)
    patient = patients.authenticate(request.form.get("email", ""), request.form.get("password", ""))
    if patient is None:
        return _login_page(grant, error=gettext("Wrong e-mail or password."))
    return authorization.create_authorization_response(grant_user=patient, grant=grant)


@bp.post("/v1/me/password")
@require(scopes.PATIENT)
@limiter.limit(configured("RATELIMIT_LOGIN"))
@body(PasswordChangeIn)
def change_password(body):
    """Change the patient's password; every other session of theirs ends (this one stays)."""
    patient = current_patient()
    patients.change_password(patient, current=body["current_password"], new=body["new_password"])
    auth_rights.end_other_sessions(patient.id, keeping_token_id=bearer().id)
    return "", 204


@bp.post("/oauth/token")
@public
def token():
    """Issue tokens (authorization_code, refresh_token, client_credentials)."""
    return authorization.create_token_response()


@bp.post("/oauth/revoke")
@public
def revoke():
    """Revoke an access or refresh token (RFC 7009)."""
    return authorization.create_endpoint_response("revocation")


@bp.get("/.well-known/oauth-authorization-server")
@public
def metadata():
    """Describe this authorization server (RFC 8414)."""
    base = issuer()
    return jsonify(
        issuer=base,
        authorization_endpoint=f"{base}/oauth/authorize",
        token_endpoint=f"{base}/oauth/token",
        revocation_endpoint=f"{base}/oauth/revoke",
        scopes_supported=[*scopes.ALL, *scopes.ALIASES],
        response_types_supported=["code"],
        grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
        token_endpoint_auth_methods_supported=["none", "client_secret_basic", "private_key_jwt"],
        token_endpoint_auth_signing_alg_values_supported=list(PrivateKeyJWT.ALGORITHMS),
        revocation_endpoint_auth_methods_supported=[
            "none",
            "client_secret_basic",
            "private_key_jwt",
        ],
        code_challenge_methods_supported=["S256"],
    )
