"""names heads and deputies were seen posting under

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('member_name',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('folded', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('first_seen_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'name')
    )
    op.create_index(op.f('ix_member_name_folded'), 'member_name', ['folded'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_member_name_folded'), table_name='member_name')
    op.drop_table('member_name')
