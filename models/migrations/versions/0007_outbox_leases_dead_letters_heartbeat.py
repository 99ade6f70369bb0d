"""the outbox: who holds a post's lease, failures and dead letters; the readiness heartbeat

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.tables import UTCDateTime

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_post') as batch:
        batch.add_column(sa.Column('sending_by', sqlmodel.sql.sqltypes.AutoString(length=200),
                                   nullable=True))
        batch.add_column(sa.Column('failures', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('dead_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('dead_reason', sqlmodel.sql.sqltypes.AutoString(length=200),
                                   nullable=True))
    op.create_table(
        'heartbeat',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('beat_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('heartbeat')
    with op.batch_alter_table('outbound_post') as batch:
        batch.drop_column('dead_reason')
        batch.drop_column('dead_at')
        batch.drop_column('failures')
        batch.drop_column('sending_by')
