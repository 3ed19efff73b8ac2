"""Only an owner starts a paused invitation that grants ADMIN.

Only an owner may create or edit an Admin invitation (``invitations.may_grant``); an
owner who pauses one to stop it must not have an admin make it usable again. Pausing
stays open to every manager: it only takes access away. Checked where users meet it:
the card (what it offers), its POST with and without htmx, the JSON API, the domain
(its UPDATE decides, so a role changed meanwhile counts), and what the database holds.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from invites import invitations
from invites.extensions import db
from invites.masking import short_code
from invites.models import AuditEvent, Invitation, Role

from .api_helpers import toggle_path
from .factories import create_invitation
from .invitation_helpers import api_client, signed_in

DASHBOARD = "/dashboard/company"
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"}
STARTS = AuditEvent.action == "invitation.start"
PAUSES = AuditEvent.action == "invitation.pause"


@pytest.fixture
def acme(make):
    """Acme, its owner (boss@example.com) and an admin (admin@example.com); nobody signed in."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    admin = make.user("admin@example.com", company=company, role=Role.ADMIN)
    return company, owner, admin


def text(response) -> str:
    return response.get_data(as_text=True)


def active_url(invitation_id: int) -> str:
    return f"/dashboard/company/invitations/{invitation_id}/active"


def is_active(app, invitation_id: int) -> bool:
    with app.app_context():
        return db.session.get(Invitation, invitation_id).is_active


def audit_rows(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(*where))


def card_of(page: str, invitation_id: int) -> str:
    match = re.search(rf'<article id="invitation-{invitation_id}".*?</article>', page, re.S)
    assert match is not None, page
    return match.group(0)


def toggle_button(invitation_id: int) -> str:
    return f'id="invitation-{invitation_id}-toggle"'


# --- the dashboard ---------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_admin_cannot_start_a_paused_admin_invitation_from_the_dashboard(app, acme, htmx):
    company, owner, _ = acme
    inv = create_invitation(app, company, owner, role="ADMIN", paused=True)
    admin = signed_in(app, "admin@example.com")
    events = audit_rows(app)

    response = admin.post(active_url(inv.id), data={"active": "1", "next": DASHBOARD}, headers=HX if htmx else {})

    expected = f"Invitation {short_code(inv.code)} was not changed: {invitations.START_ADMIN_ERROR}"
    if htmx:
        # The card as it is (still paused, no Start), with why, as for a refused Edit: 409,
        # which htmx swaps (403 it would not: the stale card would stay).
        assert response.status_code == 409
        body = text(response)
        assert "<html" not in body and body.lstrip().startswith(f'<article id="invitation-{inv.id}"')
        assert invitations.START_ADMIN_ERROR in body and "PAUSED" in body
        assert toggle_button(inv.id) not in body
        assert json.loads(response.headers["HX-Trigger"])["announce"] == expected
    else:
        # Without JavaScript: back to the list, which says why.
        assert (response.status_code, response.headers["Location"]) == (302, DASHBOARD)
        assert expected in text(admin.get(DASHBOARD))
    assert is_active(app, inv.id) is False
    assert audit_rows(app) == events and audit_rows(app, STARTS) == 0


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_only_starting_an_admin_invitation_is_an_owners_on_the_dashboard(app, acme, htmx):
    """An admin still pauses an Admin invitation and starts a Member one; an owner starts
    the Admin one the admin was refused."""
    company, owner, _ = acme
    active_admin = create_invitation(app, company, owner, role="ADMIN")
    paused_admin = create_invitation(app, company, owner, role="ADMIN", paused=True)
    paused_member = create_invitation(app, company, owner, paused=True)
    admin, boss = signed_in(app, "admin@example.com"), signed_in(app, "boss@example.com")
    headers = HX if htmx else {}
    ok = 200 if htmx else 302

    refused = admin.post(active_url(paused_admin.id), data={"active": "1"}, headers=headers)
    paused = admin.post(active_url(active_admin.id), data={"active": "0"}, headers=headers)
    started = admin.post(active_url(paused_member.id), data={"active": "1"}, headers=headers)
    assert (refused.status_code, paused.status_code, started.status_code) == (409 if htmx else 302, ok, ok)
    assert [is_active(app, i.id) for i in (paused_admin, active_admin, paused_member)] == [False, False, True]
    if htmx:  # the Admin invitation the admin paused now offers the admin no Start
        assert "PAUSED" in text(paused) and toggle_button(active_admin.id) not in text(paused)

    assert boss.post(active_url(paused_admin.id), data={"active": "1"}, headers=headers).status_code == ok
    assert is_active(app, paused_admin.id) is True
    assert (audit_rows(app, STARTS), audit_rows(app, PAUSES)) == (2, 1)


