"""The invite page at /invite/<code>: what invitees see, how they accept, and every refusal."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from invites import create_app
from invites.extensions import db
from invites.formatting import moment
from invites.models import Membership
from invites.tenancy import SESSION_KEY

from .conftest import PASSWORD, base_config
from .invitation_helpers import alert, invitation_row, new_invitation, snapshot, status, used_count

FULL = "This invitation has reached its maximum number of uses"
WRONG_ACCOUNT = "This invitation was sent to a different email address"
MESSAGES = {
    "revoked": "This invitation has been revoked",
    "expired": "This invitation has expired",
    "full": FULL,
    "paused": "This invitation has been paused",
}


@pytest.fixture
def acme(make):
    """Acme and its owner, Acme Owner."""
    return make.company("Acme", owner_email="boss@example.com")


def page_of(response) -> str:
    return response.get_data(as_text=True)


def join(client, code, **kwargs):
    return client.post(f"/invite/{code}/accept", **kwargs)


def members_of_acme(app, company) -> set[str]:
    """The company's memberships as ``ROLE:user_id``."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Membership.role, Membership.user_id).where(Membership.company_id == company.id)
        )
        return {f"{role}:{user_id}" for role, user_id in rows}


# --- what the page shows -------------------------------------------------------------


def test_page_shows_company_inviter_spots_left_and_expiry(client, app, acme, make, auth):
    company, owner = acme
    code = new_invitation(app, company, owner, max_uses=5)
    for _ in range(2):
        user = make.user()
        auth.login(user.email)
        assert join(client, code).status_code == 302
        auth.logout()
    response = client.get(f"/invite/{code}")
    page = page_of(response)
    assert response.status_code == 200
    assert "<h1>Join Acme</h1>" in page
    assert "<strong>Acme Owner</strong> invited you to join <strong>Acme</strong>" in page
    assert "3 of 5 spots left" in page
    expires = invitation_row(app, code)["expires_at"]
    assert f'Expires <time datetime="{expires.isoformat()}">{moment(expires)}</time>' in page
    assert alert(page) is None


def test_single_place_reads_one_spot(client, app, acme):
    company, owner = acme
    code = new_invitation(app, company, owner, max_uses=1)
    assert "1 of 1 spot left" in page_of(client.get(f"/invite/{code}"))


def test_page_stays_out_of_htmx_history_and_caches(client, app, acme):
    company, owner = acme
    code = new_invitation(app, company, owner)
    response = client.get(f"/invite/{code}")
    assert re.search(r'<article id="invite"[^>]*hx-history="false"', page_of(response))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_request_gets_the_invite_block_only(client, app, acme):
    company, owner = acme
    code = new_invitation(app, company, owner)
    page = page_of(client.get(f"/invite/{code}", headers={"HX-Request": "true"}))
    assert "<html" not in page
    assert page.lstrip().startswith('<article id="invite"')
    assert 'hx-history="false"' in page


# --- anonymous visitors ---------------------------------------------------------------


def test_anonymous_visitor_gets_login_and_signup_links_that_return_here(client, app, acme):
    company, owner = acme
    code = new_invitation(app, company, owner, email="john@example.com")
    page = page_of(client.get(f"/invite/{code}"))
    assert f'<a href="/login?next=/invite/{code}" role="button">Log in to accept</a>' in page
    assert f'href="/register?next=/invite/{code}"' in page
    assert "john@example.com" not in page  # the target address stays masked, and out of URLs
    assert "Create an account to accept" in page
    # The header's own links come back here too: a visitor who uses them keeps the invitation.
    assert f'<li><a href="/login?next=/invite/{code}">Log in</a></li>' in page
    assert f'<li><a href="/register?next=/invite/{code}" role="button">Sign up</a></li>' in page
    assert "For <strong>j***@example.com</strong>" in page
    assert "Join Acme</button>" not in page


def test_the_headers_links_elsewhere_lead_to_plain_log_in_and_sign_up(client):
    page = page_of(client.get("/"))
    assert '<li><a href="/login">Log in</a></li>' in page
    assert '<li><a href="/register" role="button">Sign up</a></li>' in page


def test_signup_link_of_a_general_invitation_carries_no_email(client, app, acme):
    company, owner = acme
    code = new_invitation(app, company, owner)
    page = page_of(client.get(f"/invite/{code}"))
    assert f'href="/register?next=/invite/{code}"' in page
    assert "email=" not in page


