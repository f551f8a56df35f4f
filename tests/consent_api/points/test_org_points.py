"""What an organisation has paid as a data user and earned as a data holder, from the ledger."""

import json

from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from consent_api.points.models import Transaction
from server.cli import main
from server.db import db
from tests.conftest import bearer
from tests.consent_api.points.conftest import paid_use
from tests.support import all_pages


def _points(client, token):
    response = client.get("/v1/org/points", headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def test_a_data_user_sees_what_it_paid_and_a_holder_what_it_earned(
    client, paid, pharma_token, org_credentials, token_for
):
    hospital = org_credentials("hospital", name="City Hospital")
    hospital_token = token_for(registration=hospital)
    patient, _, _ = paid(fee=100)
    paid_use(client, pharma_token, patient.id, holder_org_id=str(hospital.org.id))
    paid_use(client, pharma_token, patient.id)

    assert _points(client, pharma_token) == {
        "paid": 200,
        "earned": 0,
        "corrected": 0,
        "balance": -200,
    }
    assert _points(client, hospital_token) == {
        "paid": 0,
        "earned": 34,
        "corrected": 0,
        "balance": 34,
    }
    assert _points(client, token_for("pharma")) == {
        "paid": 0,
        "earned": 0,
        "corrected": 0,
        "balance": 0,
    }


def test_the_statement_explains_each_line_newest_first(
    client, paid, pharma_token, org_credentials, token_for
):
    hospital = org_credentials("hospital", name="City Hospital")
    hospital_token = token_for(registration=hospital)
    patient, _, _ = paid(fee=100)
    first = paid_use(client, pharma_token, patient.id, holder_org_id=str(hospital.org.id)).json
    second = paid_use(client, pharma_token, patient.id).json

    lines = all_pages(client, "/v1/org/points/ledger", headers=bearer(pharma_token), limit=1)
    assert [(line["amount"], line["role"], line["data_use_id"]) for line in lines] == [
        (-100, "payer", second["id"]),
        (-100, "payer", first["id"]),
    ]
    assert lines[0]["purpose"] == {"code": "HRESCH", "label": "health research"}
    assert lines[0]["fee"] == 100

    (earned,) = client.get("/v1/org/points/ledger", headers=bearer(hospital_token)).json["items"]
    assert (earned["amount"], earned["role"], earned["fee"]) == (34, "holder", 100)
    # The data user's own record (and who it is) stays the data user's business.
    assert earned["data_use_id"] is None
    assert "Acme" not in json.dumps(earned)


def test_a_reversal_shows_as_a_correction(client, app, paid, pharma_token):
    patient, _, _ = paid(fee=100)
    paid_use(client, pharma_token, patient.id)
    posting = db.session.scalars(select(Transaction).where(Transaction.kind == "use_fee")).one()
    db.session.commit()
    result = CliRunner().invoke(
        main,
        ["ledger", "reverse", str(posting.id), "--reason", "wrong patient"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert result.exit_code == 0, result.output

    assert _points(client, pharma_token) == {
        "paid": 100,
        "earned": 0,
        "corrected": 100,
        "balance": 0,
    }
    correction = client.get("/v1/org/points/ledger", headers=bearer(pharma_token)).json["items"][0]
    assert (correction["kind"], correction["amount"], correction["role"]) == (
        "reversal",
        100,
        None,
    )


def test_points_need_a_scope_of_paying_or_holding(client, token_for):
    token = token_for("hospital", scopes="consent.check")
    for path in ("/v1/org/points", "/v1/org/points/ledger"):
        response = client.get(path, headers=bearer(token))
        assert (response.status_code, response.json["code"]) == (403, "insufficient_scope")
