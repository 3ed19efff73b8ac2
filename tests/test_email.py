"""Issue 11: email that proves who the invitee is, against a real SMTP server (aiosmtpd).

Every message here travels over SMTP to a server the tests start on a loopback
port; links are followed by the test client as a person would click them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from invites import outbox
from invites.extensions import db
from invites.models import AuditEvent, EmailState, Invitation, OutboxEmail, User, utcnow

from .conftest import PASSWORD, fresh_app
from .smtp_server import SMTPServer

UNVERIFIED = "Confirm your email address to use this invitation"


@pytest.fixture
def smtp():
    with SMTPServer() as server:
        yield server


@pytest.fixture
def app(database_url, smtp):
    """The app sending through the test's SMTP server, delivered in-process after commit."""
    with fresh_app(database_url, MAIL_URL=smtp.url, MAIL_RETRY_SECONDS=0) as app:
        yield app


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def outbox_rows(app) -> list[OutboxEmail]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)).all()
        db.session.expunge_all()
        return rows


def user_row(app, email: str) -> User:
    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.email == email)).one()
        db.session.expunge(user)
        return user


def register(client, email: str, name: str = "Dana", next_path: str | None = None, **extra):
    data = {"name": name, "email": email, "password": PASSWORD, "confirm": PASSWORD, **extra}
    if next_path:
        data["next"] = next_path
    return client.post("/register", data=data)


def create_invitation(client, email: str, **extra):
    return client.post(
        "/dashboard/company/invitations", data={"email": email, "max_uses": "1", "expires_in_days": "7", **extra}
    )


# --- verified addresses --------------------------------------------------------------


def test_sign_up_sends_a_confirmation_link_that_verifies_once(app, client, smtp):
    response = register(client, "dana@example.com")
    assert response.status_code == 302
    [mail] = smtp.to("dana@example.com")
    assert mail.subject == "Confirm your email address for Invites"
    assert user_row(app, "dana@example.com").email_verified_at is None
    page = client.get("/dashboard", follow_redirects=True).get_data(as_text=True)
    assert "Resend confirmation" in page

    response = client.get(path_of(mail.link()), follow_redirects=True)
    assert "dana@example.com is confirmed" in response.get_data(as_text=True)
    assert user_row(app, "dana@example.com").email_verified_at is not None
    assert "Resend confirmation" not in client.get("/dashboard", follow_redirects=True).get_data(as_text=True)

    # Used: the same link changes nothing and says so.
    again = client.get(path_of(mail.link()), follow_redirects=True).get_data(as_text=True)
    assert "already confirmed" in again


def test_a_tampered_confirmation_link_verifies_nobody(app, client, smtp):
    register(client, "dana@example.com")
    link = path_of(smtp.to("dana@example.com")[0].link())
    client.get(link[:-3] + "xyz")
    assert user_row(app, "dana@example.com").email_verified_at is None


def test_resend_confirmation_sends_another_link(app, client, smtp):
    register(client, "dana@example.com")
    response = client.post("/confirm/resend", data={"next": "/dashboard"})
    assert response.status_code == 302
    assert len(smtp.to("dana@example.com")) == 2


def test_create_user_is_verified_unless_unverified(app, runner):
    assert runner.invoke(args=["create-user", "op@example.com", "--password", PASSWORD]).exit_code == 0
    result = runner.invoke(args=["create-user", "new@example.com", "--password", PASSWORD, "--unverified"])
    assert result.exit_code == 0, result.output
    assert user_row(app, "op@example.com").email_verified_at is not None
    assert user_row(app, "new@example.com").email_verified_at is None


# --- targeted invitations need the proven address ------------------------------------------


@pytest.fixture
def acme(make):
    return make.company("Acme")


def test_the_invitation_email_arrives_and_its_link_signs_up_verified_and_joins(app, client, auth, acme, smtp):
    company, owner = acme
    auth.login(owner.email)
    assert create_invitation(client, "Dana@Example.com").status_code == 302
    [mail] = smtp.to("dana@example.com")
    assert mail.subject == "Acme Owner invited you to join Acme"
    assert "Acme" in mail.text and "Spots left: 1" in mail.text and "UTC" in mail.text
    assert mail.link() in mail.html
    assert re.search(r"/invite/[\w-]+\?t=", mail.link())
    auth.logout()

    invite = path_of(mail.link())
    assert client.get(invite).status_code == 200
    code_path = urlsplit(invite).path
    form = client.get(f"/register?next={code_path}").get_data(as_text=True)
    assert 'value="dana@example.com"' in form
    assert register(client, "dana@example.com", next_path=code_path).status_code == 302
    assert user_row(app, "dana@example.com").email_verified_at is not None
    assert smtp.to("dana@example.com") == [mail]  # no confirmation email: the link proved it
    response = client.post(f"{code_path}/accept")
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")


