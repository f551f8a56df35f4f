"""Input and output shapes of link codes, links, and of how an organisation names a patient."""

from __future__ import annotations

from typing import Any

import segno
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent_api.links import identifiers, naming, refs
from consent_api.orgs.schemas import OrgRefOut
from server.http import issuer

# What the QR code carries: a URI the hospital's desk software recognises, naming the wallet
# that issued the code, so one desk can serve patients of several wallets.
QR_SCHEME = "consentwallet"


class IdentifierField(fields.Field):
    """An identifier for a patient: {"system": absolute URI, "value": text}; with `own`, one
    an organisation links patients under (not our reference system)."""

    def __init__(self, *, own: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.own = own

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        errors = (identifiers.problems_as_own if self.own else identifiers.problems)(value)
        if errors:
            raise ValidationError(errors)
        return identifiers.parse(value)[0].as_json()


class PatientNamedIn(Schema):
    """A body that names one patient, as the calling organisation knows them: its
    `patient_ref`, or its own identifier of a patient linked to it. Exactly one."""

    patient_ref = fields.String(validate=validate.Length(equal=refs.LENGTH))
    patient_identifier = IdentifierField()

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("patient_ref" in data) == ("patient_identifier" in data):
            raise ValidationError(naming.EXACTLY_ONE, naming.REF)

    @staticmethod
    def named(body: dict[str, Any]) -> naming.Named:
        """How the loaded body names its patient."""
        raw = body.get("patient_identifier")
        identifier = identifiers.Identifier(**raw) if raw else None
        return naming.named(body.get("patient_ref"), identifier)


class LinkCodeIn(Schema):
    """The patient asks for a code, optionally for one organisation only."""

    org_id = fields.UUID(load_default=None, allow_none=True)


def qr_uri(code: Any) -> str:
    """The URI the code's QR carries."""
    return f"{QR_SCHEME}://link?code={code.code}&issuer={issuer()}"


def _qr_svg(code: Any) -> str:
    return segno.make(qr_uri(code), error="m").svg_data_uri(scale=4, border=2)


class LinkCodeOut(Schema):
    """A new code, shown once: read it out, or let the desk scan the QR."""

    code = fields.String()
    expires_at = fields.DateTime()
    organisation = fields.Nested(OrgRefOut, attribute="org", allow_none=True)
    qr_uri = fields.Function(qr_uri)
    qr_svg = fields.Function(_qr_svg)
    created_at = fields.DateTime()


class LinkRedeemIn(Schema):
    """An organisation redeems a patient's code under its own identifier for the patient."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    identifier = IdentifierField(required=True, own=True)


def _identifier(link: Any) -> dict[str, str]:
    return identifiers.Identifier(link.system, link.value).as_json()


class OrgLinkOut(Schema):
    """A link as its organisation sees it: the patient by its reference only."""

    id = fields.UUID()
    patient_ref = fields.Function(lambda link: refs.encode(link.org_id, link.patient_id))
    identifier = fields.Function(_identifier)
    created_at = fields.DateTime()


class LinkOut(Schema):
    """A link as its patient sees it."""

    id = fields.UUID()
    organisation = fields.Nested(OrgRefOut, attribute="org")
    identifier = fields.Function(_identifier)
    created_at = fields.DateTime()


class LinkListOut(Schema):
    items = fields.List(fields.Nested(LinkOut))
