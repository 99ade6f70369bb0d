"""media a message carried (photos, voice, video, files, locations): attachment

Revision ID: 0015
Revises: 0014
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'attachment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('sender_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('media_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('mime', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('details', sa.JSON(none_as_null=True), nullable=True),
        sa.Column('refused', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column('at', models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id', 'position'),
    )
    op.create_index('ix_attachment_ticket_id', 'attachment', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_attachment_ticket_id', table_name='attachment')
    op.drop_table('attachment')
