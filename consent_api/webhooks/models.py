"""Webhook endpoints of organisations, and the delivery of each event to each endpoint."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_api.events.models import OrgEvent
from server.db import db, utcnow, uuid_pk

ENDPOINT_STATUSES = ("active", "disabled")
# Who disabled an endpoint: its organisation, the operator, or its own persistent failure.
DISABLED_BY = ("organisation", "operator", "failing")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(db.Model):
    """Where an organisation wants its events pushed, and which types.

    Its deliveries go out one after another in the order of the organisation's sequence, so
    that a receiver sees each consent's changes in order; when one fails, the endpoint as a
    whole waits (`next_attempt_at`, backing off) and its lease keeps two workers from
    sending to it at once. Its signing secret is kept sealed; after a rotation the previous
    one signs too until `previous_secret_until`.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(f"status IN {ENDPOINT_STATUSES!r}", name="status_known"),
        CheckConstraint(
            f"disabled_by IS NULL OR disabled_by IN {DISABLED_BY!r}", name="disabled_by_known"
        ),
        Index("ix_webhook_endpoints_org", "org_id"),
        Index("ix_webhook_endpoints_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every type
    status: Mapped[str] = mapped_column(String(10), default="active")
    disabled_by: Mapped[str | None] = mapped_column(String(20))
    disabled_at: Mapped[datetime | None]
    secret_sealed: Mapped[str] = mapped_column(String(200))
    previous_secret_sealed: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row
    failing_since: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[uuid.UUID | None]
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint takes events of this type."""
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(db.Model):
    """One event for one endpoint: pending until the endpoint answers 2xx (delivered) or
    it is given up with the endpoint (failed, a dead letter that can be sent again).
    Keyed by organisation, like the events it carries."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(f"status IN {DELIVERY_STATUSES!r}", name="status_known"),
        ForeignKeyConstraint(
            ["org_id", "seq"],
            ["org_events.org_id", "org_events.seq"],
            name="fk_webhook_deliveries_event",
            ondelete="CASCADE",
        ),
        Index("ix_webhook_deliveries_endpoint_queue", "endpoint_id", "status", "seq"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[OrgEvent] = relationship(viewonly=True)  # what it carries
