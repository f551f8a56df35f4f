"""journal entries notify a channel of their own ('events_due')

0011 had the journal's commits notify 'outbox_due', the pushes' channel, so every data
use's commit also woke the event publisher and the webhook deliveries, for nothing. Now the
journal's trigger notifies 'events_due', which wakes only those, and the outbox's commits
only the push drain. PostgreSQL only, as 0010.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 16:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION events_due_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('events_due', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute("DROP TRIGGER IF EXISTS event_journal_due ON event_journal")
    op.execute(
        "CREATE TRIGGER event_journal_due AFTER INSERT ON event_journal "
        "FOR EACH STATEMENT EXECUTE FUNCTION events_due_notify()"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS event_journal_due ON event_journal")
    op.execute(
        "CREATE TRIGGER event_journal_due AFTER INSERT ON event_journal "
        "FOR EACH STATEMENT EXECUTE FUNCTION outbox_due_notify()"
    )
    op.execute("DROP FUNCTION IF EXISTS events_due_notify()")
