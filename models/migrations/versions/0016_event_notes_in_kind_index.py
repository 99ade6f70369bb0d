"""a period's events of a kind with their notes from the index alone: ix_ticket_event_kind_at_note

Revision ID: 0016
Revises: 0015
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_ticket_event_kind_at_note', 'ticket_event', ['kind', 'at', 'note'],
                    unique=False)
    op.drop_index('ix_ticket_event_kind_at', table_name='ticket_event')


def downgrade() -> None:
    op.create_index('ix_ticket_event_kind_at', 'ticket_event', ['kind', 'at'], unique=False)
    op.drop_index('ix_ticket_event_kind_at_note', table_name='ticket_event')
