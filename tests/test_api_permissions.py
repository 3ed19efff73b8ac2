"""Who may call what: every role × every endpoint, with what must (and must not) change."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from invites import invitations
from invites.extensions import db
from invites.models import AuditEvent, Company, Invitation, Membership, Redemption, Role, User

from .api_helpers import (
    ACCEPT,
    CREATE,
    LIST,
    LOGIN,
    LOGOUT,
    PAUSE_ALL,
    RESUME_ALL,
    VALIDATE,
    api_login,
    edit_path,
    revoke_path,
    toggle_path,
)

ACTORS = ["anonymous", "member", "admin", "owner", "other_admin"]
EMAILS = {
    "member": "mia@acme.example",
    "admin": "ann@acme.example",
    "owner": "boss@acme.example",
    "other_admin": "gus@globex.example",
}


@dataclass
class World:
    acme_id: int
    globex_id: int
    invitation_id: int
    code: str


@pytest.fixture
def world(app, make) -> World:
    """Acme (owner, admin, member) with one 3-use invitation; Globex with an admin."""
    acme, owner = make.company("Acme", owner_email=EMAILS["owner"])
    make.user(EMAILS["admin"], company=acme, role=Role.ADMIN)
    make.user(EMAILS["member"], company=acme, role=Role.MEMBER)
    globex, _ = make.company("Globex", owner_email="owner@globex.example")
    make.user(EMAILS["other_admin"], company=globex, role=Role.ADMIN)
    with app.app_context():
        creator = db.session.get(User, owner.id)
        invitation = invitations.create(acme.id, creator, invitations.parse_new_invitation(None, 3, 7))
        return World(acme.id, globex.id, invitation.id, invitation.code)


def state(app, world: World) -> dict:
    """Everything the API could change, as one comparable mapping."""
    with app.app_context():

        def rows(model, *where):
            return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

        invitation = db.session.get(Invitation, world.invitation_id)
        return {
            "acme_invitations": rows(Invitation, Invitation.company_id == world.acme_id),
            "globex_invitations": rows(Invitation, Invitation.company_id == world.globex_id),
            "acme_members": rows(Membership, Membership.company_id == world.acme_id),
            "memberships": rows(Membership),
            "redemptions": rows(Redemption),
            "audit_events": rows(AuditEvent),
            "used_count": invitation.used_count,
            "is_active": invitation.is_active,
            "revoked": invitation.revoked_at is not None,
            "max_uses": invitation.max_uses,
            "version": invitation.version,
            "acme_paused": db.session.get(Company, world.acme_id).invitations_paused_at is not None,
            "globex_paused": db.session.get(Company, world.globex_id).invitations_paused_at is not None,
        }


# What each endpoint sends.
CALLS = {
    "list": lambda c, w: c.get(LIST),
    "create": lambda c, w: c.post(CREATE, json={"maxUses": 2}),
    # Issue 13: an invitation that makes people Admins is for owners to create.
    "create_admin": lambda c, w: c.post(CREATE, json={"role": "ADMIN"}),
    "validate": lambda c, w: c.post(VALIDATE, json={"code": w.code}),
    "accept": lambda c, w: c.post(ACCEPT, json={"code": w.code}),
    "toggle": lambda c, w: c.post(toggle_path(w.invitation_id)),
    "revoke": lambda c, w: c.post(revoke_path(w.invitation_id)),
    # Nobody has joined through the world's invitation yet: removing them revokes it.
    "remove_members": lambda c, w: c.post(f"/api/companies/invitations/{w.invitation_id}/remove-members"),
    # The world's invitation has no target address: nothing to send (409).
    "resend": lambda c, w: c.post(f"/api/companies/invitations/{w.invitation_id}/resend"),
    "edit": lambda c, w: c.patch(edit_path(w.invitation_id), json={"maxUses": 5}),
    # Only an owner may make an invitation grant ADMIN.
    "edit_to_admin": lambda c, w: c.patch(edit_path(w.invitation_id), json={"role": "ADMIN"}),
    "pause_all": lambda c, w: c.post(PAUSE_ALL),
    "resume_all": lambda c, w: c.post(RESUME_ALL),
    "login_wrong_password": lambda c, w: c.post(LOGIN, json={"email": EMAILS["owner"], "password": "not it at all"}),
    "logout": lambda c, w: c.post(LOGOUT),
    "openapi": lambda c, w: c.get("/api/openapi.json"),
}

NOTHING: dict = {}
CREATED_IN_ACME = {"acme_invitations": +1, "audit_events": +1}
CREATED_IN_GLOBEX = {"globex_invitations": +1, "audit_events": +1}
JOINED_ACME = {"acme_members": +1, "memberships": +1, "redemptions": +1, "audit_events": +1, "used_count": +1}
PAUSED = {"is_active": False, "audit_events": +1}
REVOKED = {"revoked": True, "audit_events": +1}
EDITED = {"max_uses": +2, "version": +1, "audit_events": +1}  # 3 → 5
MADE_ADMIN = {"version": +1, "audit_events": +1}
ACME_PAUSED = {"acme_paused": True, "audit_events": +1}
GLOBEX_PAUSED = {"globex_paused": True, "audit_events": +1}

# endpoint: {actor: (status, change)}
MATRIX = {
    "list": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (200, NOTHING),
        "owner": (200, NOTHING),
        "other_admin": (200, NOTHING),
    },
    "create": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (201, CREATED_IN_ACME),
        "owner": (201, CREATED_IN_ACME),
        "other_admin": (201, CREATED_IN_GLOBEX),
    },
    "create_admin": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (403, NOTHING),
        "owner": (201, CREATED_IN_ACME),
        "other_admin": (403, NOTHING),
    },
    "validate": {
        "anonymous": (401, NOTHING),
        "member": (200, NOTHING),
        "admin": (200, NOTHING),
        "owner": (200, NOTHING),
        "other_admin": (200, NOTHING),
    },
    "accept": {
        "anonymous": (401, NOTHING),
        "member": (409, NOTHING),
        "admin": (409, NOTHING),
        "owner": (409, NOTHING),
        "other_admin": (200, JOINED_ACME),
    },
    "toggle": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (200, PAUSED),
        "owner": (200, PAUSED),
        "other_admin": (404, NOTHING),
    },
    "revoke": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (200, REVOKED),
        "owner": (200, REVOKED),
        "other_admin": (404, NOTHING),
    },
    "remove_members": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (200, REVOKED),
        "owner": (200, REVOKED),
        "other_admin": (404, NOTHING),
    },
    "resend": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (409, NOTHING),
        "owner": (409, NOTHING),
        "other_admin": (404, NOTHING),
    },
    "edit": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (200, EDITED),
        "owner": (200, EDITED),
        "other_admin": (404, NOTHING),
    },
    "edit_to_admin": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (403, NOTHING),
        "owner": (200, MADE_ADMIN),
        "other_admin": (404, NOTHING),
    },
    "pause_all": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (200, ACME_PAUSED),
        "owner": (200, ACME_PAUSED),
        "other_admin": (200, GLOBEX_PAUSED),
    },
    # Nothing is paused: resuming changes nothing, for anyone.
    "resume_all": {
        "anonymous": (401, NOTHING),
        "member": (403, NOTHING),
        "admin": (200, NOTHING),
        "owner": (200, NOTHING),
        "other_admin": (200, NOTHING),
    },
    "login_wrong_password": {actor: (401, NOTHING) for actor in ACTORS},
    "logout": {actor: (200, NOTHING) for actor in ACTORS},
    "openapi": {actor: (200, NOTHING) for actor in ACTORS},
}

CASES = [
    pytest.param(endpoint, actor, *MATRIX[endpoint][actor], id=f"{endpoint}-{actor}")
    for endpoint in CALLS
    for actor in ACTORS
]


def expected_after(before: dict, change: dict) -> dict:
    after = dict(before)
    for key, value in change.items():
        after[key] = before[key] + value if isinstance(value, int) and not isinstance(value, bool) else value
    return after


@pytest.mark.parametrize("endpoint, actor, status, change", CASES)
def test_permissions_matrix(app, world, endpoint, actor, status, change):
    client = app.test_client()
    if actor != "anonymous":
        api_login(client, EMAILS[actor])
    list_status_before = client.get(LIST).status_code
    before = state(app, world)

    response = CALLS[endpoint](client, world)

    assert response.status_code == status, response.get_json()
    assert response.is_json
    assert state(app, world) == expected_after(before, change)
    if endpoint == "logout":
        assert client.get(LIST).status_code == 401
    else:
        # Nothing but logout signs anyone out (or in): a failed login keeps the session.
        assert client.get(LIST).status_code == list_status_before


def test_matrix_covers_every_api_route(app):
    """A new API endpoint must join the matrix."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    assert endpoints == {
        "api.list_invitations",
        "api.create_invitation",
        "api.validate_invitation",
        "api.accept_invitation",
        "api.toggle_invitation",
        "api.revoke_invitation",
        "api.remove_invitation_members",
        "api.resend_invitation_email",
        "api.edit_invitation",
        "api.pause_all_invitations",
        "api.resume_all_invitations",
        "api.login",
        "api.logout",
        "api.openapi_json",
    }


def test_other_admin_sees_only_their_own_company_in_the_list(app, world):
    client = app.test_client()
    api_login(client, EMAILS["other_admin"])
    listed = client.get(LIST).get_json()["invitations"]
    assert world.invitation_id not in {i["id"] for i in listed}
    assert world.code not in {i["code"] for i in listed}