def test_registering_the_target_address_without_the_token_cannot_accept(app, client, auth, acme, smtp):
    """The bypass: sign up as the invited address from the bare link, then accept. Refused."""
    company, owner = acme
    auth.login(owner.email)
    create_invitation(client, "dana@example.com")
    code_path = urlsplit(smtp.to("dana@example.com")[0].link()).path  # the link without ?t=
    auth.logout()

    assert client.get(code_path).status_code == 200
    form = client.get(f"/register?next={code_path}").get_data(as_text=True)
    assert "dana@example.com" not in form  # nothing pre-filled without the token
    register(client, "dana@example.com", next_path=code_path)
    assert user_row(app, "dana@example.com").email_verified_at is None

    page = client.post(f"{code_path}/accept")
    assert page.status_code == 403  # the page answers from the API's table (invites/web.py)
    assert UNVERIFIED in page.get_data(as_text=True) and "Resend confirmation" in page.get_data(as_text=True)
    code = code_path.rsplit("/", 1)[1]
    api = client.post("/api/companies/invitations/accept", json={"code": code})
    assert api.status_code == 403 and api.get_json() == {"error": UNVERIFIED}
    validate = client.post("/api/companies/invitations/validate", json={"code": code})
    assert validate.status_code == 403 and validate.get_json() == {"error": UNVERIFIED}
    with app.app_context():
        assert db.session.scalar(sa.select(Invitation.used_count)) == 0

    # Once confirmed, the same account joins.
    confirm = [m for m in smtp.to("dana@example.com") if m.subject.startswith("Confirm")][0]
    client.get(path_of(confirm.link()))
    assert client.post(f"{code_path}/accept").status_code == 302


def test_wrong_account_comes_before_unverified(app, client, auth, acme, make, smtp):
    company, owner = acme
    auth.login(owner.email)
    create_invitation(client, "dana@example.com")
    auth.logout()
    code_path = urlsplit(smtp.to("dana@example.com")[0].link()).path
    make.user("eve@example.com", verified=False)
    auth.login("eve@example.com")
    response = client.post(f"{code_path}/accept")
    assert response.status_code == 403
    assert "sent to a different email address" in response.get_data(as_text=True)


def test_general_invitations_stay_usable_unverified(app, client, auth, acme, make):
    company, owner = acme
    auth.login(owner.email)
    create_invitation(client, "")
    auth.logout()
    with app.app_context():
        code = db.session.scalar(sa.select(Invitation.code))
    make.user("someone@example.com", verified=False)
    auth.login("someone@example.com")
    assert client.post(f"/invite/{code}/accept").status_code == 302


# --- resend and reminder --------------------------------------------------------------


def test_resend_email_on_the_card_three_times_a_day_then_a_message(app, client, auth, acme, smtp):
    company, owner = acme
    auth.login(owner.email)
    create_invitation(client, "dana@example.com")
    with app.app_context():
        invitation_id = db.session.scalar(sa.select(Invitation.id))
    url = f"/dashboard/company/invitations/{invitation_id}/resend"
    htmx = {"HX-Request": "true"}
    card = client.post(url, headers=htmx)
    assert card.status_code == 200 and "<html" not in card.get_data(as_text=True)
    assert "Email sent" in card.get_data(as_text=True)
    assert client.post(url).status_code == 302  # without JavaScript: redirect and flash
    assert client.post(url, headers=htmx).status_code == 200
    refused = client.post(url, headers=htmx)
    assert refused.status_code == 409
    assert "already sent again 3 times in the last 24 hours" in refused.get_data(as_text=True)
    assert len(smtp.to("dana@example.com")) == 4
    with app.app_context():
        resends = db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "invitation.email_resend")
        )
    assert resends == 3
    api = client.post(f"/api/companies/invitations/{invitation_id}/resend")
    assert api.status_code == 429 and int(api.headers["Retry-After"]) > 0


def test_resend_api_answers_success_and_409_when_not_usable(app, client, auth, acme, smtp):
    company, owner = acme
    auth.login(owner.email)
    create_invitation(client, "dana@example.com")
    with app.app_context():
        invitation_id = db.session.scalar(sa.select(Invitation.id))
    url = f"/api/companies/invitations/{invitation_id}/resend"
    assert client.post(url).get_json() == {"success": True}
    assert len(smtp.to("dana@example.com")) == 2
    client.post(f"/api/companies/invitations/{invitation_id}/revoke")
    refused = client.post(url)
    assert refused.status_code == 409 and refused.get_json() == {"error": "This invitation has been revoked"}
    assert len(smtp.to("dana@example.com")) == 2


