"""one pending consent request per organisation, patient and scope

`scope_key` is the request's data categories, purposes and actions as one key
(consent_api/requests/duplicates.py); a unique index over pending requests, led by
patient_id, refuses a second pending request for the same scope. Requests kept from before
are keyed too; where an organisation had already asked one patient the same more than once
and several are still pending, only the first asked is keyed (the others stay pending, free
of the index, until answered or lapsed).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 19:10:00

"""
import hashlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def _key(categories, purposes, actions):
    """As duplicates.scope_key, frozen here so this migration never changes."""
    canonical = "|".join(",".join(sorted(codes)) for codes in (categories, purposes, actions))
    return hashlib.sha256(canonical.encode()).hexdigest()


def upgrade():
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope_key', sa.String(length=64), nullable=True))
    requests = sa.table(
        'consent_requests',
        sa.column('id', sa.Uuid),
        sa.column('patient_id', sa.Uuid),
        sa.column('org_id', sa.Uuid),
        sa.column('data_categories', sa.JSON),
        sa.column('purposes', sa.JSON),
        sa.column('actions', sa.JSON),
        sa.column('status', sa.String),
        sa.column('created_at', sa.DateTime(timezone=True)),
        sa.column('scope_key', sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            requests.c.id,
            requests.c.patient_id,
            requests.c.org_id,
            requests.c.data_categories,
            requests.c.purposes,
            requests.c.actions,
            requests.c.status,
        ).order_by(requests.c.created_at, requests.c.id)
    ).all()
    keyed = set()
    for row in rows:
        key = _key(row.data_categories, row.purposes, row.actions)
        if row.status == 'pending':
            if (row.patient_id, row.org_id, key) in keyed:
                continue  # a repeat already pending: left unkeyed
            keyed.add((row.patient_id, row.org_id, key))
        bind.execute(
            requests.update().where(requests.c.id == row.id).values(scope_key=key)
        )
    op.create_index(
        'uq_consent_requests_pending_scope',
        'consent_requests',
        ['patient_id', 'org_id', 'scope_key'],
        unique=True,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade():
    op.drop_index(
        'uq_consent_requests_pending_scope',
        table_name='consent_requests',
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.drop_column('scope_key')
