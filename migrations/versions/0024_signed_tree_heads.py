"""each audit tree head carries its signature (a compact JWS by the service's signing key)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 22:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_tree_heads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('audit_tree_heads', schema=None) as batch_op:
        batch_op.drop_column('signed')
