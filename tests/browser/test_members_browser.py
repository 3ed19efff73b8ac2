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
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(Membership).where(Membership.user_id == user.id)
        ) == 1


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
