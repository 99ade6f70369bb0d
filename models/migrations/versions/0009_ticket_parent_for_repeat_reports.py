"""a ticket joined to another of the same problem (一事多报): ticket.parent_id

Revision ID: 0009
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticket') as batch:
        batch.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch.create_index('ix_ticket_parent_id', ['parent_id'], unique=False)
        batch.create_foreign_key('fk_ticket_parent_id_ticket', 'ticket', ['parent_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('ticket') as batch:
        batch.drop_constraint('fk_ticket_parent_id_ticket', type_='foreignkey')
        batch.drop_index('ix_ticket_parent_id')
        batch.drop_column('parent_id')
