"""Click-to-edit on the dashboard: the form in place of the card (htmx), or a page of its own."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa

from invites import invitations
from invites.audit import Action
from invites.extensions import db
from invites.masking import short_code
from invites.models import AuditEvent, Invitation, Role

from .factories import count, create_invitation

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company?filter=active"}
DASHBOARD = "/dashboard/company"


def edit_url(invitation_id: int) -> str:
    return f"/dashboard/company/invitations/{invitation_id}/edit"


def form_data(inv, **overrides) -> dict:
    data = {
        "max_uses": str(inv.max_uses),
        "expires_in_days": "",
        "role": inv.role,
        "allowed_domain": inv.allowed_domain or "",
        "label": inv.label or "",
        "version": str(inv.version),
        "company_id": str(inv.company_id),
    }
    data.update(overrides)
    return data


def stored(app, invitation_id: int) -> Invitation:
    with app.app_context():
        inv = db.session.get(Invitation, invitation_id)
        db.session.expunge(inv)
        return inv


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def acme(make, auth):
    """Acme, its owner logged in; an admin too."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("ann@example.com", company=company, role=Role.ADMIN)
    auth.login("boss@example.com")
    return company, owner


def test_a_card_offers_edit_until_revoked_or_expired(app, client, acme):
    company, owner = acme
    usable = create_invitation(app, company, owner, max_uses=2)
    full = create_invitation(app, company, owner, full=True)
    revoked = create_invitation(app, company, owner, revoked=True)
    expired = create_invitation(app, company, owner, expired=True)

    page = client.get(DASHBOARD).get_data(as_text=True)

    for inv, offered in ((usable, True), (full, True), (revoked, False), (expired, False)):
        card = re.search(rf'<article id="invitation-{inv.id}".*?</article>', page, re.S).group(0)
        link = f'href="{edit_url(inv.id)}?next=/dashboard/company" role="button"'
        assert (link in card) is offered, inv
        assert (f'hx-get="{edit_url(inv.id)}"' in card) is offered


def test_htmx_edit_swaps_the_card_for_a_prefilled_form_fragment(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)

    response = client.get(edit_url(inv.id), headers=HX)

    body = text(response)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert "<html" not in body and f'<form id="invitation-{inv.id}-edit"' in body
    assert f'hx-post="{edit_url(inv.id)}"' in body and 'hx-target="this" hx-swap="outerHTML"' in body
    assert f'id="invitation-{inv.id}-max-uses"' in body and 'value="4"' in body
    assert 'name="version" type="hidden" value="1"' in body
    # The list the admin came from is where a plain save would go back to.
    assert 'name="next" type="hidden" value="/dashboard/company?filter=active"' in body
    assert f'hx-get="/dashboard/company/invitations/{inv.id}/card"' in body  # Cancel


def test_htmx_save_answers_the_card_with_the_change_and_an_announcement(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)

    response = client.post(edit_url(inv.id), data=form_data(inv, max_uses="9", label="Sales"), headers=HX)

    body = text(response)
    assert response.status_code == 200
    assert "<html" not in body and body.lstrip().startswith(f'<article id="invitation-{inv.id}"')
    assert "0/9 uses" in body
    assert "updated" in response.headers["HX-Trigger"]
    after = stored(app, inv.id)
    assert (after.max_uses, after.label, after.version) == (9, "Sales", 2)


def test_htmx_cancel_answers_the_card_unchanged(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    response = client.get(f"/dashboard/company/invitations/{inv.id}/card", headers=HX)
    assert response.status_code == 200 and "<html" not in text(response)
    assert text(response).lstrip().startswith(f'<article id="invitation-{inv.id}"')
    assert "0/4 uses" in text(response)
    # Without JavaScript, Cancel is a link back to the list.
    assert client.get(f"/dashboard/company/invitations/{inv.id}/card").headers["Location"] == DASHBOARD


def test_without_javascript_edit_is_a_page_and_save_redirects_with_a_flash(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)

    page = client.get(f"{edit_url(inv.id)}?next=/dashboard/company?filter=paused")

    body = text(page)
    assert page.status_code == 200 and "<html" in body and "Edit invitation" in body
    assert f'action="{edit_url(inv.id)}" method="post"' in body
    assert 'name="next" type="hidden" value="/dashboard/company?filter=paused"' in body

    saved = client.post(edit_url(inv.id), data=form_data(inv, max_uses="6", next="/dashboard/company?filter=paused"))

    assert saved.status_code == 302 and saved.headers["Location"] == "/dashboard/company?filter=paused"
    listing = text(client.get(saved.headers["Location"]))
    assert f"Invitation {inv.code[:12]}… updated." in listing
    assert stored(app, inv.id).max_uses == 6


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_invalid_input_answers_422_with_the_form_and_its_errors(app, client, acme, htmx):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)

    response = client.post(
        edit_url(inv.id),
        data=form_data(inv, max_uses="0", expires_in_days="99", label="x" * 81),
        headers=HX if htmx else {},
    )

    body = text(response)
    assert response.status_code == 422
    assert ("<html" in body) is not htmx
    for message in (invitations.MAX_USES_ERROR, invitations.EXPIRES_ERROR, invitations.LABEL_ERROR):
        assert message in body
    assert stored(app, inv.id).version == 1


