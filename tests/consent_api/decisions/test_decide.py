"""The pure decision core, without a database: examples and properties."""

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from consent_api.catalog import ACTIONS, ALL, CATEGORIES, PURPOSES, SENSITIVE
from consent_api.decisions.decide import ConsentTerms, Exclusion, Org, decide

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOSPITAL = Org(id=uuid.UUID(int=1), type="hospital")
OTHER_HOSPITAL = Org(id=uuid.UUID(int=2), type="hospital")


def consent(**overrides) -> ConsentTerms:
    base = {
        "id": uuid.uuid4(),
        "version": 1,
        "status": "active",
        "grantee_org_id": HOSPITAL.id,
        "grantee_org_type": None,
        "data_categories": frozenset({"lab_results"}),
        "purposes": frozenset({"TREAT"}),
        "actions": frozenset({"access", "use"}),
        "valid_from": NOW - timedelta(days=1),
    }
    base.update(overrides)
    return ConsentTerms(**base)


def ask(consents, org=HOSPITAL, category="lab_results", purpose="TREAT", action="use", **kw):
    return decide(
        consents, org=org, category=category, purpose=purpose, action=action, now=NOW, **kw
    )


def test_no_consent_denies_by_default():
    assert ask([]).reason == "no_consent"


def test_a_matching_active_consent_permits_and_names_itself():
    granted = consent()
    decision = ask([granted])
    assert (decision.decision, decision.reason) == ("permit", "permitted")
    assert (decision.consent_id, decision.consent_version) == (granted.id, 1)


def test_a_consent_for_another_org_is_ignored():
    assert ask([consent()], org=OTHER_HOSPITAL).reason == "no_consent"


def test_a_grant_to_a_type_covers_every_org_of_that_type():
    by_type = consent(grantee_org_id=None, grantee_org_type="hospital")
    assert ask([by_type], org=OTHER_HOSPITAL).permitted
    assert ask([by_type], org=Org(id=uuid.uuid4(), type="pharma")).reason == "no_consent"


def test_each_state_denies_with_its_own_reason():
    assert ask([consent(status="revoked")]).reason == "revoked"
    assert ask([consent(status="paused")]).reason == "paused"
    assert ask([consent(status="expired")]).reason == "expired"
    assert ask([consent(valid_until=NOW)]).reason == "expired"
    assert ask([consent(valid_from=NOW + timedelta(seconds=1))]).reason == "not_yet_valid"


def test_scope_misses_are_out_of_scope():
    assert ask([consent()], category="imaging").reason == "out_of_scope"
    assert ask([consent()], purpose="HMARKT").reason == "out_of_scope"
    assert ask([consent()], action="disclose").reason == "out_of_scope"


def test_all_covers_ordinary_categories_but_not_sensitive_ones():
    broad = consent(data_categories=frozenset({ALL}))
    assert ask([broad], category="imaging").permitted
    assert ask([broad], category="genomics").reason == "sensitive_not_named"
    named = consent(data_categories=frozenset({ALL, "genomics"}))
    assert ask([named], category="genomics").permitted


def test_exclusions_win_over_the_grant():
    granted = consent(
        data_categories=frozenset({ALL}),
        exclusions=(Exclusion(data_categories=frozenset({"imaging"})),),
    )
    assert ask([granted], category="imaging").reason == "excluded"
    assert ask([granted], category="lab_results").permitted


def test_an_org_exclusion_denies_that_org_only():
    by_type = consent(
        grantee_org_id=None,
        grantee_org_type="hospital",
        exclusions=(Exclusion(org_ids=frozenset({OTHER_HOSPITAL.id})),),
    )
    assert ask([by_type], org=OTHER_HOSPITAL).reason == "excluded"
    assert ask([by_type], org=HOSPITAL).permitted


def test_data_period_bounds_the_records_covered():
    dated = consent(data_period_start=date(2020, 1, 1), data_period_end=date(2020, 12, 31))
    assert ask([dated], data_date=date(2020, 6, 1)).permitted
    assert ask([dated], data_date=date(2021, 1, 1)).reason == "outside_data_period"
    # No date given: the question is about records of any date, which 2020 does not cover.
    assert ask([dated]).reason == "outside_data_period"
    assert ask([consent(data_period_start=None, data_period_end=None)]).permitted


def test_max_uses_is_enforced():
    assert ask([consent(max_uses=2, use_count=1)]).permitted
    assert ask([consent(max_uses=2, use_count=2)]).reason == "max_uses_reached"


def test_suspended_org_is_denied_whatever_it_holds():
    suspended = dataclasses.replace(HOSPITAL, active=False)
    assert ask([consent()], org=suspended).reason == "org_suspended"


def test_any_permitting_consent_permits_and_the_closest_denial_explains():
    revoked = consent(status="revoked")
    unrelated = consent(data_categories=frozenset({"imaging"}))
    assert ask([unrelated, revoked]).reason == "revoked"
    assert ask([unrelated, revoked, consent()]).permitted


# --- properties ---------------------------------------------------------------------------

