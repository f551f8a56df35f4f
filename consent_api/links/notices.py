"""What the patient is told about links: one was made, one was removed, someone tried a
wrong code. Each writes one inbox notice (and its pushes) in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifications.models import Notification
from notifications.outbox import notify

LINKED = "patient_linked"
UNLINKED = "patient_unlinked"
LINK_CODE_FAILED = "link_code_failed"
SHOWN = 20  # characters of an organisation's identifier shown in a notice


def _quoted(value: str) -> str:
    """An organisation's identifier as the patient is shown it: its text, never read as ours."""
    return f'"{value if len(value) <= SHOWN else value[:SHOWN].rstrip() + "…"}"'


def linked(link: Any, org_name: str, *, now: datetime) -> Notification:
    """An organisation redeemed the patient's code."""
    return notify(
        link.patient_id,
        type=LINKED,
        title=f"{org_name} linked your wallet",
        body=f"{org_name} now finds you by its record number {_quoted(link.value)}. It still needs "
        "your consent to use your data. You can remove the link in your wallet.",
        data={"link_id": link.id, "org_id": link.org_id},
        now=now,
        high_priority=True,
    )


def unlinked(link: Any, org_name: str, *, by_patient: bool, now: datetime) -> Notification:
    """A link was removed, by the patient (from any of their devices) or the organisation."""
    who = "You removed" if by_patient else f"{org_name} removed"
    return notify(
        link.patient_id,
        type=UNLINKED,
        title=f"{who} the link with {org_name}" if by_patient else f"{who} its link to you",
        body=f"{org_name} can no longer find you by its record number {_quoted(link.value)}. "
        "Your consents are unchanged.",
        data={"link_id": link.id, "org_id": link.org_id},
        now=now,
    )


def code_failed(
    code: Any, org_name: str, *, made_for: str | None, burned: bool, now: datetime
) -> Notification:
    """Someone tried the patient's live link code with a wrong secret, or an organisation
    the code was not made for (`made_for`, its name) tried it."""
    then = (
        "The code no longer works; make a new one when you need it."
        if burned
        else "If that was not you at their desk, make a new code and do not share this one."
    )
    what = (
        f"{org_name} tried to use the link code you made for {made_for}."
        if made_for
        else f"{org_name} tried a link code that did not match yours."
    )
    return notify(
        code.patient_id,
        type=LINK_CODE_FAILED,
        title="Someone tried your link code",
        body=f"{what} {then}",
        data={"code_handle": code.handle},
        now=now,
        high_priority=True,
    )
