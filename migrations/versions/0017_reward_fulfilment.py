"""rewards say how they are fulfilled: a voucher code or instructions

A redemption of a `voucher_code` reward shows a code derived from the redemption's id (never
stored: consent_api/points/vouchers.py); `instructions` are shown with it, or alone for an
`instructions` reward. rewards is a shared, small table: no patient key (STYLE.md).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 19:40:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rewards") as batch:
        batch.add_column(
            sa.Column("fulfilment", sa.String(length=20), nullable=False, server_default="voucher_code")
        )
        batch.add_column(sa.Column("instructions", sa.Text(), nullable=False, server_default=""))
        batch.create_check_constraint(
            op.f("ck_rewards_fulfilment_known"), "fulfilment IN ('voucher_code', 'instructions')"
        )


def downgrade():
    with op.batch_alter_table("rewards") as batch:
        batch.drop_constraint(op.f("ck_rewards_fulfilment_known"), type_="check")
        batch.drop_column("instructions")
        batch.drop_column("fulfilment")
