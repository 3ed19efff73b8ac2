"""The two constraints SQLite was missing: the invitation email's state, and session tokens.

Revision ID: 0010_sqlite_constraints
Revises: 0009_membership_origin
Create Date: 2026-12-02

0007 added ``company_invitations.email_state`` with its CHECK on PostgreSQL only, and
``users.session_token`` nullable on both databases: SQLite adds a constraint to an
existing column only by copying the table, and with ``PRAGMA foreign_keys=ON`` dropping
the original (``users``, ``company_invitations``: many tables point at them) either
fails or runs their ON DELETE actions. ``migrations/env.py`` now runs SQLite migrations
with foreign keys off and checks them (``PRAGMA foreign_key_check``) before committing,
as SQLite's documentation prescribes for table rebuilds, so Alembic's batch mode can copy
them here.

SQLite: both tables rebuilt (batch mode, ``recreate="always"``): the CHECK
``chk_invitation_email_state``, and ``session_token`` NOT NULL. Batch mode copies only
named CHECKs (it warns and leaves out the rest), and 0008's four are unnamed column
constraints on SQLite: they go into the copy named as on PostgreSQL
(``chk_invitation_role``, ``…_allowed_domain``, ``…_label``, ``…_version``), and stay
named on downgrade (0008's SQLite downgrade drops them with their columns).
PostgreSQL: the CHECK is there since 0007; ``session_token`` becomes NOT NULL in place.
Any user without a token (none should exist: the model gives one on every insert) gets
a random one first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_sqlite_constraints"
down_revision = "0009_membership_origin"
branch_labels = None
depends_on = None

EMAIL_STATE_CHECK = "email_state IS NULL OR email_state IN ('queued', 'sent', 'failed')"
# 0008's CHECKs, unnamed column constraints on SQLite until this copy names them.
INVITATION_CHECKS = {
    "invitation_role": "role IN ('MEMBER', 'ADMIN')",
    "invitation_allowed_domain": "allowed_domain IS NULL OR (email IS NULL AND allowed_domain = lower(allowed_domain))",
    "invitation_label": "label IS NULL OR length(label) BETWEEN 1 AND 80",
    "invitation_version": "version >= 1",
}
TOKEN = sa.String(length=64)


def _fill_missing_tokens(dialect: str) -> None:
    if dialect == "postgresql":
        # gen_random_uuid() draws from a cryptographically strong source (random() does not):
        # two of them, 64 hex digits, as SQLite's 24 random bytes below are 48.
        op.execute(
            "UPDATE users SET session_token = "
            "replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '') "
            "WHERE session_token IS NULL"
        )
    else:
        op.execute("UPDATE users SET session_token = lower(hex(randomblob(24))) WHERE session_token IS NULL")


def upgrade():
    dialect = op.get_bind().dialect.name
    _fill_missing_tokens(dialect)
    if dialect == "sqlite":
        named = [
            sa.CheckConstraint(sa.text(check), name=op.f(f"chk_{name}")) for name, check in INVITATION_CHECKS.items()
        ]
        with op.batch_alter_table("company_invitations", recreate="always", table_args=named) as batch:
            batch.create_check_constraint(op.f("chk_invitation_email_state"), EMAIL_STATE_CHECK)
        with op.batch_alter_table("users", recreate="always") as batch:
            batch.alter_column("session_token", existing_type=TOKEN, nullable=False)
    else:
        op.alter_column("users", "session_token", existing_type=TOKEN, nullable=False)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("users", recreate="always") as batch:
            batch.alter_column("session_token", existing_type=TOKEN, nullable=True)
        with op.batch_alter_table("company_invitations", recreate="always") as batch:
            batch.drop_constraint(op.f("chk_invitation_email_state"), type_="check")
    else:
        op.alter_column("users", "session_token", existing_type=TOKEN, nullable=True)
