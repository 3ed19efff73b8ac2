"""The audit trail: domain queries, the company activity page, and the events partial."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from flask import render_template

from invites import accounts, audit, invitations
from invites.extensions import db
from invites.models import AuditEvent, Membership, Role

from .conftest import PASSWORD


def new(max_uses=5, days=7, email=None):
    return invitations.NewInvitation(email=email, max_uses=max_uses, expires_in_days=days)


@pytest.fixture
def acme(app, make):
    """Acme with its owner, an admin and a member, and a history:
    an invitation created, paused, started, used by Mia, then revoked; Mia made
    admin; Bob removed. Returns (company, owner, code)."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("ann@example.com", company=company, role=Role.ADMIN, name="Ann Admin")
    bob = make.user("bob@example.com", company=company, role=Role.MEMBER, name="Bob Member")
    mia = make.user("mia@example.com", name="Mia Newcomer")
    with app.app_context():
        invitation = invitations.create(company.id, owner, new())
        invitations.set_active(invitation, owner, False, actor_role=Role.OWNER)
        invitations.set_active(invitation, owner, True, actor_role=Role.OWNER)
        invitations.accept(invitation.code, mia)
        invitations.revoke(invitation, owner)
        code = invitation.code
        mia_membership = db.session.scalar(sa.select(Membership).where(Membership.user_id == mia.id))
        accounts.change_role(mia_membership, Role.ADMIN, owner)
        bob_membership = db.session.scalar(sa.select(Membership).where(Membership.user_id == bob.id))
        accounts.remove_member(bob_membership, owner)
    return company, owner, code


def login(client, email):
    return client.post("/login", data={"email": email, "password": PASSWORD})


# --- domain ------------------------------------------------------------------


def test_company_events_newest_first_with_who_and_what(app, acme):
    company, owner, code = acme
    with app.app_context():
        page = audit.company_events(company.id)
        actions = [event.action for event in page.items]
        assert actions == [
            "member.remove",
            "member.role_change",
            "invitation.revoke",
            "invitation.accept",
            "invitation.start",
            "invitation.pause",
            "invitation.create",
        ]
        assert page.page == 1 and not page.has_next and not page.has_prev
        accept = page.items[3]
        assert accept.actor.name == "Mia Newcomer" and accept.invitation.code == code
        assert page.items[1].subject_user.name == "Mia Newcomer" and page.items[1].detail == "ADMIN"


def test_company_events_pages(app, acme):
    company, owner, _ = acme
    with app.app_context():
        first = audit.company_events(company.id, page=1, per_page=3)
        second = audit.company_events(company.id, page=2, per_page=3)
        third = audit.company_events(company.id, page=3, per_page=3)
        assert [len(p.items) for p in (first, second, third)] == [3, 3, 1]
        assert first.has_next and second.has_next and not third.has_next
        assert third.has_prev
        ids = [e.id for p in (first, second, third) for e in p.items]
        assert len(set(ids)) == 7


def test_company_events_belong_to_one_company(app, acme, make):
    other, other_owner = make.company("Globex", owner_email="hank@example.com")
    with app.app_context():
        invitations.create(other.id, other_owner, new())
        assert [e.action for e in audit.company_events(other.id).items] == ["invitation.create"]
        assert len(audit.company_events(acme[0].id).items) == 7


def test_invitation_events_are_that_invitations_story(app, acme):
    company, owner, code = acme
    with app.app_context():
        other = invitations.create(company.id, owner, new())
        invitation = invitations.find_by_code(code)
        story = [e.action for e in audit.invitation_events(invitation.id)]
        assert story == [
            "invitation.revoke",
            "invitation.accept",
            "invitation.start",
            "invitation.pause",
            "invitation.create",
        ]
        assert [e.action for e in audit.invitation_events(other.id)] == ["invitation.create"]


def test_action_labels():
    assert audit.action_label("invitation.pause") == "paused an invitation"
    assert audit.action_label("something.new") == "something.new"


