"""a stored message whose handling failed: tried again with backoff, then set aside (dead letter)

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_message') as batch:
        batch.add_column(sa.Column('details', sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=500),
                                   nullable=True))
        batch.add_column(sa.Column('retry_at', models.tables.UTCDateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column('dead_at', models.tables.UTCDateTime(timezone=True),
                                   nullable=True))
        batch.create_index('ix_inbound_message_retry_at', ['retry_at'], unique=False)
    # Messages stored and never handled before this version are tried again at once.
    op.execute("UPDATE inbound_message SET retry_at = received_at WHERE handled_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('inbound_message') as batch:
        batch.drop_index('ix_inbound_message_retry_at')
        batch.drop_column('dead_at')
        batch.drop_column('retry_at')
        batch.drop_column('last_error')
        batch.drop_column('attempts')
        batch.drop_column('details')
