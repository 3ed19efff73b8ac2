"""Pause all / resume all: the switch (domain, API, dashboard), its banner and its audit rows.

Whether an invitee is refused while the switch is on is the accept's to say (and tested
with it); here: the switch moves in one UPDATE, is audited once, a second press changes
nothing, and each invitation keeps its own paused or started state through it.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from invites import invitations
from invites.audit import Action
from invites.extensions import db
from invites.models import AuditEvent, Company, Invitation, OutboxEmail, Role

from .api_helpers import LIST, PAUSE_ALL, RESUME_ALL, api_login
from .conftest import PASSWORD
from .factories import count, create_invitation

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"}
DASHBOARD = "/dashboard/company"
BANNER = "All invitations are paused: nobody can join until you resume them."
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def acme(make):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("ann@example.com", company=company, role=Role.ADMIN)
    make.user("mia@example.com", company=company, role=Role.MEMBER)
    return company, owner


def paused_at(app, company_id: int):
    with app.app_context():
        return db.session.get(Company, company_id).invitations_paused_at


def switch_events(app) -> list[tuple[str, int]]:
    with app.app_context():
        return [
            (e.action, e.actor_id)
            for e in db.session.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.action.in_([Action.PAUSE_ALL.value, Action.RESUME_ALL.value]))
                .order_by(AuditEvent.id)
            ).scalars()
        ]


def page_client(app, email: str):
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    return client


# --- API ---------------------------------------------------------------------------


def test_pause_all_and_resume_all_through_the_api_each_audited_once(app, acme):
    company, owner = acme
    client = app.test_client()
    api_login(client, "boss@example.com")
    assert client.get(LIST).get_json()["invitationsPaused"] is False

    paused = client.post(PAUSE_ALL)

    body = paused.get_json()
    assert paused.status_code == 200 and body["invitationsPaused"] is True
    assert TIMESTAMP.fullmatch(body["pausedAt"])
    assert paused_at(app, company.id) is not None
    assert client.get(LIST).get_json()["invitationsPaused"] is True
    assert switch_events(app) == [(Action.PAUSE_ALL.value, owner.id)]

    # Pausing again changes nothing: the same moment, no second audit row.
    again = client.post(PAUSE_ALL)
    assert again.status_code == 200 and again.get_json() == body
    assert switch_events(app) == [(Action.PAUSE_ALL.value, owner.id)]

    resumed = client.post(RESUME_ALL)
    assert resumed.status_code == 200
    assert resumed.get_json() == {"invitationsPaused": False, "pausedAt": None}
    assert paused_at(app, company.id) is None
    assert client.post(RESUME_ALL).get_json() == {"invitationsPaused": False, "pausedAt": None}
    assert switch_events(app) == [(Action.PAUSE_ALL.value, owner.id), (Action.RESUME_ALL.value, owner.id)]


def test_a_member_cannot_pause_all(app, acme):
    company, _ = acme
    client = app.test_client()
    api_login(client, "mia@example.com")
    events = count(app, AuditEvent)
    assert client.post(PAUSE_ALL).status_code == 403
    assert paused_at(app, company.id) is None and count(app, AuditEvent) == events
    page = page_client(app, "mia@example.com")
    assert page.post("/dashboard/company/invitations/pause-all", data={}).status_code == 403
    assert paused_at(app, company.id) is None and count(app, AuditEvent) == events


def test_pause_all_stops_only_the_own_company(app, make, acme):
    company, _ = acme
    globex, _ = make.company("Globex", owner_email="gus@globex.example")
    client = app.test_client()
    api_login(client, "gus@globex.example")
    client.post(PAUSE_ALL)
    assert paused_at(app, globex.id) is not None and paused_at(app, company.id) is None


def test_each_invitation_keeps_its_own_state_through_pause_all_and_resume_all(app, acme):
    company, owner = acme
    paused_before = create_invitation(app, company, owner, max_uses=2, paused=True)
    started = create_invitation(app, company, owner, max_uses=2)

    with app.app_context():
        actor = db.session.merge(owner)
        assert invitations.pause_all(company.id, actor).changed
        states = dict(db.session.execute(sa.select(Invitation.id, Invitation.is_active)).all())
        assert states == {paused_before.id: False, started.id: True}
        assert invitations.resume_all(company.id, actor).changed

    with app.app_context():
        states = dict(db.session.execute(sa.select(Invitation.id, Invitation.is_active)).all())
    assert states == {paused_before.id: False, started.id: True}
    # Nothing but the company's switch moved, once each way.
    assert count(app, AuditEvent, AuditEvent.invitation_id.is_not(None)) == 2  # the two creations


# --- dashboard ---------------------------------------------------------------------


def test_without_javascript_the_switch_redirects_and_the_dashboard_shows_the_banner(app, acme):
    company, owner = acme
    create_invitation(app, company, owner, max_uses=2)
    client = page_client(app, "ann@example.com")
    page = client.get(DASHBOARD).get_data(as_text=True)
    assert BANNER not in page and "Pause all invitations" in page
    assert 'action="/dashboard/company/invitations/pause-all" method="post"' in page

    response = client.post("/dashboard/company/invitations/pause-all", data={"company_id": str(company.id)})

    assert response.status_code == 302 and response.headers["Location"] == DASHBOARD
    page = client.get(DASHBOARD).get_data(as_text=True)
    assert "All invitations are paused." in page  # the flash
    assert BANNER in page and "Resume all invitations" in page
    assert 'class="invitations all-paused"' in page  # the usable cards show STOPPED
    assert 'action="/dashboard/company/invitations/resume-all" method="post"' in page

    client.post("/dashboard/company/invitations/resume-all", data={"company_id": str(company.id)})
    page = client.get(DASHBOARD).get_data(as_text=True)
    assert BANNER not in page and "Pause all invitations" in page and "invitations all-paused" not in page
    assert [action for action, _ in switch_events(app)] == [Action.PAUSE_ALL.value, Action.RESUME_ALL.value]


def test_with_htmx_the_switch_answers_the_list_region(app, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=2)
    client = page_client(app, "boss@example.com")

    response = client.post("/dashboard/company/invitations/pause-all", data={}, headers=HX)

    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert "<html" not in body and body.lstrip().startswith('<section class="invitations all-paused" id="invitations"')
    assert BANNER in body and "Resume all invitations" in body
    assert f'<article id="invitation-{inv.id}"' in body and "STOPPED" in body
    assert "All invitations are paused." in response.headers["HX-Trigger"]
    # The poller in it starts after the switch's own audit row: this tab is not told again.
    with app.app_context():
        latest = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    assert f"after={latest}" in body

    again = client.post("/dashboard/company/invitations/pause-all", data={}, headers=HX)
    assert "already paused" in again.headers["HX-Trigger"] and len(switch_events(app)) == 1

    resumed = client.post("/dashboard/company/invitations/resume-all", data={}, headers=HX)
    assert BANNER not in resumed.get_data(as_text=True) and "Pause all invitations" in resumed.get_data(as_text=True)


def test_other_dashboards_reload_when_the_switch_moves(app, acme):
    company, owner = acme
    client = page_client(app, "boss@example.com")
    with app.app_context():
        cursor = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))
    other = page_client(app, "ann@example.com")
    other.post("/dashboard/company/invitations/pause-all", data={}, headers=HX)

    poll = client.get(f"/dashboard/company/changes?after={cursor}", headers=HX)

    assert poll.status_code == 200 and poll.headers.get("HX-Refresh") == "true"
    # Once past the cursor, the switch's row no longer reloads anyone.
    with app.app_context():
        latest = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    assert client.get(f"/dashboard/company/changes?after={latest}", headers=HX).headers.get("HX-Refresh") is None


def test_no_invitation_email_is_sent_again_while_all_are_paused(app, acme):
    """Resend would mail a "Join here" nobody can follow: refused as paused, nothing queued;
    the card's Resend button is hidden by the paused list's class (as STOPPED is shown)."""
    company, owner = acme
    inv = create_invitation(app, company, owner, email="dana@example.com")
    client = app.test_client()
    api_login(client, "boss@example.com")
    assert client.post(PAUSE_ALL).status_code == 200
    queued = count(app, OutboxEmail)

    api = client.post(f"/api/companies/invitations/{inv.id}/resend")
    card = client.post(f"/dashboard/company/invitations/{inv.id}/resend", data={"company_id": company.id}, headers=HX)

    assert (api.status_code, api.get_json()) == (409, {"error": "This invitation has been paused"})
    assert card.status_code == 409 and "This invitation has been paused" in card.get_data(as_text=True)
    assert count(app, OutboxEmail) == queued
    page = client.get(DASHBOARD).get_data(as_text=True)
    assert 'class="invitations all-paused"' in page
    assert re.search(
        rf'class="inline hide-when-all-paused"[^>]*>\s*<input[^>]*>\s*<input[^>]*>\s*<input[^>]*>\s*<button[^>]*id="invitation-{inv.id}-resend"',
        page,
    )
    assert client.post(RESUME_ALL).status_code == 200
    assert client.post(f"/api/companies/invitations/{inv.id}/resend").get_json() == {"success": True}
