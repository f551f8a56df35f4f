"""A stateful property test of the points ledger: paid uses (some replayed), redemptions and
the passing of time, in any order; after every step the ledger's invariants hold and the
wallet matches a plain model of first-in, first-out lots."""

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from consent_api.points import ledger, lots, service, sweeps
from consent_api.points.models import Reward
from consent_api.uses.models import DataUse
from consent_api.uses.verify import verify
from server.db import db, utcnow
from tests.factories import OrganisationFactory, PatientFactory


def _post(use: DataUse, now) -> int:
    """Price and post a use as a data-use report does; the patient's share."""
    return service.post_use(use, service.price(use), now=now) if use.fee else 0


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.savepoint = db.session.begin_nested()
        self.patient = PatientFactory()
        self.user = OrganisationFactory(type="pharma")
        self.holder = OrganisationFactory()
        self.now = utcnow()
        self.model: list[list] = []  # [expires_at, remaining] per lot, in credit order
        self.uses: list[DataUse] = []

    def teardown(self):
        self.savepoint.rollback()

    def _sweep(self):
        for lot in self.model:
            if lot[0] <= self.now:
                lot[1] = 0

    def _spendable(self) -> int:
        return sum(remaining for expires, remaining in self.model if expires > self.now)

    @rule(fee=st.integers(min_value=0, max_value=500), with_holder=st.booleans())
    def paid_use(self, fee, with_holder):
        use = DataUse(
            id=uuid.uuid4(),
            patient_id=self.patient.id,
            org_id=self.user.id,
            holder_org_id=self.holder.id if with_holder else None,
            data_categories=["lab_results"],
            purpose="HRESCH",
            action="use",
            record_count=1,
            occurred_at=self.now,
            outcome="permitted",
            reason="permitted",
            emergency=False,
            consents=[],
            fee=fee,
            created_at=self.now,
        )
        db.session.add(use)
        db.session.flush()
        credited = _post(use, self.now)
        use.points_credited = credited
        self.uses.append(use)
        if credited:
            self.model.append([lots.add_months(self.now, 24), credited])

    @rule(data=st.data())
    def replay_a_use(self, data):
        if not self.uses:
            return
        use = data.draw(st.sampled_from(self.uses))
        assert _post(use, self.now) == use.points_credited

    @rule(cost=st.integers(min_value=1, max_value=400))
    def redeem(self, cost):
        reward = Reward(id=uuid.uuid4(), name="r", cost=cost, active=True, created_at=self.now)
        db.session.add(reward)
        db.session.flush()
        enough = self._spendable() >= cost
        try:
            with db.session.begin_nested():
                service.redeem(self.patient.id, reward.id, now=self.now)
        except ledger.InsufficientPoints:
            assert not enough
            return
        assert enough
        self._sweep()
        left = cost
        for lot in sorted(self.model, key=lambda lot: lot[0]):  # soonest expiry first
            taken = min(lot[1], left)
            lot[1] -= taken
            left -= taken

    @rule(days=st.integers(min_value=1, max_value=400))
    def time_passes_and_the_expiry_job_runs(self, days):
        self.now += timedelta(days=days)
        sweeps.expire_due(now=self.now)
        self._sweep()

    @invariant()
    def the_ledger_verifies(self):
        found = verify()
        assert found["ok"], found

    @invariant()
    def the_wallet_matches_the_model(self):
        balance = ledger.wallet_balance(self.patient.id)
        assert balance >= 0
        assert balance == sum(remaining for _, remaining in self.model)  # swept or not
        assert service.wallet(self.patient.id, now=self.now).balance == self._spendable()


@pytest.mark.usefixtures("session")
def test_the_ledger_stays_exact_through_any_sequence_of_events(app):
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
