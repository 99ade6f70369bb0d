"""a head away and who stands in (请假, 代理): stand_in

Revision ID: 0011
Revises: 0010
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'stand_in',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('stand_in_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('stand_in_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('until', models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended_at', models.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stand_in_member_id', 'stand_in', ['member_id'], unique=False)
    op.create_index('ix_stand_in_stand_in_id', 'stand_in', ['stand_in_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_stand_in_stand_in_id', table_name='stand_in')
    op.drop_index('ix_stand_in_member_id', table_name='stand_in')
    op.drop_table('stand_in')
