"""Form errors read as errors: a summary at the top that takes the focus, links to each field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from invites import invitations

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_create_with_errors_focuses_a_summary_whose_links_lead_to_the_fields(new_page, make, javascript):
    make.company("Acme", owner_email="boss@example.com")
    page = new_page(java_script_enabled=javascript)
    log_in(page, "boss@example.com")
    page.get_by_label("Email Address (Optional)").fill("ann@team.test")
    page.get_by_label("Maximum Uses").fill("101")
    page.get_by_role("button", name="Create Invitation").click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    expect(summary.get_by_role("link")).to_have_text([invitations.EMAIL_RESERVED_ERROR, invitations.MAX_USES_ERROR])
    uses = page.get_by_label("Maximum Uses")
    expect(uses).to_have_attribute("aria-invalid", "true")
    expect(uses).to_have_accessible_description(
        f"{invitations.MAX_USES_ERROR} How many people can use this code (Max: 100)"
    )
    # The help text keeps its neutral colour; the error is in the error colour.
    help_colour = page.locator("#max_uses-help").evaluate("e => getComputedStyle(e).color")
    error_colour = page.locator("#max_uses-error").evaluate("e => getComputedStyle(e).color")
    neutral = page.locator("#expires_in_days-help").evaluate("e => getComputedStyle(e).color")
    assert help_colour == neutral != error_colour

    summary.get_by_role("link", name=invitations.MAX_USES_ERROR).click()
    expect(uses).to_be_focused()
