"""The organisation asking, as the decision core and the hot paths see it (no database)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Org:
    """The organisation asking: its id, its type, whether it may act, its name."""

    id: uuid.UUID
    type: str
    active: bool = True
    name: str = ""
