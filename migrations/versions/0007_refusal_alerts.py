"""refusal alerts; consent requests to any id

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('refusal_alerts',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notification_id', sa.Uuid(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_refusal_alerts_org_id_organisations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_refusal_alerts_patient_id_patients')),
    sa.PrimaryKeyConstraint('patient_id', 'org_id', 'window_start', name=op.f('pk_refusal_alerts'))
    )
    # A request may name an id that is no patient (the answer must not tell): no foreign key.
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.drop_constraint('fk_consent_requests_patient_id_patients', type_='foreignkey')


def downgrade():
    # Requests to ids that are no patient cannot keep the key: they were never seen anyway.
    op.execute("DELETE FROM consent_requests WHERE patient_id NOT IN (SELECT id FROM patients)")
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_consent_requests_patient_id_patients', 'patients', ['patient_id'], ['id']
        )
    op.drop_table('refusal_alerts')
