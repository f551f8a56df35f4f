"""The split of a fee: exact integers, remainders to the trustee."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_api.points.split import Terms, split


@pytest.mark.parametrize(
    ("fee", "has_holder", "expected"),
    [
        (100, True, (15, 51, 34)),
        (100, False, (15, 85, 0)),
        (0, True, (0, 0, 0)),
        (1, True, (1, 0, 0)),
        (7, True, (2, 3, 2)),
        (1_000_001, True, (150_001, 510_000, 340_000)),
    ],
)
def test_split_examples(fee, has_holder, expected):
    assert tuple(split(fee, has_holder=has_holder)) == expected


fees = st.integers(min_value=0, max_value=10**12)
shares = st.integers(min_value=0, max_value=10_000)


@given(fee=fees, commission=shares, patient=shares, has_holder=st.booleans())
def test_the_parts_always_add_up_and_none_is_negative(fee, commission, patient, has_holder):
    parts = split(fee, Terms(commission, patient), has_holder=has_holder)
    assert sum(parts) == fee
    assert min(parts) >= 0
    if not has_holder:
        assert parts.holder == 0


@given(fee=fees, commission=shares, patient=shares)
def test_the_trustee_gets_at_least_its_commission_and_only_rounding_beyond_it(
    fee, commission, patient
):
    parts = split(fee, Terms(commission, patient), has_holder=True)
    commission_due = fee * commission // 10_000
    assert commission_due <= parts.trustee <= commission_due + 1


@given(fee=fees, commission=shares, patient=shares)
def test_without_a_holder_the_patient_takes_the_holders_share(fee, commission, patient):
    with_holder = split(fee, Terms(commission, patient), has_holder=True)
    without = split(fee, Terms(commission, patient), has_holder=False)
    assert without.patient >= with_holder.patient + with_holder.holder
    assert without.trustee + without.patient == fee


def test_a_negative_fee_or_a_share_out_of_range_is_refused():
    with pytest.raises(ValueError, match="negative"):
        split(-1, has_holder=True)
    with pytest.raises(ValueError, match="between"):
        split(10, Terms(10_001, 0), has_holder=True)
