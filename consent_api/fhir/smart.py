"""SMART on FHIR discovery (App Launch v2, `.well-known/smart-configuration`): what our OAuth
server really offers a SMART client, read from the grants themselves, so it cannot drift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consent_api.auth.grants import ClientCredentialsGrant, PrivateKeyJWT, S256CodeChallenge
from server import scopes

# Only what is true. Organisations (SMART Backend Services) authenticate with a secret
# (client_secret_basic: symmetric) or a signed assertion (private_key_jwt: asymmetric) and
# may ask for SMART's system scopes in v1 or v2 syntax. No launch-* or client-public: the
# authorization code flow serves our own patient app only, with no SMART launch context.
CAPABILITIES = (
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "permission-v1",
    "permission-v2",
)


def configuration(urls: Mapping[str, str]) -> dict[str, Any]:
    """Return the SMART configuration; `urls` names the `issuer` and the OAuth endpoints
    (`token`, `authorize`, `revoke`)."""
    return {
        "issuer": urls["issuer"],
        "authorization_endpoint": urls["authorize"],
        "token_endpoint": urls["token"],
        "revocation_endpoint": urls["revoke"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": list(
            ClientCredentialsGrant.TOKEN_ENDPOINT_AUTH_METHODS
        ),
        "token_endpoint_auth_signing_alg_values_supported": list(PrivateKeyJWT.ALGORITHMS),
        "scopes_supported": [*scopes.ALL, *scopes.ALIASES],
        "response_types_supported": ["code"],
        "capabilities": list(CAPABILITIES),
        "code_challenge_methods_supported": list(S256CodeChallenge.SUPPORTED_CODE_CHALLENGE_METHOD),
    }
