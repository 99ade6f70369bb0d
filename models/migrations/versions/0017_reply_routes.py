"""where answers to received messages may go, kept across a restart: reply_route

Revision ID: 0017
Revises: 0016
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'reply_route',
        sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('url', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('sender_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('once', sa.Boolean(), nullable=False),
        sa.Column('expires_at', models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('message_id'),
    )
    op.create_index('ix_reply_route_expires_at', 'reply_route', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reply_route_expires_at', table_name='reply_route')
    op.drop_table('reply_route')
