"""No dead ends, in a real Chromium: someone in no company finds a way in, with and without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..invitation_helpers import new_invitation
from .test_members_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_pasting_a_link_on_the_empty_dashboard_opens_the_invite_page(new_page, app, make, live_server, javascript):
    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner)
    make.user("nora@example.com")
    page = new_page(java_script_enabled=javascript)
    sign_in(page, "nora@example.com")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are not in a company yet")

    page.get_by_label("Invitation link or code").fill("nonsense here")
    page.get_by_role("button", name="Open").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.get_by_label("Invitation link or code")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Invitation link or code").fill(f"{live_server}/invite/{code}")
    page.get_by_role("button", name="Open").click()
    page.wait_for_url(f"**/invite/{code}")
    expect(page.get_by_role("button", name="Join Acme")).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_creating_a_company_from_the_empty_dashboard(new_page, make, javascript):
    make.user("nora@example.com")
    page = new_page(java_script_enabled=javascript)
    sign_in(page, "nora@example.com")
    page.get_by_label("Company name").fill("Nora's Bakery")
    page.get_by_role("button", name="Create company").click()
    page.wait_for_url("**/dashboard/company")
    expect(page.get_by_role("heading", level=1)).to_have_text("Invitations of Nora's Bakery")
    expect(page.locator(".flash-success")).to_contain_text("You created Nora's Bakery.")


def test_the_unknown_code_page_leads_on(new_page, app, make):
    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner)
    page = new_page()
    page.goto("/invite/mistyped-code")
    page.get_by_label("Invitation link or code").fill(code)
    page.get_by_role("button", name="Open").click()
    page.wait_for_url(f"**/invite/{code}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Join Acme")
