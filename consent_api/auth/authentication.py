"""How a client authenticates at the token and revocation endpoints, where we are stricter
than authlib: one method per request, and Basic credentials that cannot be decoded are a
failed authentication rather than an error of ours."""

from __future__ import annotations

import base64
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError


def basic_credentials(headers) -> tuple[str, str | None] | None:
    """Return the client id and secret of a Basic Authorization header, None without one.

    RFC 7617 credentials are base64 of UTF-8, each part form-encoded first (RFC 6749
    2.3.1); ones that do not decode are refused as invalid_client with a 401 (RFC 6749 5.2).
    """
    scheme, _, encoded = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    # binascii.Error (not base64), UnicodeDecodeError, and the ValueError b64decode raises
    # for a header that is not even ASCII.
    except ValueError as error:
        raise InvalidClientError(
            status_code=401, description="The Basic credentials cannot be decoded."
        ) from error
    client_id, colon, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret) if colon else None


def authenticate_client_secret_basic(query_client, request):
    """authlib's `client_secret_basic`, reading the header with `basic_credentials`."""
    credentials = basic_credentials(request.headers)
    if credentials is None:
        return None
    client_id, secret = credentials
    if not client_id or not secret:
        return None
    client = query_client(client_id)
    if client is None:
        raise InvalidClientError(
            status_code=401, description="The client does not exist on this server."
        )
    return client if client.check_client_secret(secret) else None


def presented_methods(request) -> list[str]:
    """Name the client authentication methods a request carries credentials for (a bare
    `client_id` is no credential: it names the client of the `none` method, or of another)."""
    form = request.form
    presented = []
    scheme = (request.headers.get("Authorization") or "").partition(" ")[0]
    if scheme.lower() == "basic":
        presented.append("client_secret_basic")
    if "client_secret" in form:
        presented.append("client_secret_post")
    if "client_assertion" in form or "client_assertion_type" in form:
        presented.append("private_key_jwt")
    return presented


def one_method_at_most(request) -> None:
    """Refuse a request that authenticates more than one way (RFC 6749 2.3: "The client
    MUST NOT use more than one authentication method in each request.")."""
    presented = presented_methods(request)
    if len(presented) > 1:
        raise InvalidRequestError(
            description="Authenticate the client one way only, not with "
            + " and ".join(presented)
            + "."
        )
