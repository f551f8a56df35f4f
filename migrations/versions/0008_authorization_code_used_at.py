"""authorization codes are marked used, not deleted

A redeemed code is kept (until the purge) so that a replay is recognised and the tokens
issued from it are revoked (RFC 6749 4.1.2); marking it used is the conditional UPDATE
that lets exactly one of two racing exchanges win.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('used_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('used_at')
