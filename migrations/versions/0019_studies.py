"""studies: a data user registers a study, the operator reviews it

A study is the sponsoring organisation's (no patient key: shared data, STYLE.md); the
invitations it sends come next, keyed by patient.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 20:40:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "studies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("fee_per_use", sa.Integer(), nullable=False),
        sa.Column("ethics_reference", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("recruitment_target", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("review_reason", sa.String(length=500), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected')", name=op.f("ck_studies_status_known")
        ),
        sa.CheckConstraint("ends_on > starts_on", name=op.f("ck_studies_ends_after_start")),
        sa.CheckConstraint("fee_per_use >= 0", name=op.f("ck_studies_fee_not_negative")),
        sa.CheckConstraint("recruitment_target > 0", name=op.f("ck_studies_target_positive")),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_studies_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
    )
    op.create_index("ix_studies_org_created", "studies", ["org_id", "created_at"])
    op.create_index("ix_studies_status_created", "studies", ["status", "created_at"])


def downgrade():
    op.drop_index("ix_studies_status_created", table_name="studies")
    op.drop_index("ix_studies_org_created", table_name="studies")
    op.drop_table("studies")
