"""What the detector found: one rule firing, with its evidence and how to find the uses and
patients it concerns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select


@dataclass(frozen=True)
class Detection:
    """A rule firing: for whom, over which window, on what evidence, and which uses and
    patients it concerns (a query over the window, run when the incident is raised)."""

    rule: str
    org_id: uuid.UUID
    window_start: datetime
    window_end: datetime
    first_seen_at: datetime
    counts: dict[str, Any]
    subject: str = ""
    concerned: Select | None = field(default=None, compare=False)  # patient ids
    examples: Select | None = field(default=None, compare=False)  # data use ids