def test_one_reminder_48_hours_before_expiry_never_twice(app, client, auth, acme, smtp):
    company, owner = acme
    auth.login(owner.email)
    create_invitation(client, "dana@example.com")
    create_invitation(client, "paused@example.com")
    with app.app_context():
        ids = db.session.scalars(sa.select(Invitation.id).order_by(Invitation.id)).all()
        now = utcnow()
        # Both created 6 days ago and expiring in 47 hours; the second one is paused.
        db.session.execute(
            sa.update(Invitation).values(created_at=now - timedelta(days=6), expires_at=now + timedelta(hours=47))
        )
        db.session.execute(sa.update(Invitation).where(Invitation.id == ids[1]).values(is_active=False))
        db.session.commit()
        outbox.sweep()
        outbox.sweep()
    reminders = [m for m in smtp.received if m.subject.startswith("Reminder:")]
    assert [r.recipients for r in reminders] == [["dana@example.com"]]
    assert reminders[0].subject == "Reminder: Acme Owner invited you to join Acme"


def test_no_reminder_while_all_invitations_are_paused_and_one_after_resume(app, client, auth, acme, smtp):
    """Pause all stops every invitation of the company: no email says "join" then (as Resend),
    the reminder included. Resumed before the invitation expires, it gets its reminder."""
    company, owner = acme
    auth.login(owner.email)
    create_invitation(client, "dana@example.com")
    with app.app_context():
        now = utcnow()
        db.session.execute(
            sa.update(Invitation).values(created_at=now - timedelta(days=6), expires_at=now + timedelta(hours=47))
        )
        db.session.commit()
    assert client.post("/api/companies/invitations/pause-all").status_code == 200
    with app.app_context():
        outbox.sweep()
    assert [m for m in smtp.received if m.subject.startswith("Reminder:")] == []
    assert client.post("/api/companies/invitations/resume-all").status_code == 200
    with app.app_context():
        outbox.sweep()
        outbox.sweep()
    reminders = [m for m in smtp.received if m.subject.startswith("Reminder:")]
    assert [r.recipients for r in reminders] == [["dana@example.com"]]


# --- delivery states --------------------------------------------------------------------


def test_a_permanent_refusal_fails_at_once_with_the_reply_on_the_card(app, client, auth, acme, smtp):
    company, owner = acme
    auth.login(owner.email)
    smtp.handler.mode = "reject"
    create_invitation(client, "dana@example.com")
    [row] = outbox_rows(app)
    assert row.state == EmailState.FAILED.value and row.attempts == 1
    assert row.last_error.startswith("550")
    page = client.get("/dashboard/company").get_data(as_text=True)
    assert "Email failed: 550 5.1.1 No such mailbox here" in page and "Resend email" in page


def test_temporary_failures_retry_until_the_server_takes_it_once(app, client, auth, acme, smtp):
    """SMTP refusing connections while invitations are created, then back: each delivered exactly once."""
    company, owner = acme
    auth.login(owner.email)
    smtp.stop()
    for n in range(3):
        create_invitation(client, f"guest{n}@example.com")
    rows = outbox_rows(app)
    assert [r.state for r in rows] == ["queued"] * 3 and all(r.last_error for r in rows)
    assert "Email queued" in client.get("/dashboard/company").get_data(as_text=True)
    smtp.handler.mode = "tempfail"
    smtp.start()
    with app.app_context():
        outbox.sweep()
    assert smtp.received == [] and all(r.last_error.startswith("451") for r in outbox_rows(app))
    smtp.handler.mode = "accept"
    with app.app_context():
        outbox.sweep()
        outbox.sweep()
    assert sorted(r.recipients[0] for r in smtp.received) == [f"guest{n}@example.com" for n in range(3)]
    assert len({r.message_id for r in smtp.received}) == 3
    assert {r.message_id for r in smtp.received} == {r.message_id for r in outbox_rows(app)}
    assert all(r.state == "sent" for r in outbox_rows(app))
    assert client.get("/dashboard/company").get_data(as_text=True).count("Email sent") == 3


def test_temporary_failures_give_up_after_the_bounded_time(database_url, smtp, make):
    with fresh_app(database_url, MAIL_URL=smtp.url, MAIL_RETRY_SECONDS=0, MAIL_GIVE_UP_SECONDS=0) as app:
        smtp.handler.mode = "tempfail"
        make.app = app
        make.user("late@example.com", verified=False)
        [row] = outbox_rows(app)
        assert row.state == "failed" and row.last_error.startswith("451")


