"""escalation clock and records, digest runs, private posts, outbox send leases

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('digest_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('fire_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_start', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('schedule', 'node_id', 'fire_at')
    )
    op.create_table('ticket_escalation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('cause', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'level', 'round')
    )
    with op.batch_alter_table('outbound_post', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('sending_since', models.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.alter_column('room',
               existing_type=sa.VARCHAR(length=200),
               nullable=True)

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clock_started_at', models.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deadline_at', models.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalation_due_at', models.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_ticket_deadline_at'), ['deadline_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_escalation_due_at'), ['escalation_due_at'], unique=False)

    # Tickets still open from before the timers existed: their clock started at the request, and
    # they are due now, so the first scan lifts each to the level its age calls for.
    op.execute("UPDATE ticket SET clock_started_at = created_at, deadline_at = created_at, "
               "escalation_due_at = created_at WHERE status IN ('open', 'claimed')")



def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_escalation_due_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_deadline_at'))
        batch_op.drop_column('escalation_due_at')
        batch_op.drop_column('deadline_at')
        batch_op.drop_column('clock_started_at')

    with op.batch_alter_table('outbound_post', schema=None) as batch_op:
        batch_op.alter_column('room',
               existing_type=sa.VARCHAR(length=200),
               nullable=False)
        batch_op.drop_column('sending_since')
        batch_op.drop_column('recipient_id')

    op.drop_table('ticket_escalation')
    op.drop_table('digest_run')
