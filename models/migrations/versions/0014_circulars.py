"""circulars down the tree (通知下发) and their receipts: circular, circular_delivery,
circular_receipt

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sqlmodel.sql.sqltypes.AutoString(length=200)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, models.tables.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'circular',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source_message_id', _ID, nullable=False),
        sa.Column('node_id', _ID, nullable=False),
        sa.Column('room', _ID, nullable=True),
        sa.Column('sender_id', _ID, nullable=False),
        sa.Column('sender_name', _ID, nullable=False),
        sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('urgent', sa.Boolean(), nullable=False),
        sa.Column('down_to', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        _time('created_at', nullable=False),
        _time('send_at', nullable=False),
        _time('sent_at'),
        sa.Column('groups', sa.Integer(), nullable=False),
        _time('remind_at'),
        _time('reminded_at'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source_message_id'),
    )
    op.create_index('ix_circular_node_id', 'circular', ['node_id'], unique=False)
    op.create_index('ix_circular_send_at', 'circular', ['send_at'], unique=False)
    op.create_index('ix_circular_remind_at', 'circular', ['remind_at'], unique=False)
    op.create_table(
        'circular_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('circular_id', sa.Integer(), nullable=False),
        sa.Column('node_id', _ID, nullable=False),
        sa.Column('room', _ID, nullable=False),
        sa.Column('head_id', _ID, nullable=False),
        _time('posted_at', nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=True),
        _time('head_receipt_at'),
        sa.Column('head_receipt_by', _ID, nullable=True),
        sa.Column('reminder_post_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['circular_id'], ['circular.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('circular_id', 'node_id'),
    )
    op.create_index('ix_circular_delivery_room_posted', 'circular_delivery', ['room', 'posted_at'],
                    unique=False)
    op.create_table(
        'circular_receipt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('circular_id', sa.Integer(), nullable=False),
        sa.Column('node_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('member_name', _ID, nullable=False),
        sa.Column('by_head', sa.Boolean(), nullable=False),
        _time('at', nullable=False),
        sa.Column('message_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(['circular_id'], ['circular.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('circular_id', 'node_id', 'member_id'),
    )


def downgrade() -> None:
    op.drop_table('circular_receipt')
    op.drop_index('ix_circular_delivery_room_posted', table_name='circular_delivery')
    op.drop_table('circular_delivery')
    op.drop_index('ix_circular_remind_at', table_name='circular')
    op.drop_index('ix_circular_send_at', table_name='circular')
    op.drop_index('ix_circular_node_id', table_name='circular')
    op.drop_table('circular')
