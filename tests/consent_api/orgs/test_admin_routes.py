"""The operator's admin API: organisations and apps."""

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.conftest import basic_auth, bearer

RSA_PUBLIC = RSAKey.generate_key(2048).as_dict(private=False)
EC_P256_PUBLIC = ECKey.generate_key("P-256").as_dict(private=False)
EC_P521_PUBLIC = ECKey.generate_key("P-521").as_dict(private=False)


def test_operator_registers_an_organisation_and_sees_its_secret_once(client, admin_token):
    response = client.post(
        "/v1/admin/orgs",
        json={"name": "Acme Pharma", "type": "pharma"},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201
    body = response.json
    assert body["name"] == "Acme Pharma"
    assert body["type"] == "pharma"
    assert body["status"] == "active"
    assert body["client_id"]
    assert body["client_secret"]
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(body["client_id"], body["client_secret"]),
    )
    assert token.status_code == 200

    shown = client.get(f"/v1/admin/orgs/{body['id']}", headers=bearer(admin_token))
    assert shown.status_code == 200
    assert "client_secret" not in shown.json


def test_registration_can_narrow_scopes_but_not_exceed_the_type(client, admin_token):
    narrowed = client.post(
        "/v1/admin/orgs",
        json={"name": "Lab", "type": "research", "scopes": ["consent.read"]},
        headers=bearer(admin_token),
    )
    assert narrowed.json["scopes"] == ["consent.read"]
    exceeding = client.post(
        "/v1/admin/orgs",
        json={"name": "Lab", "type": "research", "scopes": ["admin"]},
        headers=bearer(admin_token),
    )
    assert exceeding.status_code == 422
    assert "scopes" in exceeding.json["errors"]


def test_unknown_organisation_type_is_a_validation_problem(client, admin_token):
    response = client.post(
        "/v1/admin/orgs", json={"name": "X", "type": "bank"}, headers=bearer(admin_token)
    )
    assert response.status_code == 422
    assert "type" in response.json["errors"]


def test_operator_lists_organisations(client, admin_token, org_credentials):
    registration = org_credentials("insurer", name="Safe Insurance")
    response = client.get("/v1/admin/orgs", headers=bearer(admin_token))
    assert response.status_code == 200
    names = {org["name"] for org in response.json["items"]}
    assert registration.org.name in names


def test_suspending_an_unknown_organisation_is_404(client, admin_token):
    response = client.post(
        "/v1/admin/orgs/00000000-0000-0000-0000-000000000000/suspend",
        headers=bearer(admin_token),
    )
    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_an_operator_cannot_suspend_its_own_organisation(client, admin_token):
    """Found by the outside review: a sole operator could lock itself out of the admin API."""
    own = client.get("/v1/org", headers=bearer(admin_token)).json["id"]
    response = client.post(f"/v1/admin/orgs/{own}/suspend", headers=bearer(admin_token))
    assert response.status_code == 409
    assert response.json["code"] == "cannot_suspend_self"
    assert client.get("/v1/admin/orgs", headers=bearer(admin_token)).status_code == 200


def test_suspend_and_resume_are_idempotent(client, admin_token, org_credentials):
    org_id = org_credentials("hospital").org.id
    for _ in range(2):
        response = client.post(f"/v1/admin/orgs/{org_id}/suspend", headers=bearer(admin_token))
        assert response.json["status"] == "suspended"
        assert response.json["suspended_at"]
    for _ in range(2):
        response = client.post(f"/v1/admin/orgs/{org_id}/resume", headers=bearer(admin_token))
        assert response.json["status"] == "active"
        assert response.json["suspended_at"] is None


