"""Who counts: patients with a current consent that permits the whole scope to the caller
(the decision core's rules), each once. Consents are granted through the API; the exact
count is read from the counting function, since the API only ever answers it noised."""

import uuid
from dataclasses import replace
from datetime import date, timedelta

import pytest

from consent_api.cohorts.counting import Scope, count_consenting
from consent_api.orgs.values import Org
from server.db import utcnow
from tests.conftest import bearer
from tests.factories import PatientFactory

RESEARCH = {"purposes": ["HRESCH"], "actions": ["use"]}
SCOPE = Scope(("lab_results",), ("HRESCH",), ("use",))


@pytest.fixture
def pharma(org_credentials):
    registration = org_credentials("pharma")
    return Org(id=registration.org.id, type="pharma", name=registration.org.name)


def _count(pharma, scope=SCOPE):
    return count_consenting(scope, org=pharma, now=utcnow())


def _grant(grant, pharma, **terms):
    body = {"grantee": {"org_type": "pharma"}, "data_categories": ["lab_results"], **RESEARCH}
    return grant(**{**body, **terms})


def test_patients_whose_consent_covers_the_scope_count_once_each(grant, pharma):
    patient, _, _ = _grant(grant, pharma)
    _grant(grant, pharma, patient=patient)  # a second consent of hers: still one patient
    _grant(grant, pharma, grantee={"org_id": str(pharma.id)})
    assert _count(pharma) == 2


def test_consents_for_others_or_for_less_do_not_count(grant, pharma):
    _grant(grant, pharma, grantee={"org_type": "hospital"})
    _grant(grant, pharma, purposes=["TREAT"])
    _grant(grant, pharma, actions=["access"])
    _grant(grant, pharma, data_categories=["medications"])
    assert _count(pharma) == 0


def test_every_part_of_the_scope_must_be_covered_by_one_consent(grant, pharma):
    _grant(grant, pharma, data_categories=["lab_results", "medications"], actions=["use"])
    patient, _, _ = _grant(grant, pharma)
    _grant(grant, pharma, patient=patient, data_categories=["medications"])
    wide = Scope(("lab_results", "medications"), ("HRESCH",), ("use",))
    assert _count(pharma, wide) == 1


def test_all_covers_ordinary_categories_but_not_sensitive_ones(grant, pharma):
    _grant(grant, pharma, data_categories=["all"])
    assert _count(pharma) == 1
    assert _count(pharma, Scope(("genomics",), ("HRESCH",), ("use",))) == 0


def test_paused_revoked_and_expired_consents_do_not_count(client, grant, pharma):
    for change in ("pause", "revoke"):
        _, consent, token = _grant(grant, pharma)
        answer = client.post(f"/v1/me/consents/{consent['id']}/{change}", headers=bearer(token))
        assert answer.status_code == 200, answer.json
    soon = utcnow() + timedelta(days=1)
    _grant(grant, pharma, valid_until=soon.isoformat())
    assert _count(pharma) == 1
    assert count_consenting(SCOPE, org=pharma, now=soon + timedelta(seconds=1)) == 0


def test_a_consent_not_yet_valid_does_not_count(grant, pharma):
    _grant(grant, pharma, valid_from=(utcnow() + timedelta(days=1)).isoformat())
    assert _count(pharma) == 0


def test_an_exclusion_of_the_caller_or_the_scope_stops_a_consent_counting(grant, pharma):
    _grant(grant, pharma, exclusions=[{"org_ids": [str(pharma.id)]}])
    _grant(grant, pharma, exclusions=[{"purposes": ["HRESCH"]}])
    _grant(grant, pharma, exclusions=[{"purposes": ["HMARKT"]}])  # another purpose: counts
    assert _count(pharma) == 1


def test_a_consent_limited_to_a_data_period_counts_only_for_a_period_inside_it(grant, pharma):
    _grant(grant, pharma, data_period={"start": "2020-01-01", "end": "2022-12-31"})
    assert _count(pharma) == 0  # records of any date: more than the consent allows
    inside = replace(SCOPE, data_from=date(2021, 1, 1), data_until=date(2021, 12, 31))
    assert _count(pharma, inside) == 1
    overlapping = replace(SCOPE, data_from=date(2022, 1, 1), data_until=date(2023, 12, 31))
    assert _count(pharma, overlapping) == 0


def test_a_consent_whose_uses_ran_out_does_not_count(grant, pharma, session):
    from consent_api.consents.models import Consent
    from server.db import db

    _, consent, _ = _grant(grant, pharma, max_uses=1)
    db.session.get(Consent, uuid.UUID(consent["id"])).use_count = 1
    db.session.flush()
    assert _count(pharma) == 0


def test_patients_without_any_consent_are_not_counted(pharma, session):
    PatientFactory.create_batch(3)
    assert _count(pharma) == 0
