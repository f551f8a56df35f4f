"""Input and output shapes of the patient resource."""

from typing import Any

from marshmallow import Schema, fields, pre_load, validate

from consent_api.wording import visible


def _display_name() -> fields.String:
    return fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=100),
            visible,
        ],
    )


class PatientIn(Schema):
    """Sign-up body."""

    @pre_load
    def _trim_email(self, data: Any, **_kwargs: Any) -> Any:
        # Stored trimmed and lower-cased (service.normalise_email); validate it trimmed too.
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            return {**data, "email": data["email"].strip()}
        return data

    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=10, max=256)
    )
    display_name = _display_name()


class PatientOut(Schema):
    """The patient's profile, as the patient sees it."""

    id = fields.UUID()
    email = fields.String()
    display_name = fields.String()


class ProfileExportOut(PatientOut):
    """The profile in the patient's export."""

    created_at = fields.DateTime()


class EmergencyAccessIn(Schema):
    """Whether a hospital may use the patient's data for emergency treatment without a
    consent (always recorded and pushed as an alert)."""

    allowed = fields.Boolean(required=True)


class ProfilePatch(Schema):
    """What the patient may change of their profile (a new e-mail would need proving)."""

    display_name = _display_name()


class PasswordChangeIn(Schema):
    """The current password, and the new one (held to the sign-up's strength rules)."""

    current_password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=256)
    )
    new_password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=10, max=256)
    )


class EmergencyAccessOut(Schema):
    """The patient's emergency-access setting."""

    allowed = fields.Boolean(attribute="emergency_access")
