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
