"""SMART on FHIR: discovery (.well-known/smart-configuration) and SMART v2 system scopes as
aliases of ours, so that a SMART Backend Services client works unchanged."""

from __future__ import annotations

import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import basic_auth, bearer, ref
from tests.consent_api.fhir.conftest import grant

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DISCOVERY = ("/.well-known/smart-configuration", "/fhir/R5/.well-known/smart-configuration")


@pytest.mark.parametrize("path", DISCOVERY)
def test_smart_configuration_says_what_our_server_really_does(client, path):
    response = client.get(path, headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    config = response.json
    assert config["issuer"] == "http://localhost"
    assert config["token_endpoint"] == "http://localhost/oauth/token"
    assert config["authorization_endpoint"] == "http://localhost/oauth/authorize"
    assert config["revocation_endpoint"] == "http://localhost/oauth/revoke"
    assert config["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert config["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "private_key_jwt",
    ]
    assert {"RS384", "ES384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["capabilities"] == [
        "client-confidential-symmetric",
        "client-confidential-asymmetric",
        "permission-v1",
        "permission-v2",
    ]
    assert {"system/Consent.rs", "system/Consent.read", "consent.read"} <= set(
        config["scopes_supported"]
    )


def token(client, registration, scope: str):
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic_auth(registration.client.client_id, registration.client_secret),
    )


@pytest.mark.parametrize("scope", ["system/Consent.rs", "system/Consent.read"])
def test_a_smart_system_scope_is_granted_as_asked_and_reads_consents(
    client, patient, patient_token, hospital, scope
):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})

    response = token(client, hospital, scope)

    assert response.status_code == 200, response.json
    assert response.json["scope"] == scope
    access = response.json["access_token"]
    found = client.get(
        "/fhir/R5/Consent", query_string={"patient": ref(access, patient)}, headers=bearer(access)
    )
    assert found.status_code == 200, found.json
    assert found.json["total"] == 1
    assert made["id"] not in found.get_data(as_text=True)  # it knows the consent by its own id


def test_a_smart_system_scope_grants_consent_read_and_nothing_more(client, hospital):
    access = token(client, hospital, "system/Consent.rs").json["access_token"]

    answer = client.post("/v1/consent-checks", json={}, headers=bearer(access))

    assert answer.status_code == 403
    assert answer.json["code"] == "insufficient_scope"


def test_a_smart_system_scope_needs_the_scope_it_stands_for(client, org_credentials):
    narrowed = org_credentials("hospital", scopes=["consent.check"])

    response = token(client, narrowed, "system/Consent.rs")

    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"


def test_smart_and_our_scopes_mix(client, hospital):
    response = token(client, hospital, "system/Consent.rs consent.check")
    assert response.status_code == 200, response.json
    assert response.json["scope"] == "system/Consent.rs consent.check"


@pytest.fixture
def backend_service(org_credentials):
    """A hospital registered as a SMART Backend Services client: its public key only."""
    key = RSAKey.generate_key(2048)
    public = {**key.as_dict(private=False), "kid": "backend-1", "alg": "RS384"}
    return org_credentials("hospital", jwks={"keys": [public]}), key


def test_a_smart_backend_services_client_works_unchanged(
    client, patient, patient_token, backend_service
):
    registration, key = backend_service
    grant(client, patient_token, {"org_id": str(registration.org.id)})
    client_id = registration.client.client_id
    # As such a client does it: discover, sign an assertion for the token endpoint, ask.
    token_endpoint = client.get("/fhir/R5/.well-known/smart-configuration").json["token_endpoint"]
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "RS384", "kid": "backend-1", "typ": "JWT"}
    assertion = jwt.encode(header, claims, key, algorithms=["RS384"])

    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "system/Consent.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )

    assert response.status_code == 200, response.json
    assert response.json["token_type"] == "Bearer"
    assert response.json["scope"] == "system/Consent.rs"
    access = response.json["access_token"]
    found = client.get(
        "/fhir/R5/Consent", query_string={"patient": ref(access, patient)}, headers=bearer(access)
    )
    assert found.status_code == 200, found.json
    assert found.json["total"] == 1
