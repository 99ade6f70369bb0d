"""why a stored message was not acted on; indexes to count a member's recent requests

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_message') as batch:
        batch.add_column(sa.Column('skipped', sqlmodel.sql.sqltypes.AutoString(length=20),
                                   nullable=True))
    op.create_index('ix_inbound_message_sender_sent', 'inbound_message', ['sender_id', 'sent_at'],
                    unique=False)
    op.create_index('ix_ticket_reporter_created', 'ticket', ['reporter_id', 'created_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_ticket_reporter_created', table_name='ticket')
    op.drop_index('ix_inbound_message_sender_sent', table_name='inbound_message')
    with op.batch_alter_table('inbound_message') as batch:
        batch.drop_column('skipped')
