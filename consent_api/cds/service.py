"""Answer a consult: find the patient, decide every category and purpose asked, combine.

A consult is a check, like POST /v1/consent-checks: it reads (the request's autocommit read
connection, no session transaction) and writes nothing, so no use is counted and the
patient is not notified.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from consent_api.cds import resolve
from consent_api.cds.consult import Outcome, combine
from consent_api.cds.parsing import Consult
from consent_api.decisions import store
from consent_api.decisions.decide import decide
from consent_api.links import refs
from consent_api.orgs.values import Org


def consult(asked: Consult, *, org: Org, now: datetime) -> Outcome:
    """Decide a consult for the calling organisation, whoever its `actor` names; the
    consents it names are named by the ids the organisation knows them by."""
    patient_id = resolve.patient_id(org.id, asked)
    consents = store.candidates([patient_id], org).get(patient_id, [])
    decisions = {
        (category, purpose): decide(
            consents, org=org, category=category, purpose=purpose, action=asked.action, now=now
        )
        for category in asked.categories
        for purpose in asked.purposes
    }
    outcome = combine(decisions, categories=asked.categories, purposes=asked.purposes)
    named = [c for c, _ in outcome.consents] + ([outcome.closest[0]] if outcome.closest else [])
    shown = dict(zip(named, refs.shown_consent_ids(org.id, named), strict=True))
    return dataclasses.replace(
        outcome,
        consents=tuple((shown[c], v) for c, v in outcome.consents),
        closest=(shown[outcome.closest[0]], outcome.closest[1]) if outcome.closest else None,
    )
