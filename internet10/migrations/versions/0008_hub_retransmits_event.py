"""hub retransmits one of our events: events.retransmits_id

A hub that retransmits one of our own events (the Internet10 session followed from a hub's room)
names it, so that event's attendance counts the hub's people once and breaks them down by hub.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("retransmits_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_events_retransmits_id_events"), "events", ["retransmits_id"], ["id"]
        )
        batch.create_index(op.f("ix_events_retransmits_id"), ["retransmits_id"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index(op.f("ix_events_retransmits_id"))
        batch.drop_constraint(op.f("fk_events_retransmits_id_events"), type_="foreignkey")
        batch.drop_column("retransmits_id")
