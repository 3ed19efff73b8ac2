"""Issue 13 in a real Chromium: the list's search with and without JavaScript, and the
create form's role, domain and label ending on the card.

The rules behind them are covered on both databases by ``tests/test_invitation_controls.py``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from invites import invitations
from invites.extensions import db
from invites.models import Invitation, Role

from ..factories import create_invitation
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


@pytest.fixture
def acme(make):
    """Acme and its owner, boss@example.com."""
    return make.company("Acme", owner_email="boss@example.com")


@pytest.fixture
def labelled(app, acme):
    company, owner = acme
    return {
        label: create_invitation(app, company, owner, label=label).id
        for label in ("Sales team", "Support desk", "Sales 100% done")
    }


def shown_ids(page) -> set[int]:
    ids = page.locator("#invitation-list > article").evaluate_all("cards => cards.map(c => c.id)")
    return {int(i.removeprefix("invitation-")) for i in ids}


def test_typing_in_the_search_box_swaps_only_the_list_and_updates_the_address(new_page, app, labelled):
    page = new_page()
    log_in(page, "boss@example.com")
    expect(page.locator("#invitation-list > article")).to_have_count(3)
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Maximum Uses").fill("7")  # the create form must not be replaced

    page.get_by_role("searchbox", name="Search invitations").press_sequentially("sales")
    expect(page.locator("#invitation-list > article")).to_have_count(2)
    assert shown_ids(page) == {labelled["Sales team"], labelled["Sales 100% done"]}
    expect(page).to_have_url(re.compile(r"/dashboard/company\?q=sales$"))
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    expect(page.get_by_label("Maximum Uses")).to_have_value("7")

    page.get_by_role("searchbox", name="Search invitations").fill("100%")
    expect(page.locator("#invitation-list > article")).to_have_count(1)
    assert shown_ids(page) == {labelled["Sales 100% done"]}

    page.get_by_role("searchbox", name="Search invitations").fill("nothing like it")
    expect(page.locator("#invitation-list > article")).to_have_count(0)
    expect(page.locator(".empty-state")).to_have_text("No invitations match “nothing like it”.")


def test_the_search_works_without_javascript(new_page, app, labelled):
    page = new_page(java_script_enabled=False)
    log_in(page, "boss@example.com")
    page.get_by_role("searchbox", name="Search invitations").fill("support")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/dashboard/company\?q=support$"))
    assert shown_ids(page) == {labelled["Support desk"]}
    expect(page.get_by_role("searchbox", name="Search invitations")).to_have_value("support")


def test_an_owner_creates_an_admin_invitation_for_a_domain_with_a_label(new_page, app, acme):
    page = new_page()
    log_in(page, "boss@example.com")
    page.get_by_label("Joins as").select_option("ADMIN")
    page.get_by_label("Allowed Email Domain").fill("Acme.com")
    page.get_by_label("Label (Optional)").fill("Acme staff")
    page.get_by_role("button", name="Create Invitation").click()
    expect(page.locator(".create-done")).to_be_visible()
    with app.app_context():
        invitation = db.session.query(Invitation).one()
    card = page.locator(f"#invitation-{invitation.id}")
    expect(card.locator(".badge-admin")).to_have_text("ADMIN")
    expect(card).to_contain_text("Acme staff")
    expect(card).to_contain_text("For @acme.com addresses")
    assert (invitation.role, invitation.allowed_domain, invitation.label) == ("ADMIN", "acme.com", "Acme staff")


def test_an_admin_asking_for_admins_gets_the_error_next_to_the_role(new_page, app, make, acme):
    company, _ = acme
    make.user("admin@example.com", company=company, role=Role.ADMIN)
    page = new_page()
    log_in(page, "admin@example.com")
    page.get_by_label("Joins as").select_option("ADMIN")
    page.get_by_role("button", name="Create Invitation").click()
    expect(page.locator("#role-error")).to_have_text(invitations.ADMIN_ROLE_ERROR)
    with app.app_context():
        assert db.session.query(Invitation).count() == 0
