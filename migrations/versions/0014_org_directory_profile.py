"""organisations carry a public profile for the directory (description, website, logo)

Set at registration and by the organisation itself (PATCH /v1/org), shown to patients in
GET /v1/orgs. organisations is a shared, small table: no patient key (STYLE.md).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 19:10:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("description", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("website", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("logo_url", sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("logo_url")
        batch.drop_column("website")
        batch.drop_column("description")
