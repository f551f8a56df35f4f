"""How catalog codes are shown to people: each code with its plain-language label."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import fields


class Labelled(fields.Field):
    """Dump a catalog code as {"code", "label"}, the label read from `labels` (an unknown
    code, from an older catalog, is its own label)."""

    def __init__(self, labels: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.labels = labels

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return {"code": value, "label": self.labels.get(value, value)}