# --- password reset ----------------------------------------------------------------------


def test_reset_answers_the_same_for_any_address_and_ends_other_sessions(app, make, smtp):
    make.user("dana@example.com")
    old_device, new_device = app.test_client(), app.test_client()
    old_device.post("/login", data={"email": "dana@example.com", "password": PASSWORD})
    assert old_device.get("/dashboard").status_code == 200

    known = new_device.post("/password/forgot", data={"email": "dana@example.com"}, follow_redirects=True)
    unknown = new_device.post("/password/forgot", data={"email": "nobody@example.com"}, follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    message = "If an account uses that address"
    assert message in known.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    [mail] = smtp.received
    assert mail.recipients == ["dana@example.com"] and mail.subject == "Reset your Invites password"

    link = path_of(mail.link())
    response = new_device.post(link, data={"password": "a brand new secret", "confirm": "a brand new secret"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    assert new_device.get("/dashboard").status_code == 200
    assert old_device.get("/dashboard").status_code == 302  # the other session has ended
    # Single use: the link no longer works.
    assert new_device.get(link).status_code == 302
    assert (
        make.app.test_client()
        .post("/login", data={"email": "dana@example.com", "password": "a brand new secret"})
        .status_code
        == 302
    )


# --- sessions that end ------------------------------------------------------------------


def test_a_cookie_replayed_after_logout_is_signed_out(app, client, make):
    make.user("dana@example.com")
    client.post("/login", data={"email": "dana@example.com", "password": PASSWORD})
    cookie = client.get_cookie("session").value
    assert client.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    response = thief.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_removal_from_a_company_ends_the_removed_members_sessions(app, client, auth, acme, make):
    company, owner = acme
    member = make.user("m@example.com", company=company)
    member_client = app.test_client()
    member_client.post("/login", data={"email": member.email, "password": PASSWORD})
    assert member_client.get("/dashboard").status_code == 200
    auth.login(owner.email)
    with app.app_context():
        from invites.models import Membership

        membership_id = db.session.scalar(sa.select(Membership.id).where(Membership.user_id == member.id))
    response = client.post(f"/company/members/{membership_id}/remove", data={"confirm": "yes"})
    assert response.status_code in (200, 302)
    assert member_client.get("/dashboard").status_code == 302


# --- sign-up is rate-limited per client ---------------------------------------------------


def test_sign_up_is_limited_per_client_before_any_work(database_url):
    with fresh_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_REGISTER_PER_CLIENT="2 per hour") as app:
        client = app.test_client()
        # Invalid attempts count too: the limit is taken before the form is read.
        assert register(client, "not-an-address").status_code == 422
        assert register(client, "a@example.com").status_code == 302
        client.post("/logout")
        refused = register(client, "b@example.com")
        assert refused.status_code == 429
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_the_console_backend_prints_the_whole_email(database_url, capsys):
    with fresh_app(database_url, MAIL_URL=None) as app:
        client = app.test_client()
        register(client, "dana@example.com")
        printed = capsys.readouterr().err
        assert "Subject: Confirm your email address for Invites" in printed
        assert "To: dana@example.com" in printed
        assert re.search(r"http://localhost/confirm/\S+", printed)
        [row] = outbox_rows(app)
        assert row.state == "sent"


def test_an_invitation_created_through_the_api_is_emailed_too(app, client, acme, smtp):
    company, owner = acme
    client.post("/api/auth/login", json={"email": owner.email, "password": PASSWORD})
    response = client.post("/api/companies/invitations/create", json={"email": "api@example.com", "maxUses": 1})
    assert response.status_code == 201
    [mail] = smtp.to("api@example.com")
    assert mail.subject == "Acme Owner invited you to join Acme"
    code = response.get_json()["invitation"]["code"]
    assert f"/invite/{code}?t=" in mail.link()


def test_a_rolled_back_cause_leaves_no_email(app, acme, smtp):
    """The outbox row belongs to its cause's transaction: no commit, no email."""
    from invites import invitations
    from invites.models import Company

    company, owner = acme
    with app.app_context():
        invitation = Invitation(
            code="x" * 20,
            email="ghost@example.com",
            company_id=company.id,
            created_by=owner.id,
            expires_at=utcnow() + timedelta(days=1),
        )
        db.session.add(invitation)
        db.session.flush()
        invitations.queue_invitation_email(
            invitation, invitations.EmailKind.INVITATION, inviter=db.session.get(User, owner.id)
        )
        db.session.flush()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == 1  # written...
        db.session.rollback()  # ...and gone with its cause
        assert db.session.get(Company, company.id) is not None
    assert outbox_rows(app) == [] and smtp.received == []
