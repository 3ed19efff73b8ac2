"""The invitation dashboard through the Flask test client: pages, fragments, redirects, rows."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from invites import invitations
from invites.extensions import db
from invites.models import AuditEvent, Invitation, Membership, Role

from .clock import frozen_at
from .conftest import age_audit_trail
from .factories import count, create_invitation

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"}
DASHBOARD = "/dashboard/company"
CREATE = "/dashboard/company/invitations"


# --- helpers (the browser tests use them too) ---------------------------------


def new_invitation(app, company, creator, email=None, max_uses=1, expires_in_days=7) -> Invitation:
    """An invitation made through the domain layer, detached from any session."""
    return create_invitation(app, company, creator, email=email, max_uses=max_uses, days=expires_in_days)


def accept_as(app, make, code: str, email: str | None = None):
    """A new user accepts the invitation (as the invite page would)."""
    user = make.user(email)
    with app.app_context():
        invitations.accept(code, user)
    return user


def load(app, invitation_id: int) -> Invitation:
    with app.app_context():
        invitation = db.session.get(Invitation, invitation_id)
        db.session.expunge(invitation)
        return invitation


def invitation_count(app) -> int:
    return count(app, Invitation)


def move_expiry(app, invitation_id: int, when: datetime) -> None:
    """Test setup only: put an invitation's expiry in the past (or anywhere)."""
    with app.app_context():
        db.session.execute(sa.update(Invitation).where(Invitation.id == invitation_id).values(expires_at=when))
        db.session.commit()


