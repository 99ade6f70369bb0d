"""tickets, events, inbound messages, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-24 09:00:09.082492
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbound_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('sender_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('sender_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('quoted', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('sent_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('handled_at', models.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('group_room', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reporter_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reporter_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('building', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('floor', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('assignee_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('assignee_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('rating', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('rating_comment', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', models.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', models.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', models.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_message_id')
    )
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_group_room'), ['group_room'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_status'), ['status'], unique=False)

    op.create_table('outbound_post',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('mentions', sa.JSON(), nullable=False),
    sa.Column('reply_to', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', models.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbound_post', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_post_delivered_at'), ['delivered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_post_room'), ['room'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_post_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source_message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_event_ticket_id'), ['ticket_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ticket_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_event_ticket_id'))

    op.drop_table('ticket_event')
    with op.batch_alter_table('outbound_post', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_post_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_outbound_post_room'))
        batch_op.drop_index(batch_op.f('ix_outbound_post_delivered_at'))

    op.drop_table('outbound_post')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_status'))
        batch_op.drop_index(batch_op.f('ix_ticket_node_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_group_room'))
        batch_op.drop_index(batch_op.f('ix_ticket_created_at'))

    op.drop_table('ticket')
    op.drop_table('inbound_message')
