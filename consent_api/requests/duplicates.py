"""One pending request per question: an organisation may not ask a patient again for the
same scope while its first request is still pending (the patient would be pushed twice).

The same scope is the same sets of data categories, purposes and actions, in any order:
other terms (data period, validity, uses, exclusions, fee, justification) do not make
another question, so changing them is no way round it; withdraw the first instead. The
database holds it under concurrency: a unique index over pending requests, keyed by
patient, organisation and this scope.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from consent_api.requests import sweeps
from consent_api.requests.models import ConsentRequest
from server.db import db
from server.errors import Conflict


class DuplicateRequest(Conflict):
    """A request for the same scope is already pending with this patient."""

    code = "duplicate_request"

    def __init__(self, pending: ConsentRequest) -> None:
        super().__init__(
            "A request for the same data categories, purposes and actions is already pending "
            "with this patient; follow it, or withdraw it before asking again.",
            pending_request_id=str(pending.id),
        )


def scope_key(categories: Iterable[str], purposes: Iterable[str], actions: Iterable[str]) -> str:
    """The scope as one key: the three sets, order ignored (a SHA-256, for a bounded index)."""
    canonical = "|".join(",".join(sorted(codes)) for codes in (categories, purposes, actions))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _pending_twin(request: ConsentRequest) -> ConsentRequest | None:
    return db.session.scalar(
        select(ConsentRequest)
        .where(
            ConsentRequest.patient_id == request.patient_id,
            ConsentRequest.org_id == request.org_id,
            ConsentRequest.scope_key == request.scope_key,
            ConsentRequest.status == "pending",
        )
        .with_for_update()
    )


def add_unless_pending(request: ConsentRequest, *, now: datetime) -> None:
    """Add a new request, or raise `DuplicateRequest` naming the pending one it repeats. A
    twin past its deadline that the sweep has not lapsed yet is lapsed here, as the sweep
    would (its answer is already `expired`), so it does not stand in the way."""
    request.scope_key = scope_key(request.data_categories, request.purposes, request.actions)
    twin = _pending_twin(request)
    if twin is not None:
        if twin.effective_status(now) == "pending":
            raise DuplicateRequest(twin)
        sweeps.lapse(twin, now=now)
        db.session.flush()
    try:
        with db.session.begin_nested():
            db.session.add(request)
            db.session.flush()
    except IntegrityError:  # a concurrent twin committed first: it is the pending one
        twin = _pending_twin(request)
        if twin is None:
            raise
        raise DuplicateRequest(twin) from None