def test_sign_up_through_the_invite_prefills_email_hides_company_and_returns(client, app, acme):
    """From the invitation email's link (its token proves the address; without it, see
    tests/test_email.py, nothing is pre-filled)."""
    from invites import outbox
    from invites.models import Invitation

    company, owner = acme
    code = new_invitation(app, company, owner, email="john@example.com")
    with app.app_context():
        token = outbox.invite_token(db.session.scalar(sa.select(Invitation).where(Invitation.code == code)))
    assert client.get(f"/invite/{code}?t={token}").status_code == 200
    signup = page_of(client.get(f"/register?next=/invite/{code}"))
    assert 'value="john@example.com"' in signup
    assert f'name="next" type="hidden" value="/invite/{code}"' in signup
    assert 'name="company_name"' not in signup
    response = client.post(
        "/register",
        data={
            "name": "John",
            "email": "john@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "next": f"/invite/{code}",
        },
    )
    assert response.headers["Location"] == f"/invite/{code}"
    assert "Join Acme</button>" in page_of(client.get(f"/invite/{code}"))
    assert join(client, code).headers["Location"] == "/dashboard"
    assert used_count(app, code) == 1


def test_log_in_through_the_invite_returns_to_it(client, app, acme, make, auth):
    company, owner = acme
    make.user("ann@example.com")
    code = new_invitation(app, company, owner)
    login_page = page_of(client.get(f"/login?next=/invite/{code}"))
    assert f'value="/invite/{code}"' in login_page
    response = client.post("/login", data={"email": "ann@example.com", "password": PASSWORD, "next": f"/invite/{code}"})
    assert response.headers["Location"] == f"/invite/{code}"


def test_anonymous_post_goes_to_login_and_back_consuming_nothing(client, app, acme):
    company, owner = acme
    code = new_invitation(app, company, owner)
    before = snapshot(app, code)
    response = join(client, code)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=/invite/{code}"
    assert snapshot(app, code) == before


# --- signed in: joining -------------------------------------------------------------------


def test_signed_in_user_sees_join_button_in_a_real_form(client, app, acme, make, auth):
    company, owner = acme
    user = make.user()
    code = new_invitation(app, company, owner)
    auth.login(user.email)
    page = page_of(client.get(f"/invite/{code}"))
    form = re.search(rf'<form action="/invite/{code}/accept" method="post" data-submit-once>(.*?)</form>', page, re.S)
    assert form is not None
    assert 'name="csrf_token"' in form.group(1)
    assert '<button type="submit" autofocus>Join Acme</button>' in form.group(1)
    assert f"Signed in as {user.email}" in page


def test_joining_lands_on_the_company_with_a_flash_and_makes_it_current(client, app, acme, make, auth):
    company, owner = acme
    other, other_owner = make.company("Globex", owner_email="hank@example.com")
    code = new_invitation(app, company, owner)
    auth.login("hank@example.com")  # Globex is their current company
    response = join(client, code)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    with client.session_transaction() as session:
        assert session[SESSION_KEY] == company.id
    dashboard = page_of(client.get("/dashboard", follow_redirects=True))
    assert "You joined Acme" in dashboard
    assert "<h1>Acme</h1>" in dashboard
    assert f"MEMBER:{other_owner.id}" in members_of_acme(app, company)


def test_seed_003_test_max_uses_through_the_page(client, app, acme, make, auth):
    """Seed 003: max uses 3; users 1-3 accept (PENDING, PENDING, ACCEPTED); user 4 is refused."""
    company, owner = acme
    code = new_invitation(app, company, owner, max_uses=3)
    users = [make.user(f"user{n}@example.com") for n in range(1, 5)]
    for n, user in enumerate(users[:3], start=1):
        auth.login(user.email)
        response = join(client, code, follow_redirects=True)
        assert response.request.path == "/dashboard"
        assert "You joined Acme" in page_of(response)
        assert (used_count(app, code), status(app, code)) == (n, "PENDING" if n < 3 else "ACCEPTED")
        auth.logout()
    auth.login(users[3].email)
    shown = client.get(f"/invite/{code}")
    assert (shown.status_code, alert(page_of(shown))) == (409, FULL)
    response = join(client, code)
    assert (response.status_code, alert(page_of(response))) == (409, FULL)
    assert "maximum number of uses" in page_of(response)
    assert used_count(app, code) == 3
    assert members_of_acme(app, company) == {f"OWNER:{owner.id}"} | {f"MEMBER:{u.id}" for u in users[:3]}


