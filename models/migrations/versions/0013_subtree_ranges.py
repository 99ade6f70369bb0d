"""subtrees as ranges (grid_network, grid_node) and the indexes of period counts

Revision ID: 0013
Revises: 0012
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration keeps meaning what it meant when it was written.
OPEN_WHERE = "status IN ('open', 'claimed', 'verifying')"


def upgrade() -> None:
    op.create_table(
        'grid_network',
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('nodes', sa.Integer(), nullable=False),
        sa.Column('used_at', models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('fingerprint'),
    )
    op.create_table(
        'grid_node',
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('subtree_last', sa.Integer(), nullable=False),
        sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('depth', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('fingerprint', 'node_id'),
    )
    op.create_index('ix_grid_node_range', 'grid_node', ['fingerprint', 'position', 'node_id'],
                    unique=False)
    op.create_index('ix_grid_node_room', 'grid_node', ['room'], unique=False)
    op.drop_index('ix_ticket_node_id', table_name='ticket')
    op.create_index('ix_ticket_node', 'ticket', ['node_id', 'status', 'rating'], unique=False)
    op.create_index('ix_ticket_open', 'ticket',
                    ['node_id', 'status', 'escalation_level', 'deadline_at', 'urgent', 'category'],
                    unique=False, sqlite_where=sa.text(OPEN_WHERE),
                    postgresql_where=sa.text(OPEN_WHERE))
    op.create_index('ix_ticket_open_age', 'ticket', ['created_at'], unique=False,
                    sqlite_where=sa.text(OPEN_WHERE), postgresql_where=sa.text(OPEN_WHERE))
    op.create_index('ix_ticket_category', 'ticket', ['category', 'urgent'], unique=False)
    op.drop_index('ix_ticket_deadline_at', table_name='ticket')
    op.create_index('ix_ticket_open_deadline', 'ticket', ['deadline_at'], unique=False,
                    sqlite_where=sa.text(OPEN_WHERE), postgresql_where=sa.text(OPEN_WHERE))
    op.drop_index('ix_ticket_status', table_name='ticket')
    op.create_index('ix_ticket_rating_status', 'ticket', ['rating', 'status'], unique=False)
    op.drop_index('ix_ticket_parent_id', table_name='ticket')
    op.create_index('ix_ticket_parent', 'ticket', ['parent_id'], unique=False,
                    sqlite_where=sa.text('parent_id IS NOT NULL'),
                    postgresql_where=sa.text('parent_id IS NOT NULL'))
    op.create_index('ix_ticket_claimed_at', 'ticket', ['claimed_at'], unique=False)
    op.create_index('ix_ticket_resolved_at', 'ticket', ['resolved_at'], unique=False)
    op.create_index('ix_ticket_event_kind_at', 'ticket_event', ['kind', 'at'], unique=False)
    op.drop_index('ix_ticket_event_ticket_id', table_name='ticket_event')
    op.create_index('ix_ticket_event_ticket_kind_at', 'ticket_event', ['ticket_id', 'kind', 'at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_ticket_event_ticket_kind_at', table_name='ticket_event')
    op.create_index('ix_ticket_event_ticket_id', 'ticket_event', ['ticket_id'], unique=False)
    op.drop_index('ix_ticket_event_kind_at', table_name='ticket_event')
    op.drop_index('ix_ticket_resolved_at', table_name='ticket')
    op.drop_index('ix_ticket_claimed_at', table_name='ticket')
    op.drop_index('ix_ticket_parent', table_name='ticket')
    op.create_index('ix_ticket_parent_id', 'ticket', ['parent_id'], unique=False)
    op.drop_index('ix_ticket_rating_status', table_name='ticket')
    op.create_index('ix_ticket_status', 'ticket', ['status'], unique=False)
    op.drop_index('ix_ticket_open_deadline', table_name='ticket')
    op.create_index('ix_ticket_deadline_at', 'ticket', ['deadline_at'], unique=False)
    op.drop_index('ix_ticket_category', table_name='ticket')
    op.drop_index('ix_ticket_open_age', table_name='ticket')
    op.drop_index('ix_ticket_open', table_name='ticket')
    op.drop_index('ix_ticket_node', table_name='ticket')
    op.create_index('ix_ticket_node_id', 'ticket', ['node_id'], unique=False)
    op.drop_index('ix_grid_node_room', table_name='grid_node')
    op.drop_index('ix_grid_node_range', table_name='grid_node')
    op.drop_table('grid_node')
    op.drop_table('grid_network')
