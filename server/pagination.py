"""Keyset (cursor) pagination: stable under inserts, one indexed range scan per page.

A cursor is opaque and tamper-evident: the position it holds is signed with the app's
SECRET_KEY (itsdangerous, Flask's own signer), so a cursor the API did not issue is refused,
never interpreted."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from flask import current_app, request
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from server.db import db
from server.errors import ValidationFailed


class Page(NamedTuple):
    """One page of items, and the cursor of the next (None on the last page)."""

    items: list[Any]
    next_cursor: str | None


# What a cursor is made of (itsdangerous' URL-safe base64 and its separator): base64
# decoding skips other characters, so a cursor with any appended is refused here instead.
_CURSOR = re.compile(r"[A-Za-z0-9_.-]+")


def _signer() -> URLSafeSerializer:
    # Salted with the route: a cursor is good for the list that issued it, not another.
    salt = f"pagination-cursor:{request.endpoint}"
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def encode(when: datetime | int, row_id: uuid.UUID) -> str:
    """Return an opaque, signed cursor pointing just after (when, row_id): a time, or a
    number where a list is ordered by one (a sequence)."""
    position = when.isoformat() if isinstance(when, datetime) else int(when)
    return _signer().dumps([position, str(row_id)])


def decode(cursor: str) -> tuple[datetime | int, uuid.UUID]:
    """Read a cursor back, or raise a 422 naming the `cursor` parameter."""
    try:
        if not _CURSOR.fullmatch(cursor):
            raise ValueError(cursor)
        when, row_id = _signer().loads(cursor)
        if type(when) is int:
            return when, uuid.UUID(row_id)
        return datetime.fromisoformat(when), uuid.UUID(row_id)
    except (BadData, ValueError, TypeError, AttributeError) as exc:
        raise ValidationFailed(errors={"cursor": ["Not a cursor this API issued."]}) from exc


def page(
    statement: Select,
    *,
    order_column: InstrumentedAttribute,
    id_column: InstrumentedAttribute,
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> Select:
    """Order by (order_column, id), newest first if `descending`, and start after the
    cursor; fetch one extra row."""
    if cursor:
        when, row_id = decode(cursor)
        key, after = tuple_(order_column, id_column), tuple_(when, row_id)
        statement = statement.where(key < after if descending else key > after)
    if descending:
        return statement.order_by(order_column.desc(), id_column.desc()).limit(limit + 1)
    return statement.order_by(order_column, id_column).limit(limit + 1)


def fetch(
    statement: Select,
    *,
    order_column: InstrumentedAttribute,
    id_column: InstrumentedAttribute,
    query: dict[str, Any],
    descending: bool = False,
) -> Page:
    """One page of the model rows `statement` selects, in (order_column, id) order, as a
    list query's `cursor` and `limit` ask."""
    rows = db.session.scalars(
        page(
            statement,
            order_column=order_column,
            id_column=id_column,
            cursor=query.get("cursor"),
            limit=query["limit"],
            descending=descending,
        )
    ).all()
    return envelope(rows, limit=query["limit"], order_attr=order_column.key)


def envelope(
    rows: Sequence[Any],
    *,
    limit: int,
    order_attr: str,
    keyed_by: Callable[[Any], Any] = lambda row: row,
) -> Page:
    """Split the extra row off; return the page and its next cursor (None if the last).
    `keyed_by` picks the object holding the order column and id out of a row (for rows of
    several entities)."""
    items = list(rows[:limit])
    if len(rows) <= limit:
        return Page(items, None)
    last = keyed_by(items[-1])
    return Page(items, encode(getattr(last, order_attr), last.id))


def scan(
    session,
    statement: Select,
    *,
    order_column: InstrumentedAttribute,
    id_column: InstrumentedAttribute,
    order_attr: str,
    cursor: str | None,
    limit: int,
    keep: Callable[[Any], bool],
    batch: int = 500,
    descending: bool = False,
) -> Page:
    """Page through rows that also pass a Python filter (`keep`), reading in batches until a
    page is full or the rows run out; the cursor stays exact."""
    kept: list[Any] = []
    position = cursor
    while True:
        rows = session.scalars(
            page(
                statement,
                order_column=order_column,
                id_column=id_column,
                cursor=position,
                limit=batch,
                descending=descending,
            )
        ).all()
        for row in rows[:batch]:
            if keep(row):
                kept.append(row)
                if len(kept) > limit:
                    return envelope(kept, limit=limit, order_attr=order_attr)
        if len(rows) <= batch:
            return envelope(kept, limit=limit, order_attr=order_attr)
        last = rows[batch - 1]
        position = encode(getattr(last, order_attr), last.id)
