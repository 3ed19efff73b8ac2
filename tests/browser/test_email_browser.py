"""Issue 11 in a real Chromium: follow the links that arrive by email (aiosmtpd on loopback)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..conftest import fresh_app
from ..smtp_server import SMTPServer
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


@pytest.fixture
def smtp():
    with SMTPServer() as server:
        yield server


@pytest.fixture
def app(database_url, smtp):
    """CSRF on, as a browser meets it; emails through the test's SMTP server."""
    with fresh_app(database_url, WTF_CSRF_ENABLED=True, MAIL_URL=smtp.url) as app:
        yield app


def test_sign_up_and_join_from_the_invitation_email(new_page, app, make, smtp):
    make.company("Acme", owner_email="boss@example.com")
    admin = new_page()
    log_in(admin, "boss@example.com")
    admin.get_by_label("Email Address (Optional)").fill("dana@example.com")
    admin.get_by_role("button", name="Create Invitation").click()
    card = admin.locator("#invitation-list > article").first
    expect(card).to_contain_text("Email sent")

    [mail] = smtp.wait_for(1)
    assert mail.recipients == ["dana@example.com"]
    assert mail.subject == "Acme Owner invited you to join Acme"

    dana = new_page()
    dana.goto(mail.link())
    expect(dana.get_by_role("heading", name="Join Acme")).to_be_visible()
    dana.get_by_role("button", name="Create an account to accept").click()
    expect(dana.get_by_label("Email")).to_have_value("dana@example.com")
    dana.get_by_label("Your name").fill("Dana")
    dana.get_by_label("Password", exact=True).fill("dana's long secret")
    dana.get_by_label("Repeat password").fill("dana's long secret")
    dana.get_by_role("button", name="Create account").click()
    expect(dana.get_by_role("heading", name="Join Acme")).to_be_visible()
    expect(dana.get_by_role("button", name="Resend confirmation")).to_have_count(0)  # verified by the link
    dana.get_by_role("button", name="Join Acme").click()
    expect(dana.locator("#flashes")).to_contain_text("You joined Acme")
    assert len(smtp.received) == 1  # no confirmation email was needed


def test_reset_the_password_from_the_emailed_link(new_page, app, make, smtp):
    make.user("dana@example.com")
    page = new_page()
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_role("button", name="Email me a reset link").click()
    expect(page.locator("#flashes")).to_contain_text("If an account uses that address")

    [mail] = smtp.wait_for(1)
    assert mail.subject == "Reset your Invites password"
    page.goto(mail.link())
    page.get_by_label("New password", exact=True).fill("a brand new secret")
    page.get_by_label("Repeat new password").fill("a brand new secret")
    page.get_by_role("button", name="Set password and log in").click()
    expect(page.locator("#flashes")).to_contain_text("Your password has been changed")

    other = new_page()
    log_in_page = other
    log_in_page.goto("/login")
    log_in_page.get_by_label("Email").fill("dana@example.com")
    log_in_page.get_by_label("Password").fill("a brand new secret")
    log_in_page.get_by_role("button", name="Log in").click()
    expect(log_in_page.get_by_role("button", name="Log out")).to_be_visible()
