"""outbox rows wake the worker on commit (PostgreSQL LISTEN/NOTIFY)

On PostgreSQL, a statement-level trigger on outbox_messages calls pg_notify('outbox_due'):
delivered when the inserting transaction commits (never for one that rolls back), and once
per transaction however many rows, so the web process pays no extra round trip. SQLite has
no notifications: the worker polls there, as it keeps doing everywhere as the fallback.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION outbox_due_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('outbox_due', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_due AFTER INSERT ON outbox_messages "
        "FOR EACH STATEMENT EXECUTE FUNCTION outbox_due_notify()"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_due ON outbox_messages")
    op.execute("DROP FUNCTION IF EXISTS outbox_due_notify()")
