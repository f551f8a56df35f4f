"""How a paid use's fee is shared out: pure integer arithmetic, no rounding surprises.

With the trustee's commission c and the patient's share p of the rest (the holder gets the
remainder of the rest, 1 - p), all in basis points (1 % = 100):

    rest    = fee - floor(fee * c)
    patient = floor(rest * p)          (floor(rest * 1) = rest when there is no holder)
    holder  = floor(rest * (1 - p))    (0 when there is no holder)
    trustee = fee - patient - holder   (the commission plus every rounding remainder)

So the parts always add up to the fee, none is negative, and what rounding leaves over goes
to the trustee. With the defaults (15 %, 60/40) a fee of 100 gives 15 / 51 / 34, and without
a holder 15 / 85.
"""

from __future__ import annotations

from typing import NamedTuple

WHOLE = 10_000  # basis points


class Terms(NamedTuple):
    """The operator's split: commission, and the patient's share of the rest (basis points)."""

    commission_bp: int = 1_500
    patient_bp: int = 6_000


DEFAULT_TERMS = Terms()


class Split(NamedTuple):
    """Where a fee goes."""

    trustee: int
    patient: int
    holder: int


def split(fee: int, terms: Terms = DEFAULT_TERMS, *, has_holder: bool) -> Split:
    """Split `fee` points between trustee, patient and (if any) the data holder."""
    if fee < 0:
        raise ValueError("a fee is never negative")
    if not (0 <= terms.commission_bp <= WHOLE and 0 <= terms.patient_bp <= WHOLE):
        raise ValueError("shares are between 0 and 100 %")
    rest = fee - fee * terms.commission_bp // WHOLE
    if has_holder:
        patient = rest * terms.patient_bp // WHOLE
        holder = rest * (WHOLE - terms.patient_bp) // WHOLE
    else:
        patient, holder = rest, 0
    return Split(trustee=fee - patient - holder, patient=patient, holder=holder)
