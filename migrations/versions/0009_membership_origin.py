"""Where a membership came from, and what each use of an invitation granted.

Revision ID: 0009_membership_origin
Revises: 0008_invitation_controls
Create Date: 2026-12-02

"Remove everyone who joined through this invitation" needs both, now that an
invitation's role can be edited after people joined and someone removed can
join again through another invitation:

``memberships.invitation_id``: the invitation whose accept made this
membership (NULL: the company's founder, or the invitation was deleted). Only
those memberships are removed through it; someone who left and came back
through another invitation stays.

``invitation_redemptions.role``: the role that use granted, whatever the
invitation grants later; a member whose role now ranks above it was given it
since and is kept.

Backfill: every use before this change granted MEMBER (invitations granted no
other role before 0008), and a membership of someone who used invitations of
its company came from the latest of those uses (members join only through
invitations; owners found their companies).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_membership_origin"
down_revision = "0008_invitation_controls"
branch_labels = None
depends_on = None

ROLE_CHECK = "role IN ('MEMBER', 'ADMIN')"
BACKFILL = """
UPDATE memberships SET invitation_id = (
    SELECT r.invitation_id
    FROM invitation_redemptions r
    JOIN company_invitations i ON i.id = r.invitation_id
    WHERE r.user_id = memberships.user_id AND i.company_id = memberships.company_id
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT 1
)
"""


def upgrade():
    # Nothing points at these two tables, so SQLite may copy them (batch mode) to add a
    # named CHECK and foreign key; PostgreSQL alters them in place.
    with op.batch_alter_table("invitation_redemptions") as batch:
        batch.add_column(sa.Column("role", sa.String(length=10), server_default=sa.text("'MEMBER'"), nullable=False))
        batch.create_check_constraint(op.f("chk_redemption_role"), ROLE_CHECK)
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("invitation_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_memberships_invitation_id_company_invitations"),
            "company_invitations",
            ["invitation_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_memberships_invitation_id"), ["invitation_id"])
    op.execute(BACKFILL)


def downgrade():
    with op.batch_alter_table("memberships") as batch:
        batch.drop_index(op.f("ix_memberships_invitation_id"))
        batch.drop_constraint(op.f("fk_memberships_invitation_id_company_invitations"), type_="foreignkey")
        batch.drop_column("invitation_id")
    with op.batch_alter_table("invitation_redemptions") as batch:
        batch.drop_constraint(op.f("chk_redemption_role"), type_="check")
        batch.drop_column("role")
