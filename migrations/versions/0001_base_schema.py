"""Base schema: users, companies, memberships, single-use invitations.

Revision ID: 0001_base_schema
Revises:
Create Date: 2026-11-21

The invitation system as it stood before seed 003: one code, one use, an
inviter, a PENDING/ACCEPTED status and an expiry.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_base_schema"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.CheckConstraint("email = lower(email)", name=op.f("chk_user_email_lowercase")),
    )
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_memberships_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("user_id", "company_id", name=op.f("uq_memberships_user_id_company_id")),
        sa.CheckConstraint("role IN ('OWNER', 'ADMIN', 'MEMBER')", name=op.f("chk_membership_role")),
    )
    op.create_index(op.f("ix_memberships_company_id_created_at"), "memberships", ["company_id", "created_at"])
    op.create_table(
        "company_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("inviter_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_company_invitations_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["inviter_id"], ["users.id"], name=op.f("fk_company_invitations_inviter_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_invitations")),
        sa.UniqueConstraint("code", name=op.f("uq_company_invitations_code")),
        sa.CheckConstraint("status IN ('PENDING', 'ACCEPTED')", name=op.f("chk_invitation_status")),
    )
    op.create_index(
        op.f("ix_company_invitations_company_id_created_at"),
        "company_invitations",
        ["company_id", "created_at"],
    )


def downgrade():
    op.drop_index(op.f("ix_company_invitations_company_id_created_at"), table_name="company_invitations")
    op.drop_table("company_invitations")
    op.drop_index(op.f("ix_memberships_company_id_created_at"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("companies")
    op.drop_table("users")
