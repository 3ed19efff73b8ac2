"""The controls admins ask for: role, allowed domain, label, edits, pause all.

Revision ID: 0008_invitation_controls
Revises: 0007_email_identity
Create Date: 2026-12-02

``company_invitations.role``: what joining through the invitation makes you
(``MEMBER``, the default, or ``ADMIN``); every existing invitation granted
MEMBER, so that is what they keep.

``company_invitations.allowed_domain``: only verified addresses at this domain
may accept; never together with a target email.

``company_invitations.label``: an admin's note, up to 80 characters.

``company_invitations.version``: moves by one with every edit, so that an edit
made from a card that is no longer current matches nothing (two admins editing
at once: one wins, the other is shown the card as it now is).

``companies.invitations_paused_at``: "Pause all". Each invitation keeps its own
``is_active``, so resuming gives every one its own state back.

The CHECKs are plain column constraints of ``ADD COLUMN`` on SQLite (which
cannot add a named table constraint without copying the table), named ones on
PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_invitation_controls"
down_revision = "0007_email_identity"
branch_labels = None
depends_on = None

CHECKS = {
    "role": ("invitation_role", "role IN ('MEMBER', 'ADMIN')"),
    "allowed_domain": (
        "invitation_allowed_domain",
        "allowed_domain IS NULL OR (email IS NULL AND allowed_domain = lower(allowed_domain))",
    ),
    "label": ("invitation_label", "label IS NULL OR length(label) BETWEEN 1 AND 80"),
    "version": ("invitation_version", "version >= 1"),
}
COLUMNS = {
    "role": "VARCHAR(10) DEFAULT 'MEMBER' NOT NULL",
    "allowed_domain": "VARCHAR(253)",
    "label": "VARCHAR(80)",
    "version": "INTEGER DEFAULT 1 NOT NULL",
}


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for column, declaration in COLUMNS.items():
            check = CHECKS[column][1]
            op.execute(f"ALTER TABLE company_invitations ADD COLUMN {column} {declaration} CHECK ({check})")
    else:
        op.add_column(
            "company_invitations",
            sa.Column("role", sa.String(length=10), server_default=sa.text("'MEMBER'"), nullable=False),
        )
        op.add_column("company_invitations", sa.Column("allowed_domain", sa.String(length=253), nullable=True))
        op.add_column("company_invitations", sa.Column("label", sa.String(length=80), nullable=True))
        op.add_column(
            "company_invitations", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        for name, condition in CHECKS.values():
            op.create_check_constraint(op.f(f"chk_{name}"), "company_invitations", condition)
    op.add_column("companies", sa.Column("invitations_paused_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column("companies", "invitations_paused_at")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # 0010 names these CHECKs on SQLite, as table constraints, which SQLite's DROP
        # COLUMN refuses to drop with their column: copy the table without either (batch
        # mode; migrations/env.py runs SQLite migrations with foreign keys off). Before
        # 0010 they are the columns' own constraints, which the copy leaves out too.
        present = {c["name"] for c in sa.inspect(bind).get_check_constraints("company_invitations")}
        with op.batch_alter_table("company_invitations", recreate="always") as batch:
            for name, _ in CHECKS.values():
                if op.f(f"chk_{name}") in present:
                    batch.drop_constraint(op.f(f"chk_{name}"), type_="check")
            for column in reversed(list(COLUMNS)):
                batch.drop_column(column)
        return
    for name, _ in CHECKS.values():
        op.drop_constraint(op.f(f"chk_{name}"), "company_invitations", type_="check")
    for column in reversed(list(COLUMNS)):
        op.drop_column("company_invitations", column)
