"""Enhance invitations: max uses, pause/start, revocation, creator, redemptions.

Revision ID: 0002_enhance_invitations
Revises: 0001_base_schema
Create Date: 2026-11-21

Seeds 003 and 000. Existing rows are backfilled as seed 000 did:
``created_by`` from the inviter, ``max_uses`` 1, ``used_count`` 0 for pending
and 1 for accepted invitations. ``created_by`` replaces ``inviter_id`` (the
two would always hold the same user), and downgrade restores it.

The CHECK constraints and the partial index keep seed 000's names
(``chk_invitation_*``, ``idx_invitation_*``), so its verification queries
find them with the table name changed. Legacy accepted invitations have no
redemption row: nobody recorded who used them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_enhance_invitations"
down_revision = "0001_base_schema"
branch_labels = None
depends_on = None

invitations = sa.table(
    "company_invitations",
    sa.column("status", sa.String),
    sa.column("inviter_id", sa.Integer),
    sa.column("created_by", sa.Integer),
    sa.column("max_uses", sa.Integer),
    sa.column("used_count", sa.Integer),
)


def upgrade():
    with op.batch_alter_table("company_invitations") as batch:
        batch.add_column(sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False))
        batch.add_column(sa.Column("max_uses", sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch.add_column(sa.Column("used_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("created_by", sa.Integer(), nullable=True))

    op.execute(
        invitations.update().values(
            created_by=invitations.c.inviter_id,
            max_uses=1,
            used_count=sa.case((invitations.c.status == "ACCEPTED", 1), else_=0),
        )
    )

    with op.batch_alter_table("company_invitations") as batch:
        batch.alter_column("created_by", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_company_invitations_created_by_users"), "users", ["created_by"], ["id"])
        batch.drop_constraint(op.f("fk_company_invitations_inviter_id_users"), type_="foreignkey")
        batch.drop_column("inviter_id")
        batch.create_check_constraint(op.f("chk_invitation_max_uses"), "max_uses >= 1 AND max_uses <= 100")
        batch.create_check_constraint(op.f("chk_invitation_used_count"), "used_count >= 0 AND used_count <= max_uses")
        batch.create_index("idx_invitation_created_by", ["created_by"])
        batch.create_index(
            "idx_invitation_revoked",
            ["revoked_at"],
            sqlite_where=sa.text("revoked_at IS NOT NULL"),
            postgresql_where=sa.text("revoked_at IS NOT NULL"),
        )

    op.create_table(
        "invitation_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["company_invitations.id"],
            name=op.f("fk_invitation_redemptions_invitation_id_company_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_invitation_redemptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation_redemptions")),
        sa.UniqueConstraint("invitation_id", "user_id", name=op.f("uq_invitation_redemptions_invitation_id_user_id")),
    )


def downgrade():
    op.drop_table("invitation_redemptions")
    with op.batch_alter_table("company_invitations") as batch:
        batch.add_column(sa.Column("inviter_id", sa.Integer(), nullable=True))
    op.execute(invitations.update().values(inviter_id=invitations.c.created_by))
    with op.batch_alter_table("company_invitations") as batch:
        batch.alter_column("inviter_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_company_invitations_inviter_id_users"), "users", ["inviter_id"], ["id"])
        batch.drop_index("idx_invitation_revoked")
        batch.drop_index("idx_invitation_created_by")
        batch.drop_constraint(op.f("chk_invitation_used_count"), type_="check")
        batch.drop_constraint(op.f("chk_invitation_max_uses"), type_="check")
        batch.drop_constraint(op.f("fk_company_invitations_created_by_users"), type_="foreignkey")
        batch.drop_column("created_by")
        batch.drop_column("revoked_at")
        batch.drop_column("used_count")
        batch.drop_column("max_uses")
        batch.drop_column("is_active")
