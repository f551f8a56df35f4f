"""patient links: link codes, links, and the lookup of organisations' identifiers

link_codes is keyed by the code's public handle and link_identifiers by (org, system,
value): global lookups in tables of their own; patient_links leads with patient_id.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:48:55.832846

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('link_codes',
    sa.Column('handle', sa.String(length=8), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('link_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_link_codes_org_id_organisations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_link_codes_patient_id_patients')),
    sa.PrimaryKeyConstraint('handle', name=op.f('pk_link_codes'))
    )
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.create_index('ix_link_codes_expires', ['expires_at'], unique=False)
        batch_op.create_index('ix_link_codes_patient', ['patient_id'], unique=False)

    op.create_table('patient_links',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.String(length=20), nullable=True),
    sa.CheckConstraint("removed_by IN ('patient', 'organisation')", name=op.f('ck_patient_links_removed_by_known')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_patient_links_org_id_organisations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_links_patient_id_patients')),
    sa.PrimaryKeyConstraint('patient_id', 'id', name=op.f('pk_patient_links'))
    )
    with op.batch_alter_table('patient_links', schema=None) as batch_op:
        batch_op.create_index('ix_patient_links_org', ['org_id'], unique=False)

    op.create_table('link_identifiers',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('link_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_link_identifiers_org_id_organisations')),
    sa.ForeignKeyConstraint(['patient_id', 'link_id'], ['patient_links.patient_id', 'patient_links.id'], name=op.f('fk_link_identifiers_patient_id_patient_links')),
    sa.PrimaryKeyConstraint('org_id', 'system', 'value', name=op.f('pk_link_identifiers'))
    )
    with op.batch_alter_table('link_identifiers', schema=None) as batch_op:
        batch_op.create_index('ix_link_identifiers_link', ['patient_id', 'link_id'], unique=False)



def downgrade():
    with op.batch_alter_table('link_identifiers', schema=None) as batch_op:
        batch_op.drop_index('ix_link_identifiers_link')

    op.drop_table('link_identifiers')
    with op.batch_alter_table('patient_links', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_links_org')

    op.drop_table('patient_links')
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_link_codes_patient')
        batch_op.drop_index('ix_link_codes_expires')

    op.drop_table('link_codes')
