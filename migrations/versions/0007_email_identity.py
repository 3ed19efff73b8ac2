"""Email that proves who the invitee is: verified addresses, session tokens, the outbox.

Revision ID: 0007_email_identity
Revises: 0006_normalise_emails
Create Date: 2026-12-02

``users.email_verified_at``: accounts that existed before this change are
unverified (NULL): nobody ever proved they read those addresses.

``users.session_token``: part of the id a session cookie carries (Flask-Login's
alternative id); nullable because SQLite cannot make an existing column NOT NULL
without copying ``users`` (the model fills it on every insert, and the loader
refuses a session without one). Every existing user gets a random one, so cookies issued
before the upgrade (which carry the bare user id) no longer sign anyone in:
everybody logs in once more.

``company_invitations.email_state``/``email_state_at``/``email_error``: the
invitation email's delivery, kept on the row the card already reads;
``reminded_at``: the 48-hour reminder, queued at most once.

``email_outbox``: one row per email, written in the transaction of its cause.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_email_identity"
down_revision = "0006_normalise_emails"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs (no table copy on SQLite, where rebuilding ``users`` would
    # trip every foreign key that points at it).
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("session_token", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE users SET session_token = md5(random()::text || clock_timestamp()::text || id::text)")
    else:
        op.execute("UPDATE users SET session_token = lower(hex(randomblob(24)))")

    op.add_column("company_invitations", sa.Column("email_state", sa.String(length=10), nullable=True))
    op.add_column("company_invitations", sa.Column("email_state_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("company_invitations", sa.Column("email_error", sa.String(length=500), nullable=True))
    op.add_column("company_invitations", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    if bind.dialect.name == "postgresql":
        # SQLite adds a CHECK only by copying the table, which the foreign keys into
        # it forbid; there the outbox code is the only writer of this column.
        op.create_check_constraint(
            op.f("chk_invitation_email_state"),
            "company_invitations",
            "email_state IS NULL OR email_state IN ('queued', 'sent', 'failed')",
        )

    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "kind IN ('confirm', 'invitation', 'resend', 'reminder', 'reset')", name=op.f("chk_outbox_kind")
        ),
        sa.CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed')", name=op.f("chk_outbox_state")),
        sa.CheckConstraint("attempts >= 0", name=op.f("chk_outbox_attempts")),
        sa.CheckConstraint("(state = 'sent') = (sent_at IS NOT NULL)", name=op.f("chk_outbox_sent_at")),
        sa.CheckConstraint("state <> 'failed' OR last_error IS NOT NULL", name=op.f("chk_outbox_failed_reason")),
        sa.CheckConstraint("state <> 'sending' OR lease_until IS NOT NULL", name=op.f("chk_outbox_lease")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_outbox_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["company_invitations.id"],
            name=op.f("fk_email_outbox_invitation_id_company_invitations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_outbox_message_id")),
    )
    op.create_index(op.f("ix_email_outbox_state_next_attempt_at"), "email_outbox", ["state", "next_attempt_at"])
    op.create_index(
        op.f("ix_email_outbox_invitation_id_kind_created_at"),
        "email_outbox",
        ["invitation_id", "kind", "created_at"],
    )


def downgrade():
    op.drop_index(op.f("ix_email_outbox_invitation_id_kind_created_at"), table_name="email_outbox")
    op.drop_index(op.f("ix_email_outbox_state_next_attempt_at"), table_name="email_outbox")
    op.drop_table("email_outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("chk_invitation_email_state"), "company_invitations", type_="check")
    for column in ("reminded_at", "email_error", "email_state_at", "email_state"):
        op.drop_column("company_invitations", column)
    op.drop_column("users", "session_token")
    op.drop_column("users", "email_verified_at")
