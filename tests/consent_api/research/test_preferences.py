"""Research preferences (issue 14): a patient opts in, never by default, to be invited to
studies, and says for what and how often at most; turning it off stops invitations."""

from __future__ import annotations

import pytest

from consent_api.research import preferences
from tests.conftest import bearer
from tests.factories import PatientFactory

URL = "/v1/me/research-preferences"
OPT_IN = {
    "opted_in": True,
    "purposes": ["HRESCH", "CLINTRL"],
    "data_categories": ["lab_results", "medications", "genomics"],
    "org_types": ["research", "pharma"],
    "max_invitations_per_month": 3,
}


def test_nobody_is_opted_in_by_default(client, patient_token):
    answer = client.get(URL, headers=bearer(patient_token))
    assert answer.status_code == 200
    assert answer.json == {
        "opted_in": False,
        "purposes": [],
        "data_categories": [],
        "org_types": [],
        "max_invitations_per_month": 2,
        "updated_at": None,
    }


def test_a_patient_opts_in_for_what_they_choose_and_reads_it_back(client, patient_token):
    put = client.put(URL, json=OPT_IN, headers=bearer(patient_token))
    assert put.status_code == 200
    got = client.get(URL, headers=bearer(patient_token)).json
    for key, value in OPT_IN.items():  # the lists come back in the catalog's order
        assert (sorted(got[key]) if isinstance(value, list) else got[key]) == (
            sorted(value) if isinstance(value, list) else value
        )
    assert got["data_categories"] == ["medications", "lab_results", "genomics"]
    assert got["updated_at"]


def test_turning_it_off_keeps_the_choices_for_later_but_invites_nobody(client, patient_token):
    client.put(URL, json=OPT_IN, headers=bearer(patient_token))
    off = client.put(URL, json={**OPT_IN, "opted_in": False}, headers=bearer(patient_token))
    assert off.json["opted_in"] is False
    assert sorted(off.json["purposes"]) == sorted(OPT_IN["purposes"])
    assert (
        preferences.count_opted_in(
            data_categories=["lab_results"], purposes=["HRESCH"], org_type="pharma"
        )
        == 0
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purposes": []}, "purposes"),  # opted in for nothing
        ({"data_categories": []}, "data_categories"),
        ({"org_types": []}, "org_types"),
        ({"purposes": ["NOPE"]}, "purposes"),
        ({"data_categories": ["all"]}, "data_categories"),  # say which, one by one
        ({"org_types": ["operator"]}, "org_types"),
        ({"max_invitations_per_month": 0}, "max_invitations_per_month"),
        ({"max_invitations_per_month": 31}, "max_invitations_per_month"),
        ({"opted_in": "yes"}, "opted_in"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_preferences_name_the_field_and_change_nothing(client, patient_token, change, field):
    client.put(URL, json=OPT_IN, headers=bearer(patient_token))
    before = client.get(URL, headers=bearer(patient_token)).json
    answer = client.put(URL, json={**OPT_IN, **change}, headers=bearer(patient_token))
    assert answer.status_code == 422
    assert field in answer.json["errors"]
    assert client.get(URL, headers=bearer(patient_token)).json == before


def test_opted_in_patients_are_counted_by_what_they_accept(client, patient_token_for):
    def opt_in(**body):
        token = patient_token_for(PatientFactory())
        assert client.put(URL, json={**OPT_IN, **body}, headers=bearer(token)).status_code == 200

    opt_in()
    opt_in(purposes=["HRESCH"], org_types=["research"])
    opt_in(data_categories=["lab_results"])
    opt_in(opted_in=False)

    def count(categories, purposes, org_type):
        return preferences.count_opted_in(
            data_categories=categories, purposes=purposes, org_type=org_type
        )

    assert count(["lab_results"], ["HRESCH"], "research") == 3
    assert count(["lab_results"], ["HRESCH"], "pharma") == 2
    assert count(["lab_results", "genomics"], ["HRESCH"], "pharma") == 1
    assert count(["lab_results"], ["HRESCH", "CLINTRL"], "research") == 2
    assert count(["imaging"], ["HRESCH"], "research") == 0


def test_an_organisation_cannot_read_or_set_them(client, hospital_token):
    assert client.get(URL, headers=bearer(hospital_token)).status_code == 403


def test_the_export_holds_them_and_erasure_removes_them(client, patient_token):
    client.put(URL, json=OPT_IN, headers=bearer(patient_token))
    export = client.get("/v1/me/export", headers=bearer(patient_token)).json
    assert export["research_preferences"]["purposes"] == OPT_IN["purposes"]
    assert client.delete("/v1/me", headers=bearer(patient_token)).status_code == 204
    assert (
        preferences.count_opted_in(
            data_categories=["lab_results"], purposes=["HRESCH"], org_type="research"
        )
        == 0
    )


def test_opting_out_alone_keeps_the_choices_and_opting_in_again_restores_them(
    client, patient_token
):
    client.put(URL, json=OPT_IN, headers=bearer(patient_token))
    off = client.put(URL, json={"opted_in": False}, headers=bearer(patient_token))
    assert off.status_code == 200
    assert off.json["opted_in"] is False
    assert sorted(off.json["org_types"]) == sorted(OPT_IN["org_types"])
    on = client.put(URL, json={"opted_in": True}, headers=bearer(patient_token))
    assert on.status_code == 200
    assert sorted(on.json["purposes"]) == sorted(OPT_IN["purposes"])
    assert on.json["max_invitations_per_month"] == OPT_IN["max_invitations_per_month"]


def test_opting_in_with_nothing_chosen_yet_names_what_is_missing(client, patient_token):
    answer = client.put(URL, json={"opted_in": True}, headers=bearer(patient_token))
    assert answer.status_code == 422
    assert set(answer.json["errors"]) == {"purposes", "data_categories", "org_types"}
