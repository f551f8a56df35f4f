"""Organisations authenticate as confidential clients; scopes follow their type."""

import base64
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA384
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from consent_api.auth.models import OAuthClient, OAuthToken, digest
from server.db import db
from tests.conftest import basic_auth, bearer

ISSUER = "http://localhost"


def _token(client, registration, **form):
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        headers=basic_auth(registration.client.client_id, registration.client_secret),
    )


def test_hospital_gets_a_short_lived_token_with_every_hospital_scope(client, org_credentials):
    response = _token(client, org_credentials("hospital"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["expires_in"] == 900
    assert "refresh_token" not in body
    assert set(body["scope"].split()) == {
        "consent.check",
        "consent.read",
        "consent.request",
        "data_use.write",
        "patient.link",
        "events.read",
        "webhook.manage",
        "org.profile",
        "cohort.count",
    }


def test_tokens_and_secrets_are_stored_only_as_hashes(client, org_credentials):
    registration = org_credentials("pharma")
    access_token = _token(client, registration).json["access_token"]
    stored_client = db.session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == registration.client.client_id)
    )
    assert stored_client.secret_hash == digest(registration.client_secret)
    assert registration.client_secret not in repr(stored_client.__dict__)
    token = db.session.scalar(
        select(OAuthToken).where(OAuthToken.access_token_hash == digest(access_token))
    )
    assert token is not None
    assert access_token not in repr(token.__dict__)


def test_wrong_secret_is_invalid_client(client, org_credentials):
    registration = org_credentials("hospital")
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(registration.client.client_id, "wrong"),
    )
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_asking_for_a_scope_the_type_does_not_allow_is_invalid_scope(client, org_credentials):
    response = _token(client, org_credentials("pharma"), scope="consent.check admin")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"


def test_asking_for_an_unknown_scope_is_invalid_scope(client, org_credentials):
    response = _token(client, org_credentials("hospital"), scope="consent.check everything")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"


def test_a_narrowed_client_cannot_widen_itself(client, org_credentials):
    registration = org_credentials("hospital", scopes=["consent.check"])
    assert _token(client, registration).json["scope"] == "consent.check"
    widened = _token(client, registration, scope="consent.check data_use.write")
    assert widened.json["error"] == "invalid_scope"


def test_requesting_a_subset_gets_exactly_that_subset(client, org_credentials):
    response = _token(client, org_credentials("hospital"), scope="consent.read")
    assert response.json["scope"] == "consent.read"


def test_organisation_cannot_use_the_authorization_code_flow(client, org_credentials):
    registration = org_credentials("hospital")
    response = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://a"},
        headers=basic_auth(registration.client.client_id, registration.client_secret),
    )
    # authlib refuses the client's authentication method for this grant.
    assert response.status_code == 400
    assert response.json["error"] == "invalid_client"


def test_unsupported_grant_type_is_refused(client, org_credentials):
    response = _token(client, org_credentials("hospital"), grant_type="password")
    assert response.json["error"] == "unsupported_grant_type"


def test_org_profile_reads_the_calling_organisation(client, org_credentials, token_for):
    registration = org_credentials("research", name="Cohort Lab")
    token = token_for(registration=registration)
    response = client.get("/v1/org", headers=bearer(token))
    assert response.status_code == 200
    assert response.json["id"] == str(registration.org.id)
    assert response.json["name"] == "Cohort Lab"
    assert response.json["type"] == "research"


# --- private_key_jwt (SMART Backend Services style) --------------------------------------


@pytest.fixture
def jwt_org(org_credentials):
    key = RSAKey.generate_key(2048)
    public = key.as_dict(private=False)
    public["kid"] = "k1"
    registration = org_credentials("hospital", jwks={"keys": [public]})
    return registration, key


def _assertion(
    client_id: str, key, *, jti: str | None = None, aud: str = f"{ISSUER}/oauth/token", life=300
):
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": now + life,
        "iat": now,
        "jti": jti or str(uuid.uuid4()),
    }
    return jwt.encode({"alg": "RS384", "kid": "k1"}, claims, key, algorithms=["RS384"])


def _jwt_token(client, client_id, assertion):
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


