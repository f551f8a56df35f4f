"""Idempotency-Key for unsafe POSTs (IETF draft-ietf-httpapi-idempotency-key-header).

The first request with a key stores the response it answered with, under the key, in its own
transaction (a concurrent twin waits on the unique index, then rolls back and replays). The
same key with the same body answers that response again, with `Idempotent-Replayed: true`,
having written nothing; the same key with another body is a 422. A request that fails and
rolls back leaves no trace, so the client may retry with its key.
Keys are scoped to the caller and the route, and kept for KEEP_FOR.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import JSON, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from server.db import core, db, insert_or_skip, utcnow, uuid_pk
from server.errors import KeptRefusal, Problem, ValidationFailed, render_problem
from server.http import json_body

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(days=7)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


class IdempotencyRecord(db.Model):
    """A reserved key and the response first given for it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal_id", "endpoint", "key", name="principal_key"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    principal_id: Mapped[uuid.UUID]
    endpoint: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[Any | None] = mapped_column(JSON)
    location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


_table = IdempotencyRecord.__table__


def fingerprint(body: Any) -> str:
    """Digest of the request body as parsed: key order and whitespace do not matter."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key() -> str:
    key = request.headers.get(HEADER)
    if key is None:
        raise Problem(
            f"Send an {HEADER} header: a unique value per operation, reused on retries.",
            code="idempotency_key_missing",
            errors={HEADER: ["Missing required header."]},
        )
    if not _KEY.match(key):
        raise Problem(
            f"The {HEADER} must be 1 to 255 printable ASCII characters without spaces.",
            code="idempotency_key_invalid",
            errors={HEADER: ["1 to 255 printable ASCII characters without spaces."]},
        )
    return key


def _as_is(answer: Any) -> Any:
    return answer


def _replay(
    record: IdempotencyRecord, digest: str, restore: Callable[[Any], Any] = _as_is
) -> Response:
    if record.fingerprint != digest:
        raise ValidationFailed(
            f"This {HEADER} was already used with a different request body.",
            code="idempotency_key_reused",
            errors={HEADER: ["Already used with a different body; use a new key."]},
        )
    response = current_app.json.response(restore(record.response))
    response.status_code = record.status_code
    if record.status_code >= 400:
        response.mimetype = "application/problem+json"
    if record.location:
        response.headers["Location"] = record.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _find(principal_id: uuid.UUID, endpoint: str, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal_id == principal_id,
            IdempotencyRecord.endpoint == endpoint,
            IdempotencyRecord.key == key,
        )
    )


def _record(
    principal_id: uuid.UUID,
    key: str,
    digest: str,
    answer: Response,
    keep: Callable[[Any], Any] = _as_is,
) -> bool:
    """Store the answer under the key, in the request's transaction; False if the key is
    taken. On PostgreSQL, a concurrent twin's uncommitted row makes this INSERT wait for the
    twin's transaction to end; then it conflicts (the twin committed) or goes in."""
    stored = core().execute(
        insert_or_skip(_table, "principal_id", "endpoint", "key")
        .values(
            id=uuid.uuid4(),
            principal_id=principal_id,
            endpoint=request.endpoint or request.path,
            key=key,
            fingerprint=digest,
            status_code=answer.status_code,
            response=keep(answer.get_json(silent=True)),
            location=answer.headers.get("Location"),
            created_at=utcnow(),
        )
        .returning(_table.c.id)
    )
    return stored.scalar_one_or_none() is not None


def _replay_instead(
    principal_id: uuid.UUID, key: str, digest: str, restore: Callable[[Any], Any] = _as_is
) -> Response:
    """The key was used before: undo what this request wrote and answer as the first did."""
    db.session.rollback()
    found = _find(principal_id, request.endpoint or request.path, key)
    if found is None:  # cannot happen after a conflict, short of a purge in between
        raise Problem(
            "A request with this key was being processed; retry shortly.",
            status=409,
            code="idempotency_key_in_use",
        )
    return _replay(found, digest, restore)


def idempotent(
    principal: Callable[[], uuid.UUID],
    *,
    keep: Callable[[Any], Any] = _as_is,
    restore: Callable[[Any], Any] = _as_is,
) -> Callable:
    """Make a JSON POST view idempotent per (principal(), route, Idempotency-Key).

    An answer that carries a secret derived when it is rendered (a voucher code) is stored
    as `keep` leaves it, and `restore` derives the secret again on a replay: the record of
    an answer never holds what the rest of the database does not.

    The view runs, and its answer is stored under the key in the same transaction: its
    success, or a refusal it keeps on record (`KeptRefusal`); other errors roll back and
    store nothing. When the key turns out to be taken (a retry, or a concurrent twin that
    committed first), everything this request wrote is rolled back and the first answer is
    replayed. A retry is rare, so the usual request pays one INSERT for all of this.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = _key()
            digest = fingerprint(json_body())
            principal_id = principal()
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except Problem as problem:
                if isinstance(problem, KeptRefusal):  # on record: stored like a success
                    if _record(principal_id, key, digest, render_problem(problem)):
                        raise
                elif _find(principal_id, request.endpoint or request.path, key) is None:
                    raise  # a plain error: nothing stored, the key stays free
                # A retry that fails now (points spent since, say) still gets the first answer.
                return _replay_instead(principal_id, key, digest, restore)
            if _record(principal_id, key, digest, response, keep):
                return response
            return _replay_instead(principal_id, key, digest, restore)

        return wrapper

    return decorator


def purge(*, now: datetime) -> int:
    """Forget keys older than KEEP_FOR (a periodic job)."""
    return db.session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.created_at < now - KEEP_FOR)
        .execution_options(synchronize_session=False)
    ).rowcount