@pytest.mark.parametrize("user_email", ["john@example.com", "JOHN@Example.com", "  John@example.COM  "])
def test_seed_000_acceptance_with_correct_email(client, app, acme, make, user_email):
    """Seed 000: the invitation's email and the account's agree whatever the case and spaces."""
    company, owner = acme
    make.user("john@example.com")
    code = new_invitation(app, company, owner, raw_email="  John@Example.COM ")
    client.post("/login", data={"email": user_email, "password": PASSWORD})
    assert "Join Acme</button>" in page_of(client.get(f"/invite/{code}"))
    assert join(client, code).headers["Location"] == "/dashboard"
    assert used_count(app, code) == 1


def test_seed_000_wrong_account_detection(client, app, acme, make, auth):
    company, owner = acme
    make.user("jane@example.com")
    code = new_invitation(app, company, owner, email="john@example.com", max_uses=2)
    before = snapshot(app, code)
    auth.login("jane@example.com")
    for response in (client.get(f"/invite/{code}"), join(client, code)):
        page = page_of(response)
        # The same status as the API's (one table, web.REFUSAL_STATUS): this account may not use it.
        assert response.status_code == 403
        assert alert(page) == WRONG_ACCOUNT
        assert "It was sent to <strong>j***@example.com</strong>" in page
        assert "john@example.com" not in page
        switch = re.search(r'<form action="/logout" method="post">(.*?)</form>', page, re.S).group(1)
        assert f'name="next" value="/invite/{code}"' in switch
        assert 'name="csrf_token"' in switch
        assert "Switch account</button>" in switch
        assert "Join Acme</button>" not in page
    assert snapshot(app, code) == before
    # "Switch account": logged out, and back on the invitation.
    response = client.post("/logout", data={"next": f"/invite/{code}"})
    assert response.headers["Location"] == f"/invite/{code}"
    assert "Log in to accept" in page_of(client.get(f"/invite/{code}"))


def test_already_a_member_is_told_so_and_nothing_is_consumed(client, app, acme, auth):
    company, owner = acme
    code = new_invitation(app, company, owner, max_uses=2)
    before = snapshot(app, code)
    auth.login("boss@example.com")
    for response in (client.get(f"/invite/{code}"), join(client, code)):
        assert response.status_code == 409
        assert alert(page_of(response)) == "You are already a member of Acme"
        assert "Go to Acme</button>" in page_of(response)
    assert snapshot(app, code) == before


def test_joining_twice_in_a_row_takes_one_use(client, app, acme, make, auth):
    company, owner = acme
    user = make.user()
    code = new_invitation(app, company, owner, max_uses=5)
    auth.login(user.email)
    assert join(client, code).status_code == 302
    second = join(client, code)
    assert (second.status_code, alert(page_of(second))) == (409, "You are already a member of Acme")
    assert used_count(app, code) == 1


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("flag", list(MESSAGES))
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_each_refusal_is_shown_on_get_and_post_and_consumes_nothing(client, app, acme, make, auth, flag, signed_in):
    company, owner = acme
    user = make.user()
    code = new_invitation(app, company, owner, max_uses=2, **{flag: True})
    before = snapshot(app, code)
    if signed_in:
        auth.login(user.email)
    response = client.get(f"/invite/{code}")
    assert (response.status_code, alert(page_of(response))) == (409, MESSAGES[flag])
    assert "Invitation to Acme" in page_of(response)
    assert "Log in to accept" not in page_of(response) and "Join Acme</button>" not in page_of(response)
    if signed_in:
        response = join(client, code)
        assert (response.status_code, alert(page_of(response))) == (409, MESSAGES[flag])
    assert snapshot(app, code) == before


@pytest.mark.parametrize("code", ["no-such-code", "x" * 65, "bad%20code", "%C3%A9t%C3%A9"])
def test_unknown_code_is_404_invitation_not_found(client, app, make, auth, code):
    response = client.get(f"/invite/{code}")
    assert (response.status_code, alert(page_of(response))) == (404, "Invitation not found")
    auth.login(make.user().email)
    response = join(client, code)
    assert (response.status_code, alert(page_of(response))) == (404, "Invitation not found")


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"revoked", "expired", "full", "paused"}, MESSAGES["revoked"]),
        ({"expired", "full", "paused"}, MESSAGES["expired"]),
        ({"full", "paused"}, FULL),
    ],
)
def test_when_several_refusals_apply_the_first_wins_on_the_page(client, app, acme, make, auth, flags, message):
    company, owner = acme
    make.user("jane@example.com")
    # Aimed at someone else as well: the invitation's own refusals still come first.
    code = new_invitation(app, company, owner, email="john@example.com", **{f: True for f in flags})
    auth.login("jane@example.com")
    assert alert(page_of(client.get(f"/invite/{code}"))) == message
    assert alert(page_of(join(client, code))) == message


