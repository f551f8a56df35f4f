"""covering index for consent checks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 22:40:00

"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DECISION_COLUMNS = [
    "grantee_org_id",
    "grantee_org_type",
    "id",
    "version",
    "status",
    "data_categories",
    "purposes",
    "actions",
    "valid_from",
    "valid_until",
    "data_period_start",
    "data_period_end",
    "max_uses",
    "use_count",
    "exclusions",
]


def upgrade():
    # On PostgreSQL the check is answered by an index-only scan; elsewhere INCLUDE is ignored
    # and this is the plain patient index it replaces.
    op.create_index(
        "ix_consents_decision",
        "consents",
        ["patient_id"],
        postgresql_include=DECISION_COLUMNS,
    )
    op.drop_index("ix_consents_patient_id", table_name="consents")


def downgrade():
    op.create_index("ix_consents_patient_id", "consents", ["patient_id"])
    op.drop_index("ix_consents_decision", table_name="consents")
