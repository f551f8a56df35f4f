"""The authorization server's metadata (RFC 8414) names this server by its issuer."""

from server.app import create_app
from tests.conftest import CommittingClient, app_config


def test_metadata_urls_come_from_the_issuer_not_the_host_header(app, database_url, session):
    deployed = create_app(app_config(database_url, ISSUER="https://wallet.example/api"))
    deployed.test_client_class = CommittingClient

    metadata = deployed.test_client().get(
        "/.well-known/oauth-authorization-server", base_url="http://evil.example"
    )

    assert metadata.status_code == 200
    assert metadata.json["issuer"] == "https://wallet.example/api"
    for endpoint in ("authorization_endpoint", "token_endpoint", "revocation_endpoint"):
        assert metadata.json[endpoint].startswith("https://wallet.example/api/oauth/")