def test_an_expired_invitation_is_refused_without_any_job(client, app, acme, make, auth):
    company, owner = acme
    code = new_invitation(app, company, owner, days=7, expired=True)  # created 8 days ago
    auth.login(make.user().email)
    response = join(client, code)
    assert (response.status_code, alert(page_of(response))) == (409, "This invitation has expired")


# --- GET never changes anything ----------------------------------------------------------


def test_opening_the_link_changes_nothing_whoever_opens_it(client, app, acme, make, auth):
    company, owner = acme
    make.user("john@example.com")
    make.user("jane@example.com")
    code = new_invitation(app, company, owner, email="john@example.com", max_uses=1)
    before = snapshot(app, code)
    # Anyone may look; to Jane and to the owner it was sent to another address (403).
    expected = {None: 200, "john@example.com": 200, "jane@example.com": 403, "boss@example.com": 403}
    for who, answer in expected.items():
        if who:
            auth.login(who)
        for _ in range(3):
            assert client.get(f"/invite/{code}").status_code == answer
            assert client.head(f"/invite/{code}").status_code == answer
        if who:
            auth.logout()
    assert snapshot(app, code) == before
    # ...and the one place is still there for John.
    auth.login("john@example.com")
    assert join(client, code).status_code == 302
    assert status(app, code) == "ACCEPTED"


# --- CSRF ----------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(database_url, app):
    """A client of an app that checks CSRF tokens, as production does (same database as ``app``)."""
    config = base_config(database_url) | {"WTF_CSRF_ENABLED": True}
    return create_app(config).test_client()


def _log_in_directly(client, user):
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


def test_join_needs_the_csrf_token_from_the_page(csrf_client, app, acme, make):
    company, owner = acme
    user = make.user()
    code = new_invitation(app, company, owner)
    _log_in_directly(csrf_client, user)
    before = snapshot(app, code)
    assert csrf_client.post(f"/invite/{code}/accept").status_code == 400
    assert snapshot(app, code) == before
    page = page_of(csrf_client.get(f"/invite/{code}"))
    token = re.search(
        rf'<form action="/invite/{code}/accept" method="post" data-submit-once>\s*<input type="hidden" name="csrf_token" value="([^"]+)"',
        page,
    ).group(1)
    response = csrf_client.post(f"/invite/{code}/accept", data={"csrf_token": token})
    assert response.headers["Location"] == "/dashboard"
    assert used_count(app, code) == 1


def test_switch_account_form_passes_csrf(csrf_client, app, acme, make):
    company, owner = acme
    user = make.user("jane@example.com")
    code = new_invitation(app, company, owner, email="john@example.com")
    _log_in_directly(csrf_client, user)
    page = page_of(csrf_client.get(f"/invite/{code}"))
    form = re.search(r'<form action="/logout" method="post">(.*?)</form>', page, re.S).group(1)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    response = csrf_client.post("/logout", data=fields)
    assert response.headers["Location"] == f"/invite/{code}"
    with csrf_client.session_transaction() as session:
        assert "_user_id" not in session


def test_a_visitor_gets_no_csrf_token_and_no_session_cookie(csrf_client, app, acme, make):
    """A visitor's page has no form that posts (log in and sign up are links): it mints no
    token, so it sets no cookie; signed in, htmx's header carries a token that passes."""
    company, owner = acme
    code = new_invitation(app, company, owner)
    for path in (f"/invite/{code}", "/invite/no-such-code"):
        response = csrf_client.get(path)
        assert response.status_code in (200, 404)
        assert "Set-Cookie" not in response.headers
        assert "X-CSRFToken" not in page_of(response)
        assert 'name="csrf_token"' not in page_of(response)
    _log_in_directly(csrf_client, make.user())
    page = page_of(csrf_client.get(f"/invite/{code}"))
    token = re.search(r"""<body hx-headers='\{"X-CSRFToken": "([^"]+)"\}'""", page).group(1)
    response = csrf_client.post(f"/invite/{code}/accept", headers={"X-CSRFToken": token})
    assert response.headers["Location"] == "/dashboard"
    assert used_count(app, code) == 1
