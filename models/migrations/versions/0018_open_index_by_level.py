"""the open tickets' index ordered as they are counted: ix_ticket_open by (node_id,
escalation_level, status, …), so counting them per node and level reads it in order (no sort)

Revision ID: 0018
Revises: 0017
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_WHERE = "status IN ('open', 'claimed', 'verifying')"


def _create(columns: list[str]) -> None:
    op.create_index('ix_ticket_open', 'ticket', columns, unique=False,
                    sqlite_where=sa.text(OPEN_WHERE), postgresql_where=sa.text(OPEN_WHERE))


def upgrade() -> None:
    op.drop_index('ix_ticket_open', table_name='ticket')
    _create(['node_id', 'escalation_level', 'status', 'deadline_at', 'urgent', 'category'])


def downgrade() -> None:
    op.drop_index('ix_ticket_open', table_name='ticket')
    _create(['node_id', 'status', 'escalation_level', 'deadline_at', 'urgent', 'category'])