categories = st.sampled_from(sorted(CATEGORIES))
purposes = st.sampled_from(sorted(PURPOSES))
actions = st.sampled_from(sorted(ACTIONS))
statuses = st.sampled_from(["active", "paused", "revoked", "expired"])


@st.composite
def exclusions(draw):
    return Exclusion(
        data_categories=frozenset(draw(st.sets(categories, max_size=2))),
        purposes=frozenset(draw(st.sets(purposes, max_size=2))),
        org_ids=frozenset(
            draw(st.sets(st.sampled_from([HOSPITAL.id, OTHER_HOSPITAL.id]), max_size=1))
        ),
    )


@st.composite
def consents(draw):
    by_type = draw(st.booleans())
    start = draw(st.one_of(st.none(), st.dates(date(2015, 1, 1), date(2025, 1, 1))))
    max_uses = draw(st.one_of(st.none(), st.integers(1, 5)))
    return consent(
        status=draw(statuses),
        grantee_org_id=None if by_type else draw(st.sampled_from([HOSPITAL.id, OTHER_HOSPITAL.id])),
        grantee_org_type="hospital" if by_type else None,
        data_categories=frozenset(draw(st.sets(st.one_of(categories, st.just(ALL)), min_size=1))),
        purposes=frozenset(draw(st.sets(purposes, min_size=1))),
        actions=frozenset(draw(st.sets(actions, min_size=1))),
        valid_from=NOW + timedelta(days=draw(st.integers(-30, 2))),
        valid_until=draw(
            st.one_of(st.none(), st.just(NOW + timedelta(days=draw(st.integers(-2, 30)))))
        ),
        data_period_start=start,
        data_period_end=None
        if start is None
        else start + timedelta(days=draw(st.integers(0, 900))),
        max_uses=max_uses,
        use_count=draw(st.integers(0, 6)),
        exclusions=tuple(draw(st.lists(exclusions(), max_size=2))),
    )


def requests_for(category_codes=categories):
    """Questions an organisation may ask, about categories drawn from `category_codes`."""
    return st.fixed_dictionaries(
        {
            "org": st.sampled_from([HOSPITAL, OTHER_HOSPITAL]),
            "category": category_codes,
            "purpose": purposes,
            "action": actions,
            "data_date": st.one_of(st.none(), st.dates(date(2014, 1, 1), date(2027, 1, 1))),
        }
    )


requests = requests_for()


@given(st.lists(consents(), max_size=4), requests)
def test_a_permit_always_rests_on_an_active_valid_consent_naming_the_org(terms, request):
    decision = ask(terms, **request)
    if decision.permitted:
        chosen = next(c for c in terms if c.id == decision.consent_id)
        assert chosen.status == "active"
        assert chosen.valid_from <= NOW
        assert chosen.valid_until is None or chosen.valid_until > NOW
        assert chosen.max_uses is None or chosen.use_count < chosen.max_uses
        assert chosen.grantee_org_id in (None, request["org"].id)


@given(st.lists(consents(), max_size=4), requests)
def test_revoked_or_paused_consents_never_permit(terms, request):
    states = ["revoked", "paused"] * 4
    closed = [c._replace(status=s) for c, s in zip(terms, states, strict=False)]
    assert not ask(closed, **request).permitted


@given(st.lists(consents(), min_size=1, max_size=4), requests, st.data())
def test_narrowing_a_consent_never_turns_a_deny_into_a_permit(terms, request, data):
    if ask(terms, **request).permitted:
        return  # only denials are at stake (random scopes rarely permit)
    index = data.draw(st.integers(0, len(terms) - 1))
    before = terms[index]
    narrowed = before._replace(
        data_categories=frozenset(
            data.draw(st.sets(st.sampled_from(sorted(before.data_categories))))
        ),
        purposes=frozenset(data.draw(st.sets(st.sampled_from(sorted(before.purposes))))),
        actions=frozenset(data.draw(st.sets(st.sampled_from(sorted(before.actions))))),
        valid_until=NOW + timedelta(days=data.draw(st.integers(-2, 30)))
        if before.valid_until is None
        else min(before.valid_until, NOW + timedelta(days=data.draw(st.integers(-2, 30)))),
        max_uses=before.max_uses if before.max_uses is not None else data.draw(st.integers(1, 5)),
        exclusions=(*before.exclusions, *data.draw(st.lists(exclusions(), max_size=1))),
    )
    after = [*terms[:index], narrowed, *terms[index + 1 :]]
    assert not ask(after, **request).permitted


@given(consents(), requests)
def test_a_matching_exclusion_always_wins(term, request):
    excluded = term._replace(
        exclusions=(
            Exclusion(
                data_categories=frozenset({request["category"]}),
                purposes=frozenset({request["purpose"]}),
            ),
        ),
    )
    assert not ask([excluded], **request).permitted


@given(consents(), requests_for(st.sampled_from(sorted(SENSITIVE))))
def test_all_never_matches_a_sensitive_category(term, request):
    broad = term._replace(data_categories=frozenset({ALL}))
    assert ask([broad], **request).reason != "permitted"


@given(consents(), requests)
def test_max_uses_is_never_exceeded(term, request):
    spent = term._replace(max_uses=3, use_count=3)
    assert not ask([spent], **request).permitted
