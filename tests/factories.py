"""factory_boy factories; they flush, never commit."""

from __future__ import annotations

import factory
from factory.alchemy import SQLAlchemyModelFactory

from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from consent_api.patients.passwords import hasher_for
from server.db import db

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = hasher_for("testing").hash(PASSWORD)  # the test apps' cheap parameters


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731 - resolved per test
        sqlalchemy_session_persistence = "flush"


class PatientFactory(_Base):
    """A patient whose password is PASSWORD."""

    class Meta:
        model = Patient

    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    display_name = factory.Faker("name")
    password_hash = _PASSWORD_HASH


class OrganisationFactory(_Base):
    """An active organisation without a client."""

    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    type = "hospital"
    status = "active"
