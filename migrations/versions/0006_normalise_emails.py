"""Emails stored as email_validator normalises them: look-alike addresses become one.

Revision ID: 0006_normalise_emails
Revises: 0005_audit_keeps_rows
Create Date: 2026-12-02

Accounts and invitation targets are now stored in one form (``accounts.normalise_email``):
NFKC, the domain as IDNA writes it, lower case. ``owner1@a-corp．com`` (a full-width dot)
is ``owner1@a-corp.com``. Existing rows are rewritten here. Two accounts whose addresses
become the same are NOT merged: both are left as they are and reported (by id, never by
address) for an operator to resolve; every other row is normalised.
"""

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision = "0006_normalise_emails"
down_revision = "0005_audit_keeps_rows"
branch_labels = None
depends_on = None

log = logging.getLogger("invites.migrations")


def normalise(email: str) -> str:
    """``accounts.normalise_email`` as it was when this was written (kept here, frozen)."""
    folded = unicodedata.normalize("NFKC", email.strip())
    try:
        return validate_email(folded, check_deliverability=False).normalized.lower()
    except (EmailNotValidError, ValueError):
        return folded.lower()


def upgrade():
    bind = op.get_bind()
    by_address: dict[str, list[tuple[int, str]]] = {}
    for user_id, email in bind.execute(sa.text("SELECT id, email FROM users ORDER BY id")):
        by_address.setdefault(normalise(email), []).append((user_id, email))
    for address, rows in by_address.items():
        if len(rows) > 1:
            log.warning(
                "Accounts %s have look-alike emails that normalise to one address; left unchanged, "
                "not merged: resolve them by hand.",
                ", ".join(str(user_id) for user_id, _ in rows),
            )
            continue
        ((user_id, email),) = rows
        if email != address:
            bind.execute(sa.text("UPDATE users SET email = :email WHERE id = :id"), {"email": address, "id": user_id})
    for invitation_id, email in bind.execute(
        sa.text("SELECT id, email FROM company_invitations WHERE email IS NOT NULL ORDER BY id")
    ).all():
        address = normalise(email)
        if address != email:
            bind.execute(
                sa.text("UPDATE company_invitations SET email = :email WHERE id = :id"),
                {"email": address, "id": invitation_id},
            )


def downgrade():
    # The old forms are gone, and they were the same addresses: nothing to undo.
    pass
