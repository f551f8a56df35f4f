"""a revoked consent keeps a coded reason its grantee may read

`revoke_reason` is the patient's own text (it may name a doctor or a diagnosis) and stays
theirs; `revocation_reason` is the code an organisation is shown: `revoked_by_patient` or
`patient_erased`. Consents revoked before are coded from what was kept: erasure wrote its
own fixed reason.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 19:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

ERASURE_REASON = "erased at the patient's request"  # what consents/rights.py writes


def upgrade():
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revocation_reason', sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_consents_revocation_reason_known'),
            "revocation_reason IS NULL OR revocation_reason IN "
            "('revoked_by_patient', 'patient_erased')",
        )
    consents = sa.table(
        'consents',
        sa.column('status', sa.String),
        sa.column('revoke_reason', sa.Text),
        sa.column('revocation_reason', sa.String),
    )
    op.execute(
        consents.update()
        .where(consents.c.status == 'revoked')
        .values(
            revocation_reason=sa.case(
                (consents.c.revoke_reason == ERASURE_REASON, 'patient_erased'),
                else_='revoked_by_patient',
            )
        )
    )


def downgrade():
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_consents_revocation_reason_known'), type_='check')
        batch_op.drop_column('revocation_reason')