def test_private_key_jwt_client_gets_a_token_and_has_no_secret(client, jwt_org):
    registration, key = jwt_org
    assert registration.client_secret is None
    client_id = registration.client.client_id
    response = _jwt_token(client, client_id, _assertion(client_id, key))
    assert response.status_code == 200, response.json
    assert client.get("/v1/org", headers=bearer(response.json["access_token"])).status_code == 200


def test_replayed_assertion_is_refused(client, jwt_org):
    registration, key = jwt_org
    client_id = registration.client.client_id
    assertion = _assertion(client_id, key, jti="once")
    assert _jwt_token(client, client_id, assertion).status_code == 200
    replay = _jwt_token(client, client_id, assertion)
    assert replay.status_code == 400  # no Authorization header: RFC 6749 5.2 allows 400
    assert replay.json["error"] == "invalid_client"


def test_assertion_signed_by_another_key_is_refused(client, jwt_org):
    registration, _ = jwt_org
    client_id = registration.client.client_id
    stranger = RSAKey.generate_key(2048)
    response = _jwt_token(client, client_id, _assertion(client_id, stranger))
    assert response.json["error"] == "invalid_client"


def test_assertion_for_another_audience_is_refused(client, jwt_org):
    registration, key = jwt_org
    client_id = registration.client.client_id
    response = _jwt_token(client, client_id, _assertion(client_id, key, aud="https://elsewhere"))
    assert response.json["error"] == "invalid_client"


def test_jwt_client_cannot_fall_back_to_basic_auth(client, jwt_org):
    registration, _ = jwt_org
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(registration.client.client_id, "anything"),
    )
    assert response.json["error"] == "invalid_client"


def test_assertion_living_longer_than_five_minutes_is_refused(client, jwt_org):
    registration, key = jwt_org
    client_id = registration.client.client_id
    response = _jwt_token(client, client_id, _assertion(client_id, key, life=3600))
    assert response.json["error"] == "invalid_client"


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param({"keys": [{"kty": "RSA", "n": "!!not-base64url!!", "e": "AQAB"}]}, id="bad"),
        pytest.param({"keys": []}, id="empty"),
        pytest.param({"keys": ["x"]}, id="not-an-object"),
        pytest.param(None, id="none"),
    ],
)
def test_a_stored_jwks_that_fails_to_load_is_invalid_client_not_500(client, jwt_org, stored):
    # Registration refuses such sets; one stored before that (or edited by hand) must not
    # turn every token request of the client into a 500.
    registration, key = jwt_org
    registration.client.jwks = stored
    db.session.flush()
    client_id = registration.client.client_id
    response = _jwt_token(client, client_id, _assertion(client_id, key))
    assert response.status_code in (400, 401)
    assert response.json["error"] == "invalid_client"


def _signed(key, claims, header=None):
    """Sign an RS384 JWS by hand: joserfc would refuse to encode some of what we send."""
    header = header or {"alg": "RS384", "kid": "k1"}
    signing_input = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in (header, claims)
    )
    signature = key.private_key.sign(signing_input.encode(), PKCS1v15(), SHA384())
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "malformed",
    [
        pytest.param({"exp": "soon"}, id="exp-a-string"),
        pytest.param({"exp": None}, id="exp-null"),
        pytest.param({"exp": [1]}, id="exp-a-list"),
        pytest.param({"exp": float("nan")}, id="exp-nan"),
        pytest.param({"exp": float("inf")}, id="exp-infinite"),
        pytest.param({"exp": 1e300}, id="exp-huge"),
        pytest.param({"iat": "now"}, id="iat-a-string"),
        pytest.param({"nbf": {}}, id="nbf-an-object"),
        pytest.param({"aud": {"a": 1}}, id="aud-an-object"),
        pytest.param({"aud": [1]}, id="aud-not-strings"),
        pytest.param({"jti": 7}, id="jti-a-number"),
        pytest.param({"iss": ["x"]}, id="iss-a-list"),
    ],
)
def test_a_signed_assertion_with_a_malformed_claim_is_invalid_client(client, jwt_org, malformed):
    registration, key = jwt_org
    client_id = registration.client.client_id
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{ISSUER}/oauth/token",
        "exp": now + 60,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **malformed,
    }
    response = _jwt_token(client, client_id, _signed(key, claims))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"] == "invalid_client"