def test_an_admins_card_offers_no_start_on_a_paused_admin_invitation(app, acme):
    """Start is hidden from an admin on a paused Admin invitation (as Edit is); Pause on an
    active one, Start on a paused Member one and the invite link stay; an owner sees Start."""
    company, owner, _ = acme
    paused_admin = create_invitation(app, company, owner, role="ADMIN", paused=True)
    active_admin = create_invitation(app, company, owner, role="ADMIN")
    paused_member = create_invitation(app, company, owner, paused=True)

    admins_page = text(signed_in(app, "admin@example.com").get(DASHBOARD))
    owners_page = text(signed_in(app, "boss@example.com").get(DASHBOARD))

    refused = card_of(admins_page, paused_admin.id)
    assert "PAUSED" in refused and toggle_button(paused_admin.id) not in refused
    assert f'id="invitation-{paused_admin.id}-copy"' in refused  # its link can still be copied
    assert f'aria-label="Pause invitation {short_code(active_admin.code)}"' in card_of(admins_page, active_admin.id)
    assert f'aria-label="Start invitation {short_code(paused_member.code)}"' in card_of(admins_page, paused_member.id)
    assert f'aria-label="Start invitation {short_code(paused_admin.code)}"' in card_of(owners_page, paused_admin.id)


# --- the API -----------------------------------------------------------------------------


def test_the_api_refuses_an_admin_starting_a_paused_admin_invitation_with_403(app, acme):
    company, owner, _ = acme
    inv = create_invitation(app, company, owner, role="ADMIN", paused=True)
    client = api_client(app, "admin@example.com")
    events = audit_rows(app)

    response = client.post(toggle_path(inv.id))

    assert response.status_code == 403
    assert response.get_json() == {
        "error": invitations.START_ADMIN_ERROR,
        "fields": {"role": invitations.START_ADMIN_ERROR},
    }
    assert is_active(app, inv.id) is False and audit_rows(app) == events


def test_the_api_toggle_still_pauses_admin_invitations_and_starts_member_ones(app, acme):
    """An admin still pauses an Admin invitation and starts a Member one; an owner starts
    the Admin one the admin was refused."""
    company, owner, _ = acme
    active_admin = create_invitation(app, company, owner, role="ADMIN")
    paused_admin = create_invitation(app, company, owner, role="ADMIN", paused=True)
    paused_member = create_invitation(app, company, owner, paused=True)
    admin, boss = api_client(app, "admin@example.com"), api_client(app, "boss@example.com")

    answers = [
        (r.status_code, r.get_json())
        for r in (
            admin.post(toggle_path(paused_admin.id)),
            admin.post(toggle_path(active_admin.id)),
            admin.post(toggle_path(paused_member.id)),
            boss.post(toggle_path(paused_admin.id)),
        )
    ]

    assert [status for status, _ in answers] == [403, 200, 200, 200]
    assert [body.get("isActive") for _, body in answers[1:]] == [False, True, True]
    assert [is_active(app, i.id) for i in (paused_admin, active_admin, paused_member)] == [True, False, True]
    assert (audit_rows(app, STARTS), audit_rows(app, PAUSES)) == (2, 1)


# --- the domain ----------------------------------------------------------------------------


@pytest.mark.parametrize("active", [True, None], ids=["start", "toggle"])
def test_the_update_judges_the_role_as_stored_not_as_loaded(app, acme, active):
    """An owner makes a paused Member invitation an Admin one while an admin presses Start:
    the admin's card (loaded before) said MEMBER, but the UPDATE sees ADMIN and refuses."""
    company, owner, admin = acme
    inv = create_invitation(app, company, owner, paused=True)
    with app.app_context():
        row = invitations.row_for_company(inv.id, company.id)  # what the admin's card was made from
        assert row.role == "MEMBER"
        with db.engine.begin() as other:  # the owner's edit, committed meanwhile
            other.execute(sa.update(Invitation).where(Invitation.id == inv.id).values(role="ADMIN"))
        with pytest.raises(invitations.GrantRefused, match=invitations.START_ADMIN_ERROR):
            invitations.set_active(row, db.session.merge(admin), active, actor_role=Role.ADMIN)
        assert row.is_active is False and row.role == "ADMIN"  # the row as it now is
    assert is_active(app, inv.id) is False and audit_rows(app, STARTS) == 0
