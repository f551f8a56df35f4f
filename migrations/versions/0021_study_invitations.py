"""study invitations are consent requests that name their study; a patient's first look

`study_id` marks a consent request the worker filed to invite a patient to a study (null for
an organisation's own requests); a unique index led by patient_id lets a patient be invited
to a study once, and serves the monthly cap (a patient's invitations). `seen_at` is when the
patient first read the request; the sponsor's counts of its study say how many saw theirs.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 21:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

INVITATION = sa.text("study_id IS NOT NULL")


def upgrade():
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('study_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_consent_requests_study_id_studies'), 'studies', ['study_id'], ['id']
        )
    op.create_index(
        'uq_consent_requests_study_patient',
        'consent_requests',
        ['patient_id', 'study_id'],
        unique=True,
        postgresql_where=INVITATION,
        sqlite_where=INVITATION,
    )
    op.create_index(
        'ix_consent_requests_study_status',
        'consent_requests',
        ['study_id', 'status'],
        postgresql_where=INVITATION,
        sqlite_where=INVITATION,
    )


def downgrade():
    op.drop_index('ix_consent_requests_study_status', table_name='consent_requests')
    op.drop_index('uq_consent_requests_study_patient', table_name='consent_requests')
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_consent_requests_study_id_studies'), type_='foreignkey'
        )
        batch_op.drop_column('seen_at')
        batch_op.drop_column('study_id')