def test_an_empty_expiry_keeps_it_and_a_number_moves_it(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    client.post(edit_url(inv.id), data=form_data(inv, label="Kept"), headers=HX)
    assert stored(app, inv.id).expires_at == inv.expires_at
    client.post(edit_url(inv.id), data=form_data(stored(app, inv.id), expires_in_days="1"), headers=HX)
    assert stored(app, inv.id).expires_at < inv.expires_at


def test_max_uses_below_the_uses_made_is_an_error_on_the_field(app, client, make, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    for _ in range(2):
        user = make.user()
        with app.app_context():
            invitations.accept(inv.code, user)
    inv = stored(app, inv.id)

    response = client.post(edit_url(inv.id), data=form_data(inv, max_uses="1"), headers=HX)

    assert response.status_code == 422
    assert f'id="invitation-{inv.id}-max-uses-error"' in text(response)
    assert invitations.USED_MORE_ERROR.format(used=2) in text(response)
    assert stored(app, inv.id).max_uses == 4


def test_an_admin_choosing_admin_gets_the_error_on_the_role_field(app, acme, make):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    admin = app.test_client()
    admin.post("/login", data={"email": "ann@example.com", "password": "correct horse battery"})
    events = count(app, AuditEvent)

    response = admin.post(edit_url(inv.id), data=form_data(inv, role="ADMIN"), headers=HX)

    assert response.status_code == 422
    assert f'id="invitation-{inv.id}-role-error"' in text(response)
    assert invitations.ADMIN_ROLE_ERROR in text(response)
    assert stored(app, inv.id).role == "MEMBER" and count(app, AuditEvent) == events


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_revoked_or_expired_invitation_answers_409_with_the_card(app, client, acme, state):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    with app.app_context():
        values = {"revoked_at": sa.func.now()} if state == "revoked" else {}
        if state == "expired":
            values["expires_at"] = inv.created_at
        db.session.execute(sa.update(Invitation).where(Invitation.id == inv.id).values(**values))
        db.session.commit()

    for response in (
        client.get(edit_url(inv.id), headers=HX),
        client.post(edit_url(inv.id), data=form_data(inv, max_uses="9"), headers=HX),
    ):
        body = text(response)
        assert response.status_code == 409
        assert body.lstrip().startswith(f'<article id="invitation-{inv.id}"') and state.upper() in body
        assert invitations.Refusal[state.upper()].value in body
    assert stored(app, inv.id).max_uses == 4

    # Without JavaScript: back to the list, saying why.
    plain = client.post(edit_url(inv.id), data=form_data(inv, max_uses="9"))
    assert plain.status_code == 302
    assert invitations.Refusal[state.upper()].value in text(client.get(plain.headers["Location"]))


def test_a_form_made_before_someone_else_saved_answers_409_with_the_card_as_it_is_now(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    admin = app.test_client()
    admin.post("/login", data={"email": "ann@example.com", "password": "correct horse battery"})
    assert admin.post(edit_url(inv.id), data=form_data(inv, max_uses="7"), headers=HX).status_code == 200

    response = client.post(edit_url(inv.id), data=form_data(inv, max_uses="9", label="Mine"), headers=HX)

    body = text(response)
    assert response.status_code == 409
    assert "0/7 uses" in body and invitations.Refusal.CHANGED_MEANWHILE.value in body
    after = stored(app, inv.id)
    assert (after.max_uses, after.label, after.version) == (7, None, 2)


def test_a_save_that_changes_nothing_writes_nothing(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    events = count(app, AuditEvent)
    response = client.post(edit_url(inv.id), data=form_data(inv), headers=HX)
    assert response.status_code == 200 and "nothing to change" in response.headers["HX-Trigger"]
    assert stored(app, inv.id).version == 1 and count(app, AuditEvent) == events


def test_the_edit_shows_in_the_cards_activity(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    client.post(edit_url(inv.id), data=form_data(inv, max_uses="5"), headers=HX)
    with app.app_context():
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == Action.EDIT.value))
        assert event.detail == "max uses 4 → 5" and event.actor_id == owner.id
    activity = text(client.get(f"/dashboard/company/invitations/{inv.id}/activity"))
    assert "edited an invitation" in activity and "max uses 4 → 5" in activity


def test_edit_form_from_another_companys_page_changes_nothing(app, client, make, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    response = client.post(edit_url(inv.id), data=form_data(inv, max_uses="9", company_id="999"), headers=HX)
    assert response.status_code == 409 and response.headers.get("HX-Refresh") == "true"
    assert stored(app, inv.id).max_uses == 4


def test_a_field_the_post_leaves_out_is_kept_not_cleared(app, client, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    client.post(edit_url(inv.id), data=form_data(inv, label="Sales", allowed_domain="acme.com"), headers=HX)
    data = form_data(stored(app, inv.id), max_uses="6")
    del data["label"], data["allowed_domain"]

    assert client.post(edit_url(inv.id), data=data, headers=HX).status_code == 200

    after = stored(app, inv.id)
    assert (after.max_uses, after.label, after.allowed_domain) == (6, "Sales", "acme.com")


@pytest.mark.parametrize("raw_next", ["https://evil.example/x", "//evil.example/x", "javascript:alert(1)"])
def test_edit_goes_back_only_to_the_dashboard(app, client, acme, raw_next):
    """Cancel (and the redirect after Save) follows ``next`` only within the dashboard."""
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=2)

    page = text(client.get(edit_url(inv.id), query_string={"next": raw_next}))
    kept = text(client.get(edit_url(inv.id), query_string={"next": "/dashboard/company?filter=paused"}))

    assert "evil.example" not in page and "javascript:" not in page
    assert f'<a href="{DASHBOARD}" role="button" id="invitation-{inv.id}-cancel"' in page
    assert f'<a href="{DASHBOARD}?filter=paused" role="button" id="invitation-{inv.id}-cancel"' in kept
    saved = client.post(edit_url(inv.id), data=form_data(inv, label="Sales", next=raw_next))
    assert (saved.status_code, saved.headers["Location"]) == (302, DASHBOARD)


def test_an_admin_is_not_offered_edit_on_an_admin_invitation_and_is_refused_it(app, acme):
    """Only an owner makes Admin invitations, so only an owner edits one (even its label)."""
    company, owner = acme
    admin_invitation = create_invitation(app, company, owner, role="ADMIN")
    member_invitation = create_invitation(app, company, owner)
    admin = app.test_client()
    admin.post("/login", data={"email": "ann@example.com", "password": "correct horse battery"})
    events = count(app, AuditEvent)

    page = admin.get(DASHBOARD).get_data(as_text=True)
    opened = admin.get(edit_url(admin_invitation.id), headers=HX)
    saved = admin.post(edit_url(admin_invitation.id), data=form_data(admin_invitation, label="Sales"), headers=HX)

    assert f'hx-get="{edit_url(admin_invitation.id)}"' not in page
    assert f'hx-get="{edit_url(member_invitation.id)}"' in page
    for response in (opened, saved):  # 409: htmx swaps in the card as it is (not a 403)
        assert response.status_code == 409
        assert invitations.ADMIN_ROLE_ERROR in text(response)
        assert f'<article id="invitation-{admin_invitation.id}"' in text(response)
    assert stored(app, admin_invitation.id).label is None and count(app, AuditEvent) == events


def test_an_admin_refused_the_edit_of_an_admin_invitation_reads_one_sentence(app, acme):
    """The refusal's own message ends with a full stop: "…was not changed: <why>." adds none."""
    company, owner = acme
    inv = create_invitation(app, company, owner, role="ADMIN")
    admin = app.test_client()
    admin.post("/login", data={"email": "ann@example.com", "password": "correct horse battery"})
    expected = f"Invitation {short_code(inv.code)} was not changed: {invitations.ADMIN_ROLE_ERROR}"

    opened = admin.get(edit_url(inv.id), headers=HX)
    page = admin.get(edit_url(inv.id), follow_redirects=True)

    assert opened.status_code == 409
    assert json.loads(opened.headers["HX-Trigger"])["announce"] == expected
    assert expected in text(page) and expected + "." not in text(page)
