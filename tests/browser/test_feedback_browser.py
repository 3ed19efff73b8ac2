"""Feedback where people expect it: after a create, and when signing up from an invite page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from invites.extensions import db
from invites.models import Invitation

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


def newest_invitation(app) -> Invitation:
    with app.app_context():
        invitation = db.session.query(Invitation).order_by(Invitation.id.desc()).first()
        db.session.expunge(invitation)
        return invitation


def test_create_with_javascript_confirms_next_to_the_form_and_highlights_the_new_card(new_page, app, make):
    make.company("Acme", owner_email="boss@example.com")
    # A phone: the new card starts below the fold, under the form.
    page = new_page(viewport={"width": 390, "height": 844})
    log_in(page, "boss@example.com")
    page.get_by_label("Maximum Uses").fill("5")
    page.get_by_role("button", name="Create Invitation").click()

    done = page.locator(".create-done")
    expect(done).to_be_visible()
    invitation = newest_invitation(app)
    short = invitation.code[:12] + "…"
    expect(done).to_contain_text(f"Invitation {short} created.")
    link = done.get_by_role("textbox", name="Link of the new invitation")
    expect(link).to_be_visible()
    expect(link).to_have_value(re.compile(rf"/invite/{re.escape(invitation.code)}$"))
    expect(done.get_by_role("button", name="Copy Link of the new invitation")).to_be_visible()

    card = page.locator(f"#invitation-{invitation.id}")
    expect(card).to_have_class(re.compile(r"\bis-new\b"))
    expect(card).to_be_in_viewport()
    expect(card).not_to_have_class(re.compile(r"\bis-new\b"), timeout=6000)  # only briefly
    # The highlight is a class: no inline style anywhere.
    assert page.locator("[style]").count() == 0

    # A second create replaces the confirmation rather than stacking another.
    with page.expect_response("**/dashboard/company/invitations"):
        page.get_by_role("button", name="Create Invitation").click()
    expect(done).to_have_count(1)
    expect(done).to_contain_text(f"Invitation {newest_invitation(app).code[:12]}… created.")


def used_count(app, code: str) -> int:
    with app.app_context():
        return db.session.query(Invitation.used_count).filter(Invitation.code == code).scalar()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_signing_up_from_an_invite_page_comes_back_with_join_focused(new_page, app, make, javascript):
    from ..invitation_helpers import new_invitation

    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner, max_uses=3)
    page = new_page(java_script_enabled=javascript)
    page.goto(f"/invite/{code}")
    page.get_by_role("button", name="Create an account to accept").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account to join Acme")
    page.get_by_label("Your name").fill("Nina New")
    page.get_by_label("Email").fill("nina@example.com")
    page.get_by_label("Password", exact=True).fill("long enough password")
    page.get_by_label("Repeat password").fill("long enough password")
    page.get_by_role("button", name="Create account").click()

    page.wait_for_url(f"**/invite/{code}")
    join = page.get_by_role("button", name="Join Acme")
    expect(join).to_be_focused()
    assert used_count(app, code) == 0  # landing on the page used nothing up: joining is a POST
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard")
    expect(page.locator(".flash-success")).to_contain_text("You joined Acme")
    assert used_count(app, code) == 1


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_logging_in_from_an_invite_page_comes_back_with_join_focused(new_page, app, make, javascript):
    from ..conftest import PASSWORD
    from ..invitation_helpers import new_invitation

    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner)
    make.user("nina@example.com")
    page = new_page(java_script_enabled=javascript)
    page.goto(f"/invite/{code}")
    page.get_by_role("button", name="Log in to accept").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to join Acme")
    page.get_by_label("Email").fill("nina@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.wait_for_url(f"**/invite/{code}")
    expect(page.get_by_role("button", name="Join Acme")).to_be_focused()
    assert used_count(app, code) == 0
