"""privacy budgets for cohort counts

One row per organisation: the epsilon (in millionths) it may spend on cohort counts per
period and what it has spent; organisations are a shared, small table, so no patient key
(STYLE.md). An organisation without a row has the configured default.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 20:45:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "privacy_budgets",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("total_micro", sa.BigInteger(), nullable=False),
        sa.Column("spent_micro", sa.BigInteger(), nullable=False),
        sa.Column("renews_every_days", sa.Integer(), nullable=False),
        sa.Column("period_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("total_micro >= 0", name=op.f("ck_privacy_budgets_total_not_negative")),
        sa.CheckConstraint("spent_micro >= 0", name=op.f("ck_privacy_budgets_spent_not_negative")),
        sa.CheckConstraint(
            "renews_every_days >= 1", name=op.f("ck_privacy_budgets_renewal_positive")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_privacy_budgets_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_privacy_budgets")),
    )


def downgrade():
    op.drop_table("privacy_budgets")