def test_operator_registers_a_public_app(client, admin_token):
    response = client.post(
        "/v1/admin/apps",
        json={"name": "Wallet iOS", "redirect_uris": ["https://wallet.example/cb"]},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201
    assert response.json["scope"] == "patient"
    assert response.json["redirect_uris"] == ["https://wallet.example/cb"]
    assert "client_secret" not in response.json


@pytest.mark.parametrize(
    "uri",
    [
        "not a url",
        "http://wallet.example/cb",
        "https://wallet.example/cb#frag",
        "myapp:/cb",
        "http://127.0.0.1:port/cb",
        "http://user@127.0.0.1/cb",
    ],
)
def test_app_redirect_uris_must_be_ones_native_apps_may_use(client, admin_token, uri):
    response = client.post(
        "/v1/admin/apps",
        json={"name": "Bad", "redirect_uris": [uri]},
        headers=bearer(admin_token),
    )
    assert response.status_code == 422
    assert "redirect_uris" in response.json["errors"]


@pytest.mark.parametrize(
    "uri", ["https://wallet.example/cb", "http://127.0.0.1:8765/cb", "org.example.wallet:/cb"]
)
def test_native_redirect_uris_are_accepted(client, admin_token, uri):
    response = client.post(
        "/v1/admin/apps",
        json={"name": "Wallet", "redirect_uris": [uri]},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "jwks",
    [
        pytest.param({"keys": [{**RSA_PUBLIC, "n": "!!not-base64url!!"}]}, id="bad-modulus"),
        pytest.param({"keys": [{**RSA_PUBLIC, "n": "AQAB"}]}, id="modulus-too-small"),
        pytest.param({"keys": [{"kty": "RSA", "e": "AQAB"}]}, id="modulus-missing"),
        pytest.param({"keys": ["not an object"]}, id="key-not-an-object"),
        pytest.param({"keys": [{**RSA_PUBLIC, "kty": "XYZ"}]}, id="unknown-kty"),
        pytest.param({"keys": [RSA_PUBLIC, {**RSA_PUBLIC, "kty": "XYZ"}]}, id="one-bad-of-two"),
        pytest.param({"keys": [OctKey.generate_key(256).as_dict()]}, id="symmetric-secret"),
        pytest.param(
            {"keys": [RSAKey.generate_key(2048).as_dict(private=True)]}, id="rsa-private-key"
        ),
        pytest.param(
            {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}, id="ec-private-key"
        ),
        pytest.param({"keys": []}, id="no-keys"),
        pytest.param({"keys": "RSA"}, id="keys-not-a-list"),
        pytest.param({"kty": "RSA"}, id="a-key-not-a-set"),
        pytest.param({"keys": [{"kty": ["RSA"]}]}, id="kty-a-list"),
        pytest.param({"keys": [{"kty": {}}]}, id="kty-an-object"),
        # Keys no client assertion could be verified with: an algorithm the token endpoint
        # does not accept, or one of another key type; a key for encryption.
        pytest.param({"keys": [{**RSA_PUBLIC, "alg": "none"}]}, id="alg-none"),
        pytest.param({"keys": [{**RSA_PUBLIC, "alg": "HS256"}]}, id="alg-hs256"),
        pytest.param({"keys": [{**RSA_PUBLIC, "alg": "RS512"}]}, id="alg-rs512"),
        pytest.param({"keys": [{**RSA_PUBLIC, "alg": "PS256"}]}, id="alg-ps256"),
        pytest.param({"keys": [{**RSA_PUBLIC, "alg": "ES256"}]}, id="alg-of-another-kty"),
        pytest.param({"keys": [{**EC_P256_PUBLIC, "alg": "ES384"}]}, id="alg-of-another-curve"),
        pytest.param({"keys": [EC_P521_PUBLIC]}, id="curve-no-algorithm-uses"),
        pytest.param({"keys": [{**RSA_PUBLIC, "use": "enc"}]}, id="use-enc"),
        pytest.param({"keys": [{**RSA_PUBLIC, "use": ["sig"]}]}, id="use-a-list"),
        pytest.param({"keys": [{**RSA_PUBLIC, "key_ops": ["encrypt"]}]}, id="key-ops-no-verify"),
        pytest.param({"keys": [{**RSA_PUBLIC, "key_ops": "verify"}]}, id="key-ops-a-string"),
    ],
)
def test_registering_an_unusable_jwks_is_a_validation_problem_naming_jwks(
    client, admin_token, jwks
):
    response = client.post(
        "/v1/admin/orgs",
        json={"name": "Keyed", "type": "hospital", "jwks": jwks},
        headers=bearer(admin_token),
    )
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation_failed"
    assert list(response.json["errors"]) == ["jwks"]


@pytest.mark.parametrize(
    "key",
    [
        pytest.param({**RSA_PUBLIC, "alg": "RS256", "use": "sig"}, id="rs256-sig"),
        pytest.param({**RSA_PUBLIC, "alg": "RS384", "key_ops": ["verify"]}, id="rs384-verify"),
        pytest.param({**EC_P256_PUBLIC, "alg": "ES256"}, id="es256"),
        pytest.param(ECKey.generate_key("P-384").as_dict(private=False), id="p-384"),
    ],
)
def test_registering_a_key_marked_for_an_accepted_signature_is_accepted(client, admin_token, key):
    response = client.post(
        "/v1/admin/orgs",
        json={"name": "Keyed", "type": "hospital", "jwks": {"keys": [key]}},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.json


def test_registering_public_rsa_and_ec_keys_is_accepted(client, admin_token):
    ec_public = ECKey.generate_key("P-256").as_dict(private=False)
    response = client.post(
        "/v1/admin/orgs",
        json={"name": "Keyed", "type": "hospital", "jwks": {"keys": [RSA_PUBLIC, ec_public]}},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.json
    assert response.json["client_secret"] is None
