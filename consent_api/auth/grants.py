"""The grants we allow, tightened past authlib's defaults where the issue asks."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import NoReturn

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from consent_api.auth import authentication, keys
from consent_api.auth.models import (
    AuthorizationCode,
    OAuthClient,
    OAuthToken,
    UsedAssertion,
    digest,
    expiry,
)
from consent_api.patients.models import Patient
from server.db import db, utcnow
from server.errors import KeptRefusal
from server.http import issuer

log = logging.getLogger(__name__)


def new_secret() -> str:
    """Return a fresh 256-bit opaque secret for tokens, codes and client secrets."""
    return secrets.token_urlsafe(32)


class S256CodeChallenge(CodeChallenge):
    """PKCE, required and S256 only (authlib alone would accept no challenge, or `plain`)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """Authorization code for the public patient app; codes are one-time and stored hashed."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def validate_authorization_request(self):
        if not self.request.payload.redirect_uri:
            raise InvalidRequestError("'redirect_uri' is required and must match exactly.")
        return super().validate_authorization_request()

    def save_authorization_code(self, code: str, request) -> None:
        data = request.payload.data
        db.session.add(
            AuthorizationCode(
                code_hash=digest(code),
                client_pk=request.client.id,
                patient_id=request.user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                expires_at=expiry(current_app.config["AUTH_CODE_TTL"]),
            )
        )
        db.session.flush()

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        # Locked first, as `locked` says: concurrent exchanges of one code queue here.
        found = db.session.scalar(
            locked(
                AuthorizationCode,
                AuthorizationCode.code_hash == digest(code),
                AuthorizationCode.client_pk == client.id,
            )
        )
        if found is None:
            return None
        if found.used_at is not None:
            replayed_code(found)
        return None if found.is_expired() else found

    def create_token_response(self):
        # Redeem the code before anything is issued, once all checks (PKCE included) passed.
        code: AuthorizationCode = self.request.authorization_code
        if not redeem_code(code):
            replayed_code(code)  # another exchange redeemed it meanwhile
        return super().create_token_response()

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Keep the code: `create_token_response` marked it used, and a replay must still be
        recognised to revoke what it gave. The purge job deletes it later."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Patient | None:
        return db.session.get(Patient, authorization_code.patient_id)


class OAuthRefusal(KeptRefusal):
    """An OAuth error answer whose writes stand; rendered by authlib, exactly as the error
    `oauth` (the token endpoint's blueprint does that)."""

    def __init__(self, oauth: OAuth2Error) -> None:
        super().__init__(oauth.description or oauth.error, status=oauth.status_code)
        self.oauth = oauth


class ReplayedAuthorizationCode(OAuthRefusal):
    """A redeemed authorization code came back: it was intercepted, so the tokens issued
    from it are revoked, and stay so (RFC 6749 4.1.2). Answered as authlib answers an
    unknown code, so the answer does not tell that the code once worked."""

    def __init__(self) -> None:
        super().__init__(InvalidGrantError("Invalid 'code' in request."))


class ReplayedRefreshToken(OAuthRefusal):
    """A spent refresh token came back: its whole family is revoked, and stays so (RFC 9700
    4.14). Answered like any unusable refresh token, so the answer does not tell that the
    token once existed."""

    def __init__(self) -> None:
        super().__init__(InvalidGrantError())


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotating refresh tokens; replaying a spent one revokes its whole family (RFC 9700 4.14)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        # Locked first, as `locked` says: concurrent refreshes of one token queue here.
        token = db.session.scalar(
            locked(OAuthToken, OAuthToken.refresh_token_hash == digest(refresh_token))
        )
        if token is None:
            return None
        if token.refresh_usable():
            return token
        if token.refresh_revoked_at is not None:
            revoke_family(token.family_id)
            raise ReplayedRefreshToken()  # an error answer, and the revocation stands
        return None

    def authenticate_user(self, refresh_token: OAuthToken) -> Patient | None:
        return refresh_token.patient

    def create_token_response(self):
        # Spend the refresh token before anything is issued: of two racing refreshes one
        # wins, and the other presented a spent token, which is a replay.
        refresh_token: OAuthToken = self.request.refresh_token
        if not spend_refresh_token(refresh_token):
            revoke_family(refresh_token.family_id)
            raise ReplayedRefreshToken()
        return super().create_token_response()

    def revoke_old_credential(self, refresh_token: OAuthToken) -> None:
        """Nothing left to do: `create_token_response` spent the refresh token before issuing."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Organisations authenticate with a client secret or a signed JWT (SMART Backend Services)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]


class PrivateKeyJWT(JWTBearerClientAssertion):
    """RFC 7523 client authentication with the organisation's registered public keys."""

    CLIENT_AUTH_METHOD = "private_key_jwt"
    # joserfc's default registry only takes its "recommended" set, so name the accepted
    # algorithms: the ones registration accepts keys for.
    ALGORITHMS = tuple(keys.ALGORITHMS)
    MAX_LIFETIME = 300  # seconds; also bounds how long a spent jti must be remembered

    def process_assertion_claims(self, assertion, resolve_key):
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(self.ALGORITHMS))
        except JoseError as error:
            raise InvalidClientError(description=error.description) from error
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims) -> None:
        # Check every registered claim's type first (exp, nbf and iat finite numbers, aud a
        # string or strings, ...): what follows reads them as such. authlib checks the
        # essential claims and values after, then spends the jti last.
        try:
            jwt.JWTClaimsRegistry(leeway=self.leeway).validate(claims)
        except JoseError as error:
            raise InvalidClientError(description=error.description) from error
        if claims.get("exp", 0) > time.time() + self.MAX_LIFETIME + self.leeway:
            raise InvalidClientError(description="The assertion must expire within 5 minutes.")
        super().verify_claims(claims)

    def get_audiences(self) -> list[str]:
        return [issuer() + "/oauth/token", issuer()]

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        try:
            return keys.public_key_set(client.jwks)
        except keys.UnusableKeys as error:
            # Registration refuses such sets; one stored before, or edited since, is the
            # operator's to fix: the client is told only that it cannot authenticate.
            log.warning("client %s has unusable keys: %s", client.client_id, error)
            raise InvalidClientError(description="The client's keys cannot be used.") from error

    def validate_jti(self, claims, jti: str) -> bool:
        row = UsedAssertion(
            jti_hash=digest(f"{claims['iss']}\n{jti}"),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            return False
        return True


class UnsupportedTokenType(OAuth2Error):
    """RFC 7009 2.2.1: a token type the server cannot revoke is a 400, not authlib's 401."""

    error = "unsupported_token_type"
    status_code = 400


class TokenRevocation(RevocationEndpoint):
    """RFC 7009: revoking either token of a pair ends both."""

    CLIENT_AUTH_METHODS = ["none", "client_secret_basic", "private_key_jwt"]

    def check_params(self, request, client):
        hint = request.form.get("token_type_hint")
        if hint and hint not in self.SUPPORTED_TOKEN_TYPES:
            # Never echo the hint: authlib refuses to quote some characters and would fail.
            raise UnsupportedTokenType(description="Only access and refresh tokens are revoked.")
        super().check_params(request, client)

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        hashed = digest(token_string)
        columns = {
            "access_token": [OAuthToken.access_token_hash],
            "refresh_token": [OAuthToken.refresh_token_hash],
        }.get(token_type_hint or "", [OAuthToken.access_token_hash, OAuthToken.refresh_token_hash])
        return db.session.scalar(select(OAuthToken).where(or_(*(c == hashed for c in columns))))

    def revoke_token(self, token: OAuthToken, request) -> None:
        now = utcnow()
        token.revoked_at = token.revoked_at or now
        token.refresh_revoked_at = token.refresh_revoked_at or now
        db.session.flush()


def locked(model, *criteria):
    """Select the one-time credential (a `model` row) `criteria` find, locked (SELECT ... FOR
    UPDATE, of its own row only: not of the rows eagerly joined to it) and in its latest
    state, before anything else is read or written for it.

    Requests presenting the same code or refresh token then queue on its row: each finds it
    as the one before left it (unused, or spent and its family revoked), and only one at a
    time revokes its family. Without the lock, several losers of a race went on to revoke
    the same family's rows in different orders and deadlocked (PostgreSQL; SQLite ignores
    FOR UPDATE and runs writers one at a time anyway)."""
    return (
        select(model)
        .where(*criteria)
        .with_for_update(of=model)
        .execution_options(populate_existing=True)
    )


def redeem_code(code: AuthorizationCode) -> bool:
    """Mark a code used unless it already is; True for exactly one caller.

    A conditional UPDATE, checked by its row count: on PostgreSQL a concurrent second
    exchange waits for the first to commit, then finds the code used (SQLite runs writers
    one at a time)."""
    redeemed = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == code.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return redeemed.rowcount == 1


def replayed_code(code: AuthorizationCode) -> NoReturn:
    """Answer a redeemed code presented again: revoke the tokens issued from it."""
    revoke_family(code.id)
    raise ReplayedAuthorizationCode()


def spend_refresh_token(token: OAuthToken) -> bool:
    """Spend a refresh token for rotation unless it already is; True for exactly one caller
    (a conditional UPDATE, as `redeem_code`).

    The access token issued with it lives on until it expires (minutes): an app's requests
    in flight while it refreshes still carry it. A replay of the spent refresh token revokes
    the whole family, that access token with it."""
    now = utcnow()
    spent = db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.id == token.id, OAuthToken.refresh_revoked_at.is_(None))
        .values(refresh_revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def revoke_family(family_id) -> None:
    """Revoke every token descended from one authorization (its family's id is the id of
    the authorization code it began with)."""
    now = utcnow()
    db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == family_id)
        .values(revoked_at=now, refresh_revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def register(server: AuthorizationServer) -> None:
    """Register our grants, client authentication methods and endpoints on the server."""
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method(
        "client_secret_basic", authentication.authenticate_client_secret_basic
    )
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    server.register_endpoint(TokenRevocation)
