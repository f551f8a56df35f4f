"""research preferences: a patient opts in to study invitations, for what, how often

One row per patient who set them, keyed by patient_id (Citus-ready, STYLE.md); the codes
are bits of integer masks (consent_api/research/codes.py), so counting who accepts a scope
is one pass over the opted-in rows.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 20:35:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "research_preferences",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("purposes_mask", sa.Integer(), nullable=False),
        sa.Column("categories_mask", sa.BigInteger(), nullable=False),
        sa.Column("org_types_mask", sa.Integer(), nullable=False),
        sa.Column("max_invitations_per_month", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "max_invitations_per_month BETWEEN 1 AND 30",
            name=op.f("ck_research_preferences_max_invitations_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_research_preferences_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_research_preferences")),
    )
    op.create_index(
        "ix_research_preferences_opted_in", "research_preferences", ["opted_in", "patient_id"]
    )


def downgrade():
    op.drop_index("ix_research_preferences_opted_in", table_name="research_preferences")
    op.drop_table("research_preferences")
