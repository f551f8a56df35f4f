"""The kinds of organisation, and the most each kind may be granted (a client may be narrowed
further): data holders check before they disclose; data users read the consents they hold,
ask for consent and report their uses; the operator only administers."""

from __future__ import annotations

from server import scopes

BY_ORG_TYPE: dict[str, tuple[str, ...]] = {
    "hospital": scopes.ORG_SCOPES,
    "pharma": scopes.ORG_SCOPES,
    "research": scopes.ORG_SCOPES,
    "insurer": scopes.ORG_SCOPES,
    "operator": (scopes.ADMIN,),
}
ORG_TYPES = tuple(BY_ORG_TYPE)
# The types a consent may name as its grantee: everyone but the operator.
DATA_ORG_TYPES = tuple(t for t in ORG_TYPES if t != "operator")
# The types that hold patients' data and may be paid as a use's data holder.
DATA_HOLDER_TYPES = ("hospital",)