# --- the activity page -------------------------------------------------------


@pytest.mark.parametrize("email", ["boss@example.com", "ann@example.com"])
def test_owners_and_admins_see_who_did_what_when(client, acme, email):
    company, owner, code = acme
    login(client, email)
    response = client.get("/company/activity")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    assert "Activity in Acme" in text
    assert f"Acme Owner created an invitation {code[:12]}… (max uses 5, expires in 7 days)" in text
    assert f"Acme Owner paused an invitation {code[:12]}…" in text
    assert f"Mia Newcomer joined through an invitation {code[:12]}…" in text
    assert f"Acme Owner revoked an invitation {code[:12]}…" in text
    assert "Acme Owner changed a member's role: Mia Newcomer (ADMIN)" in text
    assert "Acme Owner removed a member: Bob Member" in text
    assert code not in page, "the full code must never be shown"
    assert len(re.findall(r'<time datetime="\d{4}-\d\d-\d\dT', page)) == 7


def test_members_get_403_and_visitors_log_in_first(client, acme, make):
    make.user("max@example.com", company=acme[0], role=Role.MEMBER)
    login(client, "max@example.com")
    response = client.get("/company/activity")
    assert response.status_code == 403
    assert "<h1>403</h1>" in response.get_data(as_text=True)
    client.post("/logout")
    response = client.get("/company/activity")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_activity_pages_fifty_at_a_time_and_htmx_swaps_only_the_list(app, client, acme):
    company, owner, _ = acme
    with app.app_context():
        for n in range(50):
            audit.record(audit.Action.PAUSE, company_id=company.id, actor_id=owner.id, detail=f"n{n}")
        db.session.commit()
    login(client, "boss@example.com")
    first = client.get("/company/activity").get_data(as_text=True)
    assert first.count("<li>\n    <time") == 50
    assert 'href="/company/activity?page=2"' in first and "Older" in first and "Newer" not in first
    second = client.get("/company/activity?page=2", headers={"HX-Request": "true"})
    fragment = second.get_data(as_text=True)
    assert second.status_code == 200
    assert "<html" not in fragment and "Activity in Acme" not in fragment
    assert fragment.lstrip().startswith('<section id="activity"')
    assert fragment.count("<li>\n    <time") == 7
    assert 'href="/company/activity?page=1"' in fragment and "Newer" in fragment and "Older" not in fragment
    assert "HX-Request" in second.headers["Vary"]
    # Odd page numbers mean page 1, never an error.
    for odd in ("0", "-3", "abc", "99999999999999999999"):
        assert client.get(f"/company/activity?page={odd}").status_code == 200


