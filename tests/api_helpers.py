"""Helpers shared by the API tests: sign in through the API, read what the database holds."""

from __future__ import annotations

from dataclasses import dataclass

from invites.extensions import db
from invites.models import Invitation

from .conftest import PASSWORD

CREATE = "/api/companies/invitations/create"
VALIDATE = "/api/companies/invitations/validate"
ACCEPT = "/api/companies/invitations/accept"
LIST = "/api/companies/invitations"
LOGIN = "/api/auth/login"
LOGOUT = "/api/auth/logout"
PAUSE_ALL = "/api/companies/invitations/pause-all"
RESUME_ALL = "/api/companies/invitations/resume-all"


def toggle_path(invitation_id: int) -> str:
    return f"/api/companies/invitations/{invitation_id}/toggle"


def edit_path(invitation_id: int) -> str:
    return f"/api/companies/invitations/{invitation_id}"


def revoke_path(invitation_id: int) -> str:
    return f"/api/companies/invitations/{invitation_id}/revoke"


def api_login(client, email: str, password: str = PASSWORD):
    """Sign in through the API; the test client keeps the session cookie."""
    response = client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response


@dataclass(frozen=True)
class InvitationRow:
    used_count: int
    is_active: bool
    revoked: bool
    status: str


def invitation_row(app, invitation_id: int) -> InvitationRow:
    with app.app_context():
        inv = db.session.get(Invitation, invitation_id)
        return InvitationRow(inv.used_count, inv.is_active, inv.revoked_at is not None, inv.status)