def card(html: str, invitation_id: int) -> str:
    """The card of one invitation in a page or fragment."""
    match = re.search(rf'<article id="invitation-{invitation_id}".*?</article>', html, re.S)
    assert match, f"no card for invitation {invitation_id}"
    return match.group(0)


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def acme(make, auth):
    """Acme, its owner logged in."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    return company, owner


# --- access ------------------------------------------------------------------


def test_anonymous_is_sent_to_log_in_and_back(client, make):
    make.company("Acme", owner_email="boss@example.com")
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/dashboard/company"]}
    login = client.post(
        "/login", data={"email": "boss@example.com", "password": "correct horse battery", "next": DASHBOARD}
    )
    assert login.headers["Location"] == DASHBOARD


@pytest.mark.parametrize("role, status", [(Role.OWNER, 200), (Role.ADMIN, 200), (Role.MEMBER, 403)])
def test_only_owners_and_admins_see_the_dashboard(client, make, auth, role, status):
    company, _ = make.company("Acme")
    make.user("someone@example.com", company=company, role=role)
    if role is Role.OWNER:
        auth.login("owner-acme@example.com")
    else:
        auth.login("someone@example.com")
    response = client.get(DASHBOARD)
    assert response.status_code == status
    if status == 403:
        assert "You do not have access to this page." in text(response)
        assert "Create Invitation" not in text(response)
    else:
        assert "Invitations of Acme" in text(response)


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", CREATE),
        ("post", "/dashboard/company/invitations/{id}/active"),
        ("post", "/dashboard/company/invitations/{id}/revoke"),
        ("post", "/dashboard/company/invitations/{id}/remove-members"),
        ("get", "/dashboard/company/invitations/{id}/redemptions"),
        ("get", "/dashboard/company/invitations/{id}/activity"),
        ("get", "/dashboard/company/changes?after=0"),
    ],
)
def test_members_cannot_use_any_dashboard_endpoint(client, app, make, auth, method, path):
    company, owner = make.company("Acme")
    invitation = new_invitation(app, company, owner)
    make.user("mia@example.com", company=company, role=Role.MEMBER)
    auth.login("mia@example.com")
    response = getattr(client, method)(
        path.format(id=invitation.id), data={"active": "0", "confirm": "yes", "max_uses": "3"}
    )
    assert response.status_code == 403
    assert load(app, invitation.id).is_active and load(app, invitation.id).revoked_at is None
    assert invitation_count(app) == 1


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/dashboard/company/invitations/{id}/active"),
        ("post", "/dashboard/company/invitations/{id}/revoke"),
        ("post", "/dashboard/company/invitations/{id}/remove-members"),
        ("get", "/dashboard/company/invitations/{id}/redemptions"),
        ("get", "/dashboard/company/invitations/{id}/activity"),
    ],
)
def test_another_companys_invitation_is_not_found(client, app, make, auth, method, path):
    other, other_owner = make.company("Globex")
    theirs = new_invitation(app, other, other_owner)
    make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    response = getattr(client, method)(path.format(id=theirs.id), data={"active": "0", "confirm": "yes"}, headers=HX)
    assert response.status_code == 404
    assert load(app, theirs.id).is_active and load(app, theirs.id).revoked_at is None


@pytest.mark.parametrize("invitation_id", [str(2**31), str(2**40), "9" * 30])
@pytest.mark.parametrize("action", ["active", "revoke", "remove-members", "redemptions", "activity"])
def test_ids_no_invitation_can_have_are_404(client, acme, invitation_id, action):
    """INTEGER ids end at 2**31 - 1; above that PostgreSQL refused to compare (a 500)."""
    url = f"/dashboard/company/invitations/{invitation_id}/{action}"
    if action in ("active", "revoke", "remove-members"):
        response = client.post(url, data={"active": "0", "confirm": "yes"})
    else:
        response = client.get(url)
    assert response.status_code == 404


# --- the create form ----------------------------------------------------------


def test_form_has_the_seeds_fields_defaults_and_help(client, acme):
    page = text(client.get(DASHBOARD))
    assert "Email Address (Optional)" in page
    assert "Leave empty for a general invitation code" in page
    assert "How many people can use this code (Max: 100)" in page
    assert "Default: 7, Max: 30" in page
    assert re.search(r'<input[^>]*id="max_uses"[^>]*value="1"', page)
    assert re.search(r'<input[^>]*id="expires_in_days"[^>]*value="7"', page)
    assert 'action="/dashboard/company/invitations" method="post"' in page
    assert "No invitations yet" in page


def test_create_without_javascript_redirects_with_a_flash(client, app, acme):
    response = client.post(CREATE, data={"email": "Team@Company.com", "max_uses": "5", "expires_in_days": "7"})
    assert response.status_code == 302
    assert response.headers["Location"] == DASHBOARD
    page = text(client.get(DASHBOARD))
    assert re.search(r"Invitation [\w-]{12}… created\.", page)
    with app.app_context():
        invitation = db.session.execute(sa.select(Invitation)).scalar_one()
        assert (invitation.email, invitation.max_uses, invitation.used_count) == ("team@company.com", 5, 0)
        assert (invitation.expires_at - invitation.created_at).days == 7
        assert len(invitation.code) >= 22  # at least 128 bits, URL-safe
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert actions == ["invitation.create"]
    assert "0/5 uses" in card(page, invitation.id)
    assert "team@company.com" in card(page, invitation.id)


@pytest.fixture
def switched_in_another_tab(client, app, acme, make):
    """The owner is also an admin of Globex and switched to it in another tab.

    Returns the Acme page as the first tab still shows it.
    """
    company, owner = acme
    globex, _ = make.company("Globex", owner_email="hank@example.com")
    with app.app_context():
        db.session.add(Membership(user_id=owner.id, company_id=globex.id, role="ADMIN"))
        db.session.commit()
    acme_page = text(client.get(DASHBOARD))
    client.post("/company/switch", data={"company_id": globex.id})
    return acme_page, globex


@pytest.mark.parametrize("headers", [{}, HX], ids=["no-js", "htmx"])
def test_create_from_a_tab_of_the_company_switched_away_from_changes_nothing(
    client, app, acme, switched_in_another_tab, headers
):
    company, _ = acme
    acme_page, globex = switched_in_another_tab
    assert f'name="company_id" value="{company.id}"' in acme_page
    response = client.post(
        CREATE, data={"company_id": str(company.id), "max_uses": "5", "expires_in_days": "7"}, headers=headers
    )
    if headers:
        assert response.status_code == 409
        assert response.headers["HX-Refresh"] == "true"
    else:
        assert response.status_code == 302
        assert response.headers["Location"] == DASHBOARD
    assert invitation_count(app) == 0
    page = text(client.get(DASHBOARD))
    assert "You switched to Globex in another tab, so nothing was changed." in page
    assert "Invitations of Globex" in page


def test_a_card_action_from_the_company_switched_away_from_changes_nothing(client, app, acme, switched_in_another_tab):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    url = f"/dashboard/company/invitations/{invitation.id}/active"
    response = client.post(url, data={"active": "0", "company_id": str(company.id)}, headers=HX)
    assert response.status_code == 409 and response.headers["HX-Refresh"] == "true"
    assert load(app, invitation.id).is_active is True


def test_create_with_htmx_answers_a_fresh_form_and_the_card_out_of_band(client, app, acme):
    response = client.post(CREATE, data={"email": "", "max_uses": "5", "expires_in_days": "3"}, headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert body.count('<form id="create-invitation"') == 1
    assert re.search(r'<input[^>]*id="max_uses"[^>]*value="1"', body), "the form is reset"
    assert 'hx-swap-oob="afterbegin:#invitation-list"' in body
    invitation_id = load_only_id(app)
    assert "0/5 uses" in card(body, invitation_id) and "PENDING" in card(body, invitation_id)
    assert "created." in response.headers["HX-Trigger"]
    assert "HX-Request" in response.headers["Vary"]


def load_only_id(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(Invitation.id)).scalar_one()


def test_create_while_a_filter_hides_it_flashes_instead_of_inserting(client, app, acme):
    headers = {**HX, "HX-Current-URL": "http://localhost/dashboard/company?filter=revoked"}
    body = text(client.post(CREATE, data={"max_uses": "2"}, headers=headers))
    assert "afterbegin:#invitation-list" not in body
    assert 'hx-swap-oob="innerHTML:#flashes"' in body and "Show all invitations to see it." in body
    assert invitation_count(app) == 1


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("max_uses", "101", invitations.MAX_USES_ERROR),
        ("max_uses", "0", invitations.MAX_USES_ERROR),
        ("max_uses", "-3", invitations.MAX_USES_ERROR),
        ("max_uses", "1.5", invitations.MAX_USES_ERROR),
        ("max_uses", "ten", invitations.MAX_USES_ERROR),
        ("expires_in_days", "31", invitations.EXPIRES_ERROR),
        ("expires_in_days", "0", invitations.EXPIRES_ERROR),
        ("email", "not-an-email", invitations.EMAIL_ERROR),
        ("email", "a" * 250 + "@example.com", invitations.EMAIL_ERROR),
        ("email", "ann@team.test", invitations.EMAIL_RESERVED_ERROR),
        ("email", "ann@localhost", invitations.EMAIL_RESERVED_ERROR),
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_invalid_input_is_422_with_the_message_next_to_its_field(client, app, acme, field, value, message, htmx):
    data = {"email": "", "max_uses": "1", "expires_in_days": "7", field: value}
    response = client.post(CREATE, data=data, headers=HX if htmx else {})
    assert response.status_code == 422
    body = text(response)
    assert ("<html" in body) is not htmx
    assert f'<small id="{field}-error" class="field-error">{message}</small>' in body
    assert re.search(rf'<input[^>]*aria-invalid="true"[^>]*id="{field}"', body)
    assert invitation_count(app) == 0


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_several_errors_at_once_each_sit_by_their_field_under_a_summary(client, app, acme, htmx):
    body = text(
        client.post(CREATE, data={"email": "x", "max_uses": "0", "expires_in_days": "99"}, headers=HX if htmx else {})
    )
    for field in ("email", "max_uses", "expires_in_days"):
        assert f'id="{field}-error"' in body
    # The form starts with a summary that links to each field, in the form's order.
    summary = re.search(r'<div class="error-summary".*?</div>', body, re.S).group(0)
    assert 'role="alert"' in summary and "autofocus" in summary and "There is a problem" in summary
    assert re.findall(r'<li><a href="#([\w-]+)">([^<]*)</a></li>', summary) == [
        ("email", invitations.EMAIL_ERROR),
        ("max_uses", invitations.MAX_USES_ERROR),
        ("expires_in_days", invitations.EXPIRES_ERROR),
    ]
    assert body.index("error-summary") < body.index('id="email"')
    # The help text stays neutral, after the error; both describe the field.
    assert re.search(r'<input[^>]*aria-describedby="max_uses-error max_uses-help"[^>]*id="max_uses"', body)
    assert re.search(
        r'id="max_uses-error" class="field-error">[^<]*</small><small id="max_uses-help" class="field-help">', body
    )
    assert invitation_count(app) == 0


def test_a_form_without_errors_has_no_summary(client, acme):
    body = text(client.get("/dashboard/company"))
    assert "error-summary" not in body and "aria-invalid" not in body
    assert 'class="field-help">Leave empty for a general invitation code</small>' in body


def test_example_domains_are_accepted_for_an_invitation(client, app, acme):
    response = client.post(CREATE, data={"email": "ann@team.example", "max_uses": "1", "expires_in_days": "7"})
    assert response.status_code == 302
    assert invitation_count(app) == 1


@pytest.mark.parametrize("value", ["", "abc", " ", "5.0"])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_empty_or_non_numeric_number_is_its_fields_error_not_the_default(client, app, acme, value, htmx):
    # Letters typed into a number box reach the server as an empty value.
    response = client.post(
        CREATE, data={"email": "", "max_uses": value, "expires_in_days": value}, headers=HX if htmx else {}
    )
    assert response.status_code == 422
    body = text(response)
    assert f'<small id="max_uses-error" class="field-error">{invitations.MAX_USES_ERROR}</small>' in body
    assert f'<small id="expires_in_days-error" class="field-error">{invitations.EXPIRES_ERROR}</small>' in body
    # Once under its field, once in the summary at the top that links to it.
    assert f'<li><a href="#max_uses">{invitations.MAX_USES_ERROR}</a></li>' in body
    assert body.count(invitations.MAX_USES_ERROR) == 2
    assert invitation_count(app) == 0


def test_the_form_and_the_api_validate_through_one_form_class(client, app, acme):
    from invites.dashboard.forms import CreateInvitationForm

    # NumberRange with the domain's limits and messages is on the fields themselves.
    form = CreateInvitationForm
    (uses_range,) = [v for v in form.max_uses.kwargs["validators"] if hasattr(v, "min")]
    (days_range,) = [v for v in form.expires_in_days.kwargs["validators"] if hasattr(v, "min")]
    assert (uses_range.min, uses_range.max, uses_range.message) == (1, 100, invitations.MAX_USES_ERROR)
    assert (days_range.min, days_range.max, days_range.message) == (1, 30, invitations.EXPIRES_ERROR)
    with app.test_request_context():
        api_form = CreateInvitationForm.from_json({"maxUses": 101, "expiresInDays": 5.0, "email": "X@Example.COM"})
        assert not api_form.validate()
        assert api_form.json_errors() == {"maxUses": invitations.MAX_USES_ERROR}
        assert (api_form.expires_in_days.data, api_form.email.data) == (5, "x@example.com")


# --- the card -----------------------------------------------------------------


def test_card_states_follow_seed_003s_table(client, app, make, acme):
    company, owner = acme
    active = new_invitation(app, company, owner, max_uses=5)
    accept_as(app, make, active.code)
    accept_as(app, make, active.code)
    paused = new_invitation(app, company, owner, email="john@example.com", max_uses=10)
    with app.app_context():
        invitations.set_active(db.session.get(Invitation, paused.id), owner, False, actor_role=Role.OWNER)
    full = new_invitation(app, company, owner, max_uses=1)
    accept_as(app, make, full.code)
    expired = new_invitation(app, company, owner, max_uses=3)
    move_expiry(app, expired.id, datetime(2025, 1, 27, 12, tzinfo=timezone.utc))
    revoked = new_invitation(app, company, owner, max_uses=3)
    with app.app_context():
        invitations.revoke(db.session.get(Invitation, revoked.id), owner)

    page = text(client.get(DASHBOARD))

    c = card(page, active.id)
    assert "PENDING" in c and "2/5 uses" in c and "📧" not in c
    assert "PAUSED" not in c and "is-paused" not in c
    assert '>\n        <span class="spinner htmx-indicator" aria-hidden="true"></span> Pause' in c
    assert f'aria-label="Pause invitation {active.code[:12]}…"' in c
    assert "Copy Link" in c and f"/invite/{active.code}" in c and "Revoke" in c
    assert "Who used it (2)" in c

    c = card(page, paused.id)
    assert "PENDING" in c and "PAUSED" in c and "0/10 uses" in c and "john@example.com" in c
    assert 'class="invitation-card is-paused"' in c
    assert f'aria-label="Start invitation {paused.code[:12]}…"' in c and 'name="active" value="1"' in c
    assert "Copy Link" in c

    c = card(page, full.id)
    assert "ACCEPTED" in c and "1/1 uses" in c
    assert "<form" not in c and "Copy Link" not in c

    c = card(page, expired.id)
    assert "EXPIRED" in c and "Expired:" in c
    assert '<time datetime="2025-01-27T12:00:00+00:00">Jan 27, 2025</time>' in c
    assert "Pause" not in c and "Copy Link" not in c
    assert "Revoke invitation" in c  # not yet revoked nor full: still revocable

    c = card(page, revoked.id)
    assert "REVOKED" in c and "<form" not in c and "Copy Link" not in c


def test_expiry_date_is_written_like_the_seed(client, app, make, auth):
    with frozen_at(datetime(2031, 1, 25, 9, tzinfo=timezone.utc)):
        company, owner = make.company("Acme", owner_email="boss@example.com")
        auth.login("boss@example.com")
        invitation = new_invitation(app, company, owner)
        move_expiry(app, invitation.id, datetime(2031, 2, 1, 9, tzinfo=timezone.utc))
        c = card(text(client.get(DASHBOARD)), invitation.id)
    assert "Expires:" in c and ">Feb 1, 2031</time>" in c


def test_copy_link_is_absolute_under_public_url(client, app, acme):
    company, owner = acme
    app.config["PUBLIC_URL"] = "https://invites.example.com"
    invitation = new_invitation(app, company, owner)
    c = card(text(client.get(DASHBOARD)), invitation.id)
    assert f'data-link="https://invites.example.com/invite/{invitation.code}"' in c


# --- pause / start --------------------------------------------------------------


def test_pause_and_start_with_htmx_answer_the_card(client, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=5)
    url = f"/dashboard/company/invitations/{invitation.id}/active"

    response = client.post(url, data={"active": "0"}, headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body and body.lstrip().startswith(f'<article id="invitation-{invitation.id}"')
    assert 'hx-target="this" hx-swap="outerHTML"' in body
    assert "PAUSED" in body and "is-paused" in body and 'name="active" value="1"' in body
    assert "paused." in response.headers["HX-Trigger"]
    assert load(app, invitation.id).is_active is False

    response = client.post(url, data={"active": "1"}, headers=HX)
    assert "PAUSED" not in text(response) and 'name="active" value="0"' in text(response)
    assert load(app, invitation.id).is_active is True
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["invitation.create", "invitation.pause", "invitation.start"]


@pytest.mark.parametrize("current_url", ["http://[", "::::", ""])
def test_pause_with_a_malformed_current_url_still_answers_the_card(client, app, acme, current_url):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    url = f"/dashboard/company/invitations/{invitation.id}/active"
    response = client.post(url, data={"active": "0"}, headers={**HX, "HX-Current-URL": current_url})
    assert response.status_code == 200
    assert text(response).lstrip().startswith(f'<article id="invitation-{invitation.id}"')
    assert load(app, invitation.id).is_active is False


def test_pause_sends_the_wanted_state_so_a_double_click_stays_paused(client, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    url = f"/dashboard/company/invitations/{invitation.id}/active"
    client.post(url, data={"active": "0"}, headers=HX)
    client.post(url, data={"active": "0"}, headers=HX)
    assert load(app, invitation.id).is_active is False


def test_pause_without_javascript_redirects_back_to_the_same_list(client, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    url = f"/dashboard/company/invitations/{invitation.id}/active"
    page = text(client.get(DASHBOARD + "?filter=active"))
    assert 'name="next" value="/dashboard/company?filter=active"' in card(page, invitation.id)
    response = client.post(url, data={"active": "0", "next": "/dashboard/company?filter=active"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/company?filter=active"
    assert load(app, invitation.id).is_active is False
    assert "paused." in text(client.get(DASHBOARD))


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example", "/login", ""])
def test_redirect_back_stays_on_the_dashboard(client, app, acme, next_url):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    response = client.post(
        f"/dashboard/company/invitations/{invitation.id}/active", data={"active": "0", "next": next_url}
    )
    assert response.headers["Location"] == DASHBOARD


@pytest.mark.parametrize("value", ["", "2", "yes", "true"])
def test_pause_with_a_nonsense_state_is_400_and_changes_nothing(client, app, acme, value):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    response = client.post(f"/dashboard/company/invitations/{invitation.id}/active", data={"active": value}, headers=HX)
    assert response.status_code == 400
    assert load(app, invitation.id).is_active is True


def test_refused_pause_is_409_with_the_real_card_and_the_reason(client, app, make, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=1)
    accept_as(app, make, invitation.code)  # filled up while the admin looked elsewhere
    response = client.post(f"/dashboard/company/invitations/{invitation.id}/active", data={"active": "0"}, headers=HX)
    assert response.status_code == 409
    body = text(response)
    assert "<html" not in body and "ACCEPTED" in body and "1/1 uses" in body
    assert '<p class="card-message" role="alert">This invitation has reached its maximum number of uses</p>' in body
    assert "not changed" in response.headers["HX-Trigger"]
    assert load(app, invitation.id).is_active is True


def test_refused_pause_without_javascript_flashes_the_reason(client, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    with app.app_context():
        invitations.revoke(db.session.get(Invitation, invitation.id), owner)
    response = client.post(
        f"/dashboard/company/invitations/{invitation.id}/active", data={"active": "0"}, follow_redirects=True
    )
    assert "This invitation has been revoked" in text(response)
    assert load(app, invitation.id).is_active is True


# --- revoke ---------------------------------------------------------------------


def test_revoke_with_htmx_answers_the_revoked_card(client, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=3)
    response = client.post(
        f"/dashboard/company/invitations/{invitation.id}/revoke", data={"confirm": "yes"}, headers=HX
    )
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body and "REVOKED" in body and "<form" not in body
    assert load(app, invitation.id).revoked_at is not None


def test_revoke_without_javascript_asks_first_then_redirects(client, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    url = f"/dashboard/company/invitations/{invitation.id}/revoke"
    ask = client.post(url, data={"next": "/dashboard/company?filter=active"})
    assert ask.status_code == 200
    assert "Nobody will be able to join with it any more." in text(ask)
    assert 'name="confirm" value="yes"' in text(ask)
    assert load(app, invitation.id).revoked_at is None
    done = client.post(url, data={"confirm": "yes", "next": "/dashboard/company?filter=active"})
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard/company?filter=active"
    assert load(app, invitation.id).revoked_at is not None
    assert "revoked." in text(client.get(DASHBOARD))


def test_a_fully_used_invitation_cannot_be_revoked(client, app, make, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=1)
    accept_as(app, make, invitation.code)
    response = client.post(
        f"/dashboard/company/invitations/{invitation.id}/revoke", data={"confirm": "yes"}, headers=HX
    )
    assert response.status_code == 409
    assert "maximum number of uses" in text(response)
    assert load(app, invitation.id).revoked_at is None


# --- who used it ----------------------------------------------------------------


def test_who_used_it_is_a_fragment_for_htmx_and_a_page_without(client, app, make, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=3)
    accept_as(app, make, invitation.code, "ann@example.com")
    accept_as(app, make, invitation.code, "bob@example.com")
    url = f"/dashboard/company/invitations/{invitation.id}/redemptions"
    fragment = text(client.get(url, headers=HX))
    assert "<html" not in fragment
    assert fragment.index("ann@example.com") < fragment.index("bob@example.com")
    assert "Ann" in fragment and "UTC</time>" in fragment
    page = text(client.get(url))
    assert "<html" in page and "ann@example.com" in page
    assert f'hx-get="{url}"' in card(text(client.get(DASHBOARD)), invitation.id)


# --- activity ---------------------------------------------------------------------


def test_every_card_has_an_activity_disclosure_that_works_without_javascript(client, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    url = f"/dashboard/company/invitations/{invitation.id}/activity"
    c = card(text(client.get(DASHBOARD)), invitation.id)
    disclosure = re.search(r'<details class="invitation-activity".*?</details>', c, re.S).group(0)
    assert f'hx-get="{url}"' in disclosure and 'hx-trigger="toggle once"' in disclosure
    assert "<summary>Activity</summary>" in disclosure
    # Without JavaScript the disclosure holds a link to the same list as a page.
    assert f'<a href="{url}">See the activity of invitation {invitation.code[:12]}…</a>' in disclosure


def test_activity_of_an_invitation_is_its_story_newest_first(client, app, make, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=3)
    client.post(f"/dashboard/company/invitations/{invitation.id}/active", data={"active": "0"})
    client.post(f"/dashboard/company/invitations/{invitation.id}/active", data={"active": "1"})
    accept_as(app, make, invitation.code, "ann@example.com")
    client.post(f"/dashboard/company/invitations/{invitation.id}/revoke", data={"confirm": "yes"})
    other = new_invitation(app, company, owner, max_uses=9)
    url = f"/dashboard/company/invitations/{invitation.id}/activity"

    response = client.get(url, headers=HX)
    fragment = text(response)
    assert response.status_code == 200 and "<html" not in fragment
    assert "HX-Request" in response.headers["Vary"]
    said = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", li)).strip() for li in re.findall(r"<li>(.*?)</li>", fragment, re.S)
    ]
    assert [line.split(" UTC ", 1)[1] for line in said] == [
        "Acme Owner revoked an invitation",
        "Ann joined through an invitation",
        "Acme Owner started an invitation",
        "Acme Owner paused an invitation",
        "Acme Owner created an invitation (max uses 3, expires in 7 days)",
    ]
    # Its own list id, and no code repeated on the card it belongs to.
    assert f'id="invitation-{invitation.id}-events"' in fragment
    assert invitation.code[:12] not in fragment and "max uses 9" not in fragment

    page = text(client.get(url))
    assert "<html" in page and f"Activity of invitation <code>{invitation.code[:12]}…</code>" in page
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))
    assert "Ann joined through an invitation" in words and "Back to the invitations" in words
    assert invitation.code not in page.replace(f"{invitation.code[:12]}…", "")
    assert other.code[:12] not in page


def test_names_in_the_activity_are_escaped(client, app, make, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    user = make.user("evil@example.com", name="<script>alert(1)</script>")
    with app.app_context():
        invitations.accept(invitation.code, user)
    fragment = text(client.get(f"/dashboard/company/invitations/{invitation.id}/activity", headers=HX))
    assert "<script>" not in fragment
    assert "<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>" in fragment


def test_screens_name_an_invitation_by_one_short_form(client, app, make, acme):
    """The card, its labels, "Who used it", its activity and the company's activity
    page all show the same 12 characters and an ellipsis; logs show 4 (test_operations)."""
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=2)
    accept_as(app, make, invitation.code, "ann@example.com")
    short = invitation.code[:12] + "…"
    screens = {
        "card": card(text(client.get(DASHBOARD)), invitation.id),
        "who used it": text(client.get(f"/dashboard/company/invitations/{invitation.id}/redemptions")),
        "activity": text(client.get(f"/dashboard/company/invitations/{invitation.id}/activity")),
        "company activity": text(client.get("/company/activity")),
        "revoke page": text(client.post(f"/dashboard/company/invitations/{invitation.id}/revoke")),
    }
    for name, html in screens.items():
        assert f">{short}</code>" in html, name
        # The card's Copy Link carries the whole link: that is what it is for.
        html = html.replace(f"/invite/{invitation.code}", "/invite/<the link>")
        shown = set(re.findall(rf"{re.escape(invitation.code[:4])}[\w-]*…?", html))
        assert shown == {short}, (name, shown)


# --- live usage -------------------------------------------------------------------


def cursor_of(page: str) -> int:
    return int(re.search(r"/dashboard/company/changes\?after=(\d+)", page).group(1))


def test_live_usage_sends_nothing_when_nothing_changed(client, app, acme):
    company, owner = acme
    new_invitation(app, company, owner)
    age_audit_trail(app)
    after = cursor_of(text(client.get(DASHBOARD)))
    response = client.get(f"/dashboard/company/changes?after={after}", headers=HX)
    assert response.status_code == 204 and response.data == b""


def test_live_usage_sends_the_changed_card_and_a_new_cursor(client, app, make, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=5)
    untouched = new_invitation(app, company, owner, max_uses=5)
    age_audit_trail(app)
    after = cursor_of(text(client.get(DASHBOARD)))
    accept_as(app, make, invitation.code)

    response = client.get(f"/dashboard/company/changes?after={after}", headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    c = card(body, invitation.id)
    assert 'hx-swap-oob="true"' in c and "1/5 uses" in c
    assert f'id="invitation-{untouched.id}"' not in body
    new_cursor = cursor_of(body)
    assert new_cursor > after
    assert 'id="live-usage"' in body and 'hx-swap-oob="true"' in body.split('id="live-usage"')[1]
    assert "now has 1/5 uses" in response.headers["HX-Trigger"]
    # For a few seconds the card is sent again (a late commit may still come in),
    # without announcing it twice; after that, nothing.
    again = client.get(f"/dashboard/company/changes?after={new_cursor}", headers=HX)
    assert "1/5 uses" in card(text(again), invitation.id)
    assert "HX-Trigger" not in again.headers
    assert cursor_of(text(again)) == new_cursor
    age_audit_trail(app)
    assert client.get(f"/dashboard/company/changes?after={new_cursor}", headers=HX).status_code == 204


def test_live_usage_sees_a_change_committed_after_the_cursor_moved_past_its_id(client, app, make, acme):
    """PostgreSQL commits out of id order: a row below the cursor can appear late."""
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=5)
    accept_as(app, make, invitation.code)
    with app.app_context():
        late_id = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    # The poll had already moved past this id before the row became visible.
    body = text(client.get(f"/dashboard/company/changes?after={late_id}", headers=HX))
    assert "1/5 uses" in card(body, invitation.id)


def test_live_usage_shows_this_admins_own_change_to_their_other_tabs(client, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    after = cursor_of(text(client.get(DASHBOARD)))
    client.post(f"/dashboard/company/invitations/{invitation.id}/active", data={"active": "0"}, headers=HX)
    body = text(client.get(f"/dashboard/company/changes?after={after}", headers=HX))
    assert "PAUSED" in card(body, invitation.id)
    assert cursor_of(body) > after


def test_live_usage_never_stalls_on_a_burst_of_300_changes(client, app, acme, monkeypatch):
    """More changes inside the re-send window than one poll sends: the cursor still moves on."""
    from datetime import timedelta

    from invites import audit
    from invites.models import utcnow

    # However slow the machine, every row of the burst stays inside the re-send window.
    monkeypatch.setattr(audit, "RECENT", timedelta(hours=1))
    company, owner = acme
    after = cursor_of(text(client.get(DASHBOARD)))
    with app.app_context():
        now = utcnow()
        rows = [
            Invitation(
                code=f"burst-{n:03d}",
                company_id=company.id,
                created_by=owner.id,
                created_at=now,
                expires_at=now + timedelta(days=7),
                max_uses=1,
                used_count=0,
                is_active=True,
            )
            for n in range(300)
        ]
        db.session.add_all(rows)
        db.session.flush()
        for invitation in rows:
            audit.record(audit.Action.CREATE, company_id=company.id, actor_id=owner.id, invitation=invitation)
        db.session.commit()
        wanted = {invitation.id for invitation in rows}
    seen: set[int] = set()
    for _ in range(3):
        response = client.get(f"/dashboard/company/changes?after={after}", headers=HX)
        assert response.status_code == 200
        body = text(response)
        seen |= {int(i) for i in re.findall(r'<article[^>]*id="invitation-(\d+)"', body)}
        after = cursor_of(body)
    assert seen == wanted, f"{len(wanted - seen)} cards never arrived"


def test_live_usage_shows_another_admins_pause(client, app, make, acme):
    company, owner = acme
    admin = make.user("ann@example.com", company=company, role=Role.ADMIN)
    invitation = new_invitation(app, company, owner)
    after = cursor_of(text(client.get(DASHBOARD)))
    with app.app_context():
        invitations.set_active(db.session.get(Invitation, invitation.id), admin, False, actor_role=Role.ADMIN)
    body = text(client.get(f"/dashboard/company/changes?after={after}", headers=HX))
    assert "PAUSED" in card(body, invitation.id)


def test_live_usage_never_shows_another_companys_changes(client, app, make, acme):
    other, other_owner = make.company("Globex")
    theirs = new_invitation(app, other, other_owner)
    age_audit_trail(app)  # Acme's owner's own sign-up is no change to show
    response = client.get("/dashboard/company/changes?after=0", headers=HX)
    assert response.status_code == 204
    accept_as(app, make, theirs.code)
    assert client.get("/dashboard/company/changes?after=0", headers=HX).status_code == 204


@pytest.mark.parametrize("after", ["", "abc", "-1", "1e3", str(2**31), str(2**63)])
def test_live_usage_refuses_a_nonsense_cursor(client, acme, after):
    assert client.get(f"/dashboard/company/changes?after={after}", headers=HX).status_code == 400


# --- the list -----------------------------------------------------------------------


def test_filters_are_real_links_that_show_only_their_invitations(client, app, make, acme):
    company, owner = acme
    active = new_invitation(app, company, owner, max_uses=2)
    paused = new_invitation(app, company, owner, max_uses=2)
    with app.app_context():
        invitations.set_active(db.session.get(Invitation, paused.id), owner, False, actor_role=Role.OWNER)
    full = new_invitation(app, company, owner, max_uses=1)
    accept_as(app, make, full.code)
    expired = new_invitation(app, company, owner, max_uses=2)
    move_expiry(app, expired.id, datetime(2025, 1, 27, tzinfo=timezone.utc))
    revoked = new_invitation(app, company, owner, max_uses=2)
    with app.app_context():
        invitations.revoke(db.session.get(Invitation, revoked.id), owner)
    everything = {active.id, paused.id, full.id, expired.id, revoked.id}

    page = text(client.get(DASHBOARD))
    for value in ("active", "paused", "fully_used", "expired", "revoked"):
        assert f'href="/dashboard/company?filter={value}"' in page
    assert 'href="/dashboard/company" aria-current="page"' in page

    expected = {
        "all": everything,
        "active": {active.id},
        "paused": {paused.id},
        "fully_used": {full.id},
        "expired": {expired.id},
        "revoked": {revoked.id},
    }
    for value, ids in expected.items():
        page = text(client.get(f"{DASHBOARD}?filter={value}"))
        shown = {int(i) for i in re.findall(r'<article id="invitation-(\d+)"', page)}
        assert shown == ids, value
    with app.app_context():
        invitations.set_active(db.session.get(Invitation, paused.id), owner, True, actor_role=Role.OWNER)
    page = text(client.get(f"{DASHBOARD}?filter=paused"))
    assert "No paused invitations." in page and "<article" not in page


def test_pages_of_fifty_newest_first_with_next_and_prev(client, app, acme):
    company, owner = acme
    made = [new_invitation(app, company, owner).id for _ in range(51)]
    first = text(client.get(DASHBOARD))
    shown = [int(i) for i in re.findall(r'<article id="invitation-(\d+)"', first)]
    assert shown == list(reversed(made))[:50]
    assert 'href="/dashboard/company?page=2" rel="next"' in first and 'rel="prev"' not in first
    second = text(client.get(DASHBOARD + "?page=2"))
    assert [int(i) for i in re.findall(r'<article id="invitation-(\d+)"', second)] == [made[0]]
    assert 'href="/dashboard/company" rel="prev"' in second and 'rel="next"' not in second
    assert "Page 2" in second


@pytest.mark.parametrize("query", ["?filter=bogus", "?page=0", "?page=abc", "?page=-1"])
def test_odd_list_parameters_fall_back_to_the_first_page_of_all(client, app, acme, query):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    response = client.get(DASHBOARD + query)
    assert response.status_code == 200
    assert f'id="invitation-{invitation.id}"' in text(response)


def test_the_page_costs_the_same_queries_for_one_card_or_fifty(client, app, make, acme):
    """No query per card: a page of fifty costs what a page of one does, however many the company has."""
    company, owner = acme
    new_invitation(app, company, owner)
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        client.get(DASHBOARD)
        one = len(statements)
        for _ in range(60):
            new_invitation(app, company, owner, max_uses=3)
        statements.clear()
        client.get(DASHBOARD)
        fifty = len(statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert fifty == one, statements


# --- seed 003's use cases, through the dashboard -------------------------------------------


def create_through_form(client, app, **data) -> Invitation:
    before = invitation_count(app)
    response = client.post(CREATE, data={"email": "", "max_uses": "1", "expires_in_days": "7", **data}, headers=HX)
    assert response.status_code == 200, text(response)
    assert invitation_count(app) == before + 1
    with app.app_context():
        invitation = db.session.execute(sa.select(Invitation).order_by(Invitation.id.desc()).limit(1)).scalar_one()
        db.session.expunge(invitation)
    return invitation


def toggle(client, invitation, active: bool) -> str:
    response = client.post(
        f"/dashboard/company/invitations/{invitation.id}/active", data={"active": "1" if active else "0"}, headers=HX
    )
    assert response.status_code == 200
    return text(response)


def test_use_case_1_team_onboarding(client, app, make, acme):
    """maxUses 10, shared with ten people, "7/10 uses", closes when full."""
    invitation = create_through_form(client, app, max_uses="10")
    for _ in range(7):
        accept_as(app, make, invitation.code)
    assert "7/10 uses" in card(text(client.get(DASHBOARD)), invitation.id)
    for _ in range(3):
        accept_as(app, make, invitation.code)
    c = card(text(client.get(DASHBOARD)), invitation.id)
    assert "ACCEPTED" in c and "10/10 uses" in c and "<form" not in c
    with pytest.raises(invitations.InvitationRefused, match="maximum number of uses"):
        accept_as(app, make, invitation.code)


def test_use_case_2_event_registration(client, app, make, acme):
    """maxUses 50, registrations seen live, paused when the event is full early."""
    invitation = create_through_form(client, app, max_uses="50")
    after = cursor_of(text(client.get(DASHBOARD)))
    for _ in range(3):
        accept_as(app, make, invitation.code)
    assert "3/50 uses" in card(text(client.get(f"/dashboard/company/changes?after={after}", headers=HX)), invitation.id)
    assert "PAUSED" in toggle(client, invitation, active=False)
    with pytest.raises(invitations.InvitationRefused, match="has been paused"):
        accept_as(app, make, invitation.code)
    assert load(app, invitation.id).used_count == 3


def test_use_case_3_temporary_access(client, app, make, acme):
    """maxUses 1, expires in a day, paused at once, expired after 24 hours."""
    invitation = create_through_form(client, app, max_uses="1", expires_in_days="1")
    assert (invitation.expires_at - invitation.created_at).total_seconds() == 24 * 3600
    assert "PAUSED" in toggle(client, invitation, active=False)
    move_expiry(app, invitation.id, datetime(2025, 1, 27, tzinfo=timezone.utc))
    c = card(text(client.get(DASHBOARD)), invitation.id)
    assert "EXPIRED" in c and "PAUSED" not in c and "Copy Link" not in c
    with pytest.raises(invitations.InvitationRefused, match="expired"):
        accept_as(app, make, invitation.code)


def test_use_case_4_department_access(client, app, make, acme):
    """maxUses 20 labelled sales@company.com, paused during holidays, resumed."""
    invitation = create_through_form(client, app, email="sales@company.com", max_uses="20")
    assert "sales@company.com" in card(text(client.get(DASHBOARD)), invitation.id)
    assert "PAUSED" in toggle(client, invitation, active=False)
    assert "PAUSED" not in toggle(client, invitation, active=True)
    accept_as(app, make, invitation.code, "sales@company.com")
    assert "1/20 uses" in card(text(client.get(DASHBOARD)), invitation.id)
