"""The members page in a real Chromium: removing someone asks first, with and without JavaScript."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from invites.extensions import db
from invites.models import Membership, Role

from ..conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


@pytest.fixture
def acme(make):
    """Acme, its owner boss@example.com, and Mia Moss, a member."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    mia = make.user("mia@example.com", company=company, role=Role.MEMBER, name="Mia Moss")
    return company, owner, mia


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def is_member(app, user) -> bool:
    with app.app_context():
        return (
            db.session.scalar(sa.select(sa.func.count()).select_from(Membership).where(Membership.user_id == user.id))
            == 1
        )


def test_remove_with_javascript_asks_in_a_dialog_naming_the_person(new_page, app, acme):
    company, owner, mia = acme
    page = new_page()
    sign_in(page, "boss@example.com")
    page.goto("/company/members")
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Remove Mia Moss").click()
    expect(page.locator("#member-" + str(membership_id(app, mia)))).to_be_visible()
    assert dialogs == ["Remove Mia Moss from Acme? They will lose access to the company."]
    assert is_member(app, mia)  # "Cancel" changed nothing

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Remove Mia Moss").click()
    expect(page.locator(".flash-success")).to_have_text("Mia Moss was removed.")
    expect(page.get_by_text("Mia Moss", exact=True)).to_have_count(0)
    assert len(dialogs) == 2
    assert page.url.endswith("/company/members")  # no confirmation page in between
    assert not is_member(app, mia)


def test_remove_without_javascript_asks_on_a_page_naming_the_person(new_page, app, acme):
    company, owner, mia = acme
    page = new_page(java_script_enabled=False)
    sign_in(page, "boss@example.com")
    page.goto("/company/members")

    page.get_by_role("button", name="Remove Mia Moss").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Remove Mia Moss from Acme?")
    assert is_member(app, mia)
    page.get_by_role("button", name="Keep Mia Moss").click()
    page.wait_for_url("**/company/members")
    assert is_member(app, mia)

    page.get_by_role("button", name="Remove Mia Moss").click()
    page.get_by_role("button", name="Remove Mia Moss").click()
    page.wait_for_url("**/company/members")
    expect(page.locator(".flash-success")).to_have_text("Mia Moss was removed.")
    assert not is_member(app, mia)


def membership_id(app, user) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Membership.id).where(Membership.user_id == user.id))


PHONE = {"width": 390, "height": 844}


def assert_no_sideways_scrolling(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths[0]} px wide in {widths[1]} px"


def assert_within_the_screen(locator) -> None:
    """Each element lies within the screen's width, with nothing scrolled sideways to reach it."""
    assert locator.count() > 0
    for index in range(locator.count()):
        left, right, html = locator.nth(index).evaluate(
            "e => { const r = e.getBoundingClientRect(); return [r.left, r.right, e.outerHTML.slice(0, 120)]; }"
        )
        assert 0 <= left and right <= PHONE["width"], f"{html} sticks out: {left}..{right}"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_at_phone_width_every_member_is_reachable_without_sideways_scrolling(new_page, app, make, acme, javascript):
    from ..invitation_helpers import new_invitation

    company, owner, mia = acme
    make.user(
        "maximilian.alexander.longname@subdivision.example.com",
        company=company,
        role=Role.ADMIN,
        name="Maximilian Alexander Extraordinarily-Longname",
    )
    for filler in range(3):
        new_invitation(app, company, owner, email=f"someone{filler}@example.com")
    page = new_page(viewport=PHONE, java_script_enabled=javascript)
    sign_in(page, "boss@example.com")

    page.goto("/company/members")
    assert_no_sideways_scrolling(page)
    rows = page.locator(".member")
    expect(rows).to_have_count(3)
    for part in (".member-name", ".member-role .badge", ".member-actions select", ".member-actions button"):
        assert_within_the_screen(rows.locator(part))
    expect(rows.locator(".member-actions button")).to_have_count(6)

    page.goto("/company/activity")
    assert_no_sideways_scrolling(page)
    assert_within_the_screen(page.locator(".events li"))

    page.goto("/dashboard/company")
    assert_no_sideways_scrolling(page)
    assert_within_the_screen(page.locator(".filters a"))
    assert_within_the_screen(page.locator(".invitation-card button:visible"))
