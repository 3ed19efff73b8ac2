"""Indexes for the dashboard at scale: newest first with a tie-break, paused invitations, live usage.

Index builds only: on PostgreSQL they run ``CONCURRENTLY`` (outside a transaction),
so a big table keeps taking writes while they are built.

Revision ID: 0004_dashboard_indexes
Revises: 0003_audit_trail
Create Date: 2026-11-21

The dashboard orders a company's invitations by ``created_at DESC, id DESC``.
``(company_id, created_at)`` could not give the ``id`` order, so PostgreSQL
sorted every page again; ``(company_id, created_at, id)`` replaces it. The
"paused" filter matches few rows and the planner preferred reading the whole
table to walking the general index; a partial index of paused invitations
serves it. The other filters (active, fully used, expired, revoked) walk the
general index, and the code lookup has the UNIQUE index on ``code``.

Live usage polls for a company's audit events after a cursor (its newest id):
``(company_id, id)`` answers both in a few index entries, however many events
other companies write.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_dashboard_indexes"
down_revision = "0003_audit_trail"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Index builds only: CONCURRENTLY lets writes go on meanwhile, and it cannot run
        # inside a transaction, hence the autocommit block.
        with op.get_context().autocommit_block():
            op.create_index(
                op.f("ix_company_invitations_company_id_created_at_id"),
                "company_invitations",
                ["company_id", "created_at", "id"],
                postgresql_concurrently=True,
            )
            op.create_index(
                "idx_invitation_paused",
                "company_invitations",
                ["company_id", "created_at", "id"],
                postgresql_where=sa.text("NOT is_active"),
                postgresql_concurrently=True,
            )
            op.drop_index(
                op.f("ix_company_invitations_company_id_created_at"),
                table_name="company_invitations",
                postgresql_concurrently=True,
            )
            op.create_index(
                op.f("ix_audit_events_company_id_id"),
                "audit_events",
                ["company_id", "id"],
                postgresql_concurrently=True,
            )
        return
    with op.batch_alter_table("company_invitations") as batch:
        batch.create_index(op.f("ix_company_invitations_company_id_created_at_id"), ["company_id", "created_at", "id"])
        batch.create_index(
            "idx_invitation_paused",
            ["company_id", "created_at", "id"],
            sqlite_where=sa.text("is_active = 0"),
            postgresql_where=sa.text("NOT is_active"),
        )
        batch.drop_index(op.f("ix_company_invitations_company_id_created_at"))
    with op.batch_alter_table("audit_events") as batch:
        batch.create_index(op.f("ix_audit_events_company_id_id"), ["company_id", "id"])


def downgrade():
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index(op.f("ix_audit_events_company_id_id"))
    with op.batch_alter_table("company_invitations") as batch:
        batch.create_index(op.f("ix_company_invitations_company_id_created_at"), ["company_id", "created_at"])
        batch.drop_index("idx_invitation_paused")
        batch.drop_index(op.f("ix_company_invitations_company_id_created_at_id"))
