"""erasure keeps a tombstone of the patient's audit key: the key is destroyed (NULL), the row
stays, so no later entry can make the erased patient a key again

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 02:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_keys', schema=None) as batch_op:
        batch_op.alter_column('key', existing_type=sa.LargeBinary(length=32), nullable=True)
        batch_op.add_column(sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.execute("DELETE FROM audit_keys WHERE key IS NULL")
    with op.batch_alter_table('audit_keys', schema=None) as batch_op:
        batch_op.drop_column('destroyed_at')
        batch_op.alter_column('key', existing_type=sa.LargeBinary(length=32), nullable=False)
