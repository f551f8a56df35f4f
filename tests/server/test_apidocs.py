"""GET /docs: the API reference, rendered by a viewer we serve ourselves, under its own CSP."""

from __future__ import annotations

import re

import pytest

from tests.server.test_security_headers import API_CSP

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _policy(response) -> dict[str, list[str]]:
    return {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["Content-Security-Policy"].split("; ")
    }


def _referenced(page) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page.text)


def test_the_page_is_html_that_loads_only_our_own_assets(client):
    page = client.get("/docs")

    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert not re.search(r"(?i)(https?:)?//", page.text)  # no other host, not even scheme-less
    assert "<script>" not in page.text  # the viewer starts from a served file, not inline
    referenced = _referenced(page)
    assert any(url.endswith(".js") for url in referenced)
    assert any(url.endswith(".css") for url in referenced)
    assert all(url.startswith("/docs/") for url in referenced)


def test_the_page_points_the_viewer_at_our_contract(client):
    page = client.get("/docs")

    assert 'data-spec-url="/openapi.yaml"' in page.text


def test_every_asset_the_page_references_is_served_with_its_type_and_cacheable(client):
    for url in _referenced(client.get("/docs")):
        asset = client.get(url)

        assert asset.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert asset.mimetype == ASSET_TYPES[suffix], url
        assert asset.cache_control.public, url
        assert asset.cache_control.max_age >= 3600, url
        assert asset.data


def test_the_start_script_names_the_viewer_it_starts(client):
    scripts = [u for u in _referenced(client.get("/docs")) if u.endswith(".js")]
    bodies = [client.get(url).text for url in scripts]

    assert any("SwaggerUIBundle(" in body and "specUrl" in body for body in bodies)


def test_an_asset_answers_not_modified_to_a_revalidation(client):
    first = client.get("/docs/assets/swagger-ui.css")

    again = client.get(
        "/docs/assets/swagger-ui.css", headers={"If-None-Match": first.get_etag()[0]}
    )

    assert again.status_code == 304


def test_the_page_and_the_api_stay_uncached(client):
    assert client.get("/docs").headers["Cache-Control"] == "no-store"
    assert client.get("/v1/catalog").headers["Cache-Control"] == "no-store"


def test_the_docs_policy_lets_the_viewer_run_from_our_origin_only(client):
    policy = _policy(client.get("/docs"))

    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["connect-src"] == ["'self'"]  # the viewer fetches /openapi.yaml
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]


def test_the_api_keeps_its_strict_policy(client):
    response = client.get("/v1/catalog")

    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == API_CSP


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/..%2F..%2Fpyproject.toml",
        "/docs/assets/../../pyproject.toml",
        "/docs/assets/%2e%2e%2fserver%2fconfig.py",
        "/docs/assets/LICENSE",  # in the viewer's folder, but not an asset the page uses
        "/docs/assets/index.html",
        "/docs/assets/swagger-ui.js.map",
    ],
)
def test_nothing_but_the_listed_assets_is_served(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.headers["Content-Security-Policy"] == API_CSP
