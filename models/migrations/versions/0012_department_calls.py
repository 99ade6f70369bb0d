"""departments called in on a ticket (呼叫, 部门报到): department_call

Revision ID: 0012
Revises: 0011
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'department_call',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('department_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('called_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('called_from_room', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('called_at', models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column('report_due_at', models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column('reported_at', models.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reported_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('late_told_at', models.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ticket_id', 'department_id'),
    )
    op.create_index('ix_department_call_ticket_id', 'department_call', ['ticket_id'], unique=False)
    op.create_index('ix_department_call_report_due_at', 'department_call', ['report_due_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_department_call_report_due_at', table_name='department_call')
    op.drop_index('ix_department_call_ticket_id', table_name='department_call')
    op.drop_table('department_call')
