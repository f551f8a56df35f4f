"""The public catalog."""

from consent_api.catalog import SENSITIVE


def test_catalog_is_public_and_flags_sensitive_categories(client):
    response = client.get("/v1/catalog")
    assert response.status_code == 200
    categories = {c["code"]: c for c in response.json["data_categories"]}
    assert {code for code, c in categories.items() if c["sensitive"]} == SENSITIVE
    assert len(categories) == 16
    purposes = [p["code"] for p in response.json["purposes"]]
    assert purposes == [
        "TREAT",
        "ETREAT",
        "HPAYMT",
        "HOPERAT",
        "HRESCH",
        "CLINTRL",
        "PUBHLTH",
        "HMARKT",
    ]
    assert all(p["label"] for p in response.json["purposes"])
    assert {a["code"] for a in response.json["actions"]} >= {"access", "use", "disclose"}
