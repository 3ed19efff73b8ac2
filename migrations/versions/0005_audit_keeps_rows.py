"""The audit trail keeps its rows when an invitation is deleted.

Revision ID: 0005_audit_keeps_rows
Revises: 0004_dashboard_indexes
Create Date: 2026-12-02

``audit_events.invitation_id`` was ``ON DELETE CASCADE``: deleting an invitation
erased its history. It becomes ``ON DELETE SET NULL``, and each row keeps the
code's short form (``invitation_short_code``, the first 12 characters and an
ellipsis, as every screen names an invitation; never the whole code), filled in
here for the rows already there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_audit_keeps_rows"
down_revision = "0004_dashboard_indexes"
branch_labels = None
depends_on = None

FK = "fk_audit_events_invitation_id_company_invitations"
# masking.DISPLAY_CHARACTERS and masking.ELLIPSIS, as they were when this was written.
BACKFILL = sa.text(
    "UPDATE audit_events SET invitation_short_code = ("
    " SELECT substr(code, 1, 12) || '\u2026' FROM company_invitations"
    " WHERE company_invitations.id = audit_events.invitation_id"
    ") WHERE invitation_id IS NOT NULL"
)


def upgrade():
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("invitation_short_code", sa.String(length=16), nullable=True))
        batch.drop_constraint(FK, type_="foreignkey")
        batch.create_foreign_key(FK, "company_invitations", ["invitation_id"], ["id"], ondelete="SET NULL")
    op.execute(BACKFILL)


def downgrade():
    # Rows whose invitation is gone point nowhere; CASCADE would have removed them.
    op.execute("DELETE FROM audit_events WHERE invitation_id IS NULL AND invitation_short_code IS NOT NULL")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
        batch.create_foreign_key(FK, "company_invitations", ["invitation_id"], ["id"], ondelete="CASCADE")
        batch.drop_column("invitation_short_code")
