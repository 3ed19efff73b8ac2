"""Audit trail: who created, paused, started, revoked or accepted, and member changes.

Revision ID: 0003_audit_trail
Revises: 0002_enhance_invitations
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_audit_trail"
down_revision = "0002_enhance_invitations"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("subject_user_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_events_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_audit_events_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["company_invitations.id"],
            name=op.f("fk_audit_events_invitation_id_company_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_user_id"],
            ["users.id"],
            name=op.f("fk_audit_events_subject_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_company_id_created_at"), "audit_events", ["company_id", "created_at"])
    op.create_index(op.f("ix_audit_events_invitation_id_created_at"), "audit_events", ["invitation_id", "created_at"])


def downgrade():
    op.drop_index(op.f("ix_audit_events_invitation_id_created_at"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_company_id_created_at"), table_name="audit_events")
    op.drop_table("audit_events")
