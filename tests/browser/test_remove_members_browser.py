"""Remove everyone who joined through an invitation, in a real Chromium: the dialog that
names how many, the revoked card swapped in; the page's dialog; and JavaScript off.

The database behaviour behind it is covered on both backends by tests/test_remove_members.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from invites.masking import short_code
from invites.models import Role

from ..test_dashboard import accept_as, load, new_invitation
from ..test_remove_members import roles, set_role
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


@pytest.fixture
def joined(app, make):
    """Acme's invitation (3 uses) through which Mia and Max joined, and Ada, made Admin since."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    invitation = new_invitation(app, company, owner, max_uses=3)
    for email in ("mia@example.com", "max@example.com"):
        accept_as(app, make, invitation.code, email)
    ada = accept_as(app, make, invitation.code, "ada@example.com")
    set_role(app, company.id, ada.id, Role.ADMIN)
    return company, invitation


def test_the_card_asks_naming_how_many_then_shows_the_revoked_card_and_who_went(new_page, app, joined):
    company, invitation = joined
    page = new_page()
    log_in(page, "boss@example.com")
    page.evaluate("window.__sameDocument = true")
    card = page.locator(f"#invitation-{invitation.id}")
    card.get_by_text("Who used it (3)").click()
    remove = card.get_by_role("button", name=re.compile(r"^Remove everyone who joined through this invitation \(2\)"))
    dialogs = []

    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    remove.click()
    expect(card.locator(".badge-accepted")).to_have_text("ACCEPTED")
    assert set(roles(app, company.id)) == {"Acme Owner", "Mia", "Max", "Ada"}

    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    remove.click()
    expect(card.locator(".badge-revoked")).to_have_text("REVOKED")
    expect(page.locator("#flashes .flash-success")).to_contain_text(
        f"Removed 2 people who joined through invitation {short_code(invitation.code)}"
    )
    expect(page.locator("#flashes")).to_contain_text("Ada (was made Admin since)")
    assert (
        dialogs
        == [
            f"Remove 2 people who joined through invitation {short_code(invitation.code)} from Acme? "
            "They lose access at once, and the invitation is revoked."
        ]
        * 2
    )
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    assert roles(app, company.id) == {"Acme Owner": "OWNER", "Ada": "ADMIN"}
    assert load(app, invitation.id).revoked_at is not None


def test_on_its_own_page_a_dialog_asks_then_the_page_shows_who_left(new_page, app, joined):
    company, invitation = joined
    page = new_page()
    log_in(page, "boss@example.com")
    page.goto(f"/dashboard/company/invitations/{invitation.id}/redemptions")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("^Remove everyone")).click()
    page.wait_for_url(f"**/dashboard/company/invitations/{invitation.id}/redemptions")
    expect(page.locator(".flash-success")).to_contain_text("Removed 2 people")
    expect(page.locator(".badge-removed")).to_have_count(2)
    assert roles(app, company.id) == {"Acme Owner": "OWNER", "Ada": "ADMIN"}


def test_without_javascript_a_page_asks_naming_how_many(new_page, app, joined):
    company, invitation = joined
    page = new_page(java_script_enabled=False)
    log_in(page, "boss@example.com")
    page.locator(f"#invitation-{invitation.id}").get_by_text("Who used it (3)").click()
    page.get_by_role("link", name=f"See who used invitation {short_code(invitation.code)}").click()
    page.get_by_role("button", name=re.compile("^Remove everyone")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Remove 2 people who joined through invitation {short_code(invitation.code)}?"
    )
    expect(page.locator(".kept-list")).to_contain_text("Ada (ada@example.com) was made Admin since")
    assert set(roles(app, company.id)) == {"Acme Owner", "Mia", "Max", "Ada"}
    page.get_by_role("button", name=re.compile("^Remove 2 people")).click()
    page.wait_for_url(f"**/dashboard/company/invitations/{invitation.id}/redemptions")
    expect(page.locator(".flash-success")).to_contain_text("The invitation is revoked")
    expect(page.locator(".badge-removed")).to_have_count(2)
    assert roles(app, company.id) == {"Acme Owner": "OWNER", "Ada": "ADMIN"}
    assert load(app, invitation.id).revoked_at is not None