def test_back_to_a_paged_activity_url_gets_the_whole_page(app, client, acme):
    """htmx restores history with HX-Request when its snapshot is gone: that is a page load."""
    login(client, "boss@example.com")
    response = client.get(
        "/company/activity?page=1",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith("<!doctype html>")
    assert "Activity in Acme" in page


def test_activity_shows_only_the_current_company(client, acme, make, app):
    other, other_owner = make.company("Globex", owner_email="hank@example.com")
    with app.app_context():
        invitations.create(other.id, other_owner, new(max_uses=9))
    login(client, "hank@example.com")
    page = client.get("/company/activity").get_data(as_text=True)
    assert "max uses 9" in page
    assert "Acme Owner" not in page and "Mia Newcomer" not in page


def test_empty_activity(client, make):
    make.company("Quiet", owner_email="q@example.com")
    login(client, "q@example.com")
    assert "Nothing has happened here yet." in client.get("/company/activity").get_data(as_text=True)


# --- the partial for an invitation's card --------------------------------------


def test_events_partial_on_a_card_leaves_out_the_code_and_takes_its_own_id(app, acme):
    company, owner, code = acme
    with app.test_request_context():
        invitation = invitations.find_by_code(code)
        card = render_template(
            "companies/_events.html",
            events=audit.invitation_events(invitation.id),
            show_invitation=False,
            events_id=f"invitation-{invitation.id}-events",
        )
    assert f'id="invitation-{invitation.id}-events"' in card
    assert code[:12] + "…" not in card
    assert "Mia Newcomer" in card and "revoked an invitation" in card
    assert card.count("<li>") == 5


def test_events_partial_escapes_names(app, make):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    evil = make.user("evil@example.com", name="<script>alert(1)</script>")
    with app.app_context():
        invitation = invitations.create(company.id, owner, new())
        invitations.accept(invitation.code, evil)
    with app.test_request_context():
        listing = render_template("companies/_events.html", events=audit.company_events(company.id).items)
    assert "<script>" not in listing and "&lt;script&gt;" in listing


def test_deleted_actor_is_shown_as_such(app, acme):
    company, owner, _ = acme
    with app.app_context():
        db.session.execute(sa.update(AuditEvent).values(actor_id=None))
        db.session.commit()
    with app.test_request_context():
        listing = render_template("companies/_events.html", events=audit.company_events(company.id).items)
    assert "A deleted account" in listing


# --- only real changes are recorded -----------------------------------------------


def audit_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def test_pausing_a_paused_or_starting_an_active_invitation_records_nothing(app, make):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    with app.app_context():
        invitation = invitations.create(company.id, owner, new())
        invitations.set_active(invitation, owner, True, actor_role=Role.OWNER)
        invitations.set_active(invitation, owner, False, actor_role=Role.OWNER)
        again = invitations.set_active(invitation, owner, False, actor_role=Role.OWNER)
        assert again.is_active is False
        actions = [e.action for e in audit.invitation_events(invitation.id)]
    assert actions == ["invitation.pause", "invitation.create"]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_second_pause_answers_the_card_but_sends_nothing_to_other_dashboards(app, client, make, htmx):
    from .conftest import age_audit_trail

    company, owner = make.company("Acme", owner_email="boss@example.com")
    with app.app_context():
        invitation_id = invitations.create(company.id, owner, new()).id
    login(client, "boss@example.com")
    url = f"/dashboard/company/invitations/{invitation_id}/active"
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"} if htmx else {}
    assert client.post(url, data={"active": "0"}, headers=headers).status_code == (200 if htmx else 302)
    age_audit_trail(app)
    with app.app_context():
        cursor = audit.latest_id(company.id)
    # A second tab, or a double click, asks again.
    second = client.post(url, data={"active": "0"}, headers=headers)
    assert second.status_code == (200 if htmx else 302)
    if htmx:
        assert f'id="invitation-{invitation_id}"' in second.get_data(as_text=True)
        assert "PAUSED" in second.get_data(as_text=True)
    assert audit_count(app) == 2  # create, pause
    poll = client.get(f"/dashboard/company/changes?after={cursor}", headers=headers)
    assert poll.status_code == 204


def test_a_role_change_to_the_same_role_records_nothing(app, client, make):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    ann = make.user("ann@example.com", company=company, role=Role.ADMIN, name="Ann Admin")
    with app.app_context():
        membership_id = db.session.scalar(sa.select(Membership.id).where(Membership.user_id == ann.id))
        owner_membership_id = db.session.scalar(sa.select(Membership.id).where(Membership.user_id == owner.id))
    login(client, "boss@example.com")
    before = audit_count(app)
    assert client.post(f"/company/members/{membership_id}/role", data={"role": "ADMIN"}).status_code == 302
    # The only owner "made owner" again is no change either, not a refusal.
    response = client.post(
        f"/company/members/{owner_membership_id}/role", data={"role": "OWNER"}, follow_redirects=True
    )
    assert accounts.LAST_OWNER not in response.get_data(as_text=True)
    assert audit_count(app) == before
    assert client.post(f"/company/members/{membership_id}/role", data={"role": "MEMBER"}).status_code == 302
    assert audit_count(app) == before + 1
