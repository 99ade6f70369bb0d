"""a subtree's ratings of a period joined from two indexes: ix_ticket_event_kind_at_note holds
the ticket, ix_ticket_node the ticket's number (PostgreSQL; SQLite's indexes hold it anyway)

Revision ID: 0019
Revises: 0018
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(event_columns: list[str], include: list[str]) -> None:
    op.drop_index('ix_ticket_event_kind_at_note', table_name='ticket_event')
    op.create_index('ix_ticket_event_kind_at_note', 'ticket_event', event_columns, unique=False)
    op.drop_index('ix_ticket_node', table_name='ticket')
    op.create_index('ix_ticket_node', 'ticket', ['node_id', 'status', 'rating'], unique=False,
                    postgresql_include=include)
    # SQLite forgets a dropped index's statistics (see 0018); a database never analysed stays so.
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
        bind.exec_driver_sql("ANALYZE ix_ticket_event_kind_at_note")
        bind.exec_driver_sql("ANALYZE ix_ticket_node")


def upgrade() -> None:
    _rebuild(['kind', 'at', 'note', 'ticket_id'], ['id'])


def downgrade() -> None:
    _rebuild(['kind', 'at', 'note'], [])
