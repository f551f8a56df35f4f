"""abuse detection: the rules' settings, incidents and the patients they concern, the
detector's summaries (hourly counts per organisation, each organisation's first touch of each
patient) and its state; why an organisation is suspended

Patient-owned rows (first touches, incident patients) lead their keys with patient_id
(STYLE.md); the rest are small tables shared by every patient.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 03:43:25

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('abuse_rules',
    sa.Column('rule', sa.String(length=20), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('auto_suspend', sa.Boolean(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("rule IN ('burst', 'volume', 'refusals', 'emergency', 'breadth')", name=op.f('ck_abuse_rules_rule_known')),
    sa.CheckConstraint("severity IN ('low', 'medium', 'high')", name=op.f('ck_abuse_rules_severity_known')),
    sa.PrimaryKeyConstraint('rule', name=op.f('pk_abuse_rules'))
    )
    op.create_table('abuse_scan_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rolled_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rolled_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('touched_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_abuse_scan_state'))
    )
    op.create_table('abuse_first_touches',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_abuse_first_touches_org_id_organisations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_abuse_first_touches_patient_id_patients')),
    sa.PrimaryKeyConstraint('patient_id', 'org_id', name=op.f('pk_abuse_first_touches'))
    )
    with op.batch_alter_table('abuse_first_touches', schema=None) as batch_op:
        batch_op.create_index('ix_abuse_first_touches_org_at', ['org_id', 'first_at'], unique=False)

    op.create_table('abuse_hourly_uses',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('emergency', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_abuse_hourly_uses_org_id_organisations')),
    sa.PrimaryKeyConstraint('org_id', 'hour', name=op.f('pk_abuse_hourly_uses'))
    )
    op.create_table('abuse_incidents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('rule', sa.String(length=20), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('patients', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('suspended_org', sa.Boolean(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.CheckConstraint("rule IN ('burst', 'volume', 'refusals', 'emergency', 'breadth')", name=op.f('ck_abuse_incidents_rule_known')),
    sa.CheckConstraint("severity IN ('low', 'medium', 'high')", name=op.f('ck_abuse_incidents_severity_known')),
    sa.CheckConstraint("state IN ('open', 'acknowledged', 'dismissed', 'escalated')", name=op.f('ck_abuse_incidents_state_known')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_abuse_incidents_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_abuse_incidents'))
    )
    with op.batch_alter_table('abuse_incidents', schema=None) as batch_op:
        batch_op.create_index('ix_abuse_incidents_opened', ['opened_at', 'id'], unique=False)
        batch_op.create_index('ix_abuse_incidents_org_rule', ['org_id', 'rule', 'subject'], unique=False)

    op.create_table('abuse_incident_patients',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('told_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['abuse_incidents.id'], name=op.f('fk_abuse_incident_patients_incident_id_abuse_incidents')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_abuse_incident_patients_patient_id_patients')),
    sa.PrimaryKeyConstraint('patient_id', 'incident_id', name=op.f('pk_abuse_incident_patients'))
    )
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspension_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('suspension_ref', sa.Uuid(), nullable=True))



def downgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('suspension_ref')
        batch_op.drop_column('suspension_reason')

    op.drop_table('abuse_incident_patients')
    with op.batch_alter_table('abuse_incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_abuse_incidents_org_rule')
        batch_op.drop_index('ix_abuse_incidents_opened')

    op.drop_table('abuse_incidents')
    op.drop_table('abuse_hourly_uses')
    with op.batch_alter_table('abuse_first_touches', schema=None) as batch_op:
        batch_op.drop_index('ix_abuse_first_touches_org_at')

    op.drop_table('abuse_first_touches')
    op.drop_table('abuse_scan_state')
    op.drop_table('abuse_rules')
