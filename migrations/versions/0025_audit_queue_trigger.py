"""an audit entry queues itself: a trigger writes its audit_queue row

The writer no longer inserts the queue row beside the entry: the database does, in the same
statement, so an entry the sequencer never sees cannot exist and the event's transaction
makes one round trip fewer to the database.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 01:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_queue (entry_id, recorded_at) VALUES (NEW.id, NEW.recorded_at);
    RETURN NULL;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_entries_enqueue AFTER INSERT ON audit_entries "
            "FOR EACH ROW EXECUTE FUNCTION audit_enqueue()"
        )
        return
    op.execute(
        "CREATE TRIGGER audit_entries_enqueue AFTER INSERT ON audit_entries BEGIN "
        "INSERT INTO audit_queue (entry_id, recorded_at) VALUES (NEW.id, NEW.recorded_at); END"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_enqueue ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_enqueue()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entries_enqueue")
