"""Click-to-edit and pause all in a real Chromium, with JavaScript (htmx swaps) and without.

The rules behind them are tested on both databases in ``tests/test_invitation_edit.py``,
``tests/test_dashboard_edit.py`` and ``tests/test_pause_all.py``; here, what the browser does.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from invites import invitations
from invites.extensions import db
from invites.models import Company, Invitation, Role

from ..test_dashboard import new_invitation
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]

BANNER = "All invitations are paused: nobody can join until you resume them."


@pytest.fixture
def acme(make):
    return make.company("Acme", owner_email="boss@example.com")


def stored(app, invitation_id: int) -> Invitation:
    with app.app_context():
        inv = db.session.get(Invitation, invitation_id)
        db.session.expunge(inv)
        return inv


def set_columns(app, invitation_id: int, **values) -> None:
    with app.app_context():
        db.session.execute(sa.update(Invitation).where(Invitation.id == invitation_id).values(**values))
        db.session.commit()


def mark_page(page) -> None:
    page.evaluate("window.__sameDocument = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def test_edit_opens_in_place_saves_into_the_card_and_cancel_brings_it_back(new_page, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner, max_uses=3)
    page = new_page()
    log_in(page, "boss@example.com")
    mark_page(page)

    page.locator(f"#invitation-{inv.id}-edit-button").click()
    form = page.locator(f"#invitation-{inv.id}-edit")
    expect(form).to_be_visible()
    expect(page.locator(f"article#invitation-{inv.id}")).to_have_count(0)
    expect(page.locator(f"#invitation-{inv.id}-max-uses")).to_have_value("3")

    # Cancel: the card as it was.
    page.locator(f"#invitation-{inv.id}-cancel").click()
    expect(page.locator(f"article#invitation-{inv.id}")).to_contain_text("0/3 uses")
    expect(form).to_have_count(0)

    # Invalid: the form stays, with the error next to the field.
    page.locator(f"#invitation-{inv.id}-edit-button").click()
    page.locator(f"#invitation-{inv.id}-max-uses").fill("101")
    page.locator(f"#invitation-{inv.id}-save").click()
    expect(page.locator(f"#invitation-{inv.id}-max-uses-error")).to_contain_text("from 1 to 100")

    page.locator(f"#invitation-{inv.id}-max-uses").fill("8")
    page.locator(f"#invitation-{inv.id}-label").fill("Meetup")
    page.locator(f"#invitation-{inv.id}-save").click()

    card = page.locator(f"article#invitation-{inv.id}")
    expect(card).to_contain_text("0/8 uses")
    expect(page.locator("#announcer")).to_contain_text("updated")
    assert_not_reloaded(page)
    after = stored(app, inv.id)
    assert (after.max_uses, after.label, after.version) == (8, "Meetup", 2)


def test_a_stale_edit_form_shows_the_card_as_it_is_now(new_page, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner, max_uses=3)
    page = new_page()
    log_in(page, "boss@example.com")
    page.locator(f"#invitation-{inv.id}-edit-button").click()
    page.locator(f"#invitation-{inv.id}-max-uses").fill("9")
    # Someone else saves first.
    with app.app_context():
        db.session.query(Invitation).filter_by(id=inv.id).update({"max_uses": 5, "version": 2})
        db.session.commit()

    page.locator(f"#invitation-{inv.id}-save").click()

    card = page.locator(f"article#invitation-{inv.id}")
    expect(card).to_contain_text("0/5 uses")
    expect(card.locator(".card-message")).to_contain_text("changed by someone else")
    assert stored(app, inv.id).max_uses == 5


def test_pause_all_shows_the_banner_and_stopped_cards_without_a_reload(new_page, app, acme):
    company, owner = acme
    usable = new_invitation(app, company, owner, max_uses=3)
    page = new_page()
    log_in(page, "boss@example.com")
    mark_page(page)
    expect(page.get_by_text(BANNER)).to_have_count(0)
    expect(page.locator(f"#invitation-{usable.id} .badge-all-paused")).to_be_hidden()

    page.get_by_role("button", name="Pause all invitations").click()

    expect(page.get_by_text(BANNER)).to_be_visible()
    expect(page.locator(f"#invitation-{usable.id} .badge-all-paused")).to_be_visible()
    expect(page.get_by_role("button", name="Resume all invitations")).to_be_visible()
    assert_not_reloaded(page)
    with app.app_context():
        assert db.session.get(Company, company.id).invitations_paused_at is not None

    page.get_by_role("button", name="Resume all invitations").click()

    expect(page.get_by_text(BANNER)).to_have_count(0)
    expect(page.locator(f"#invitation-{usable.id} .badge-all-paused")).to_be_hidden()
    expect(page.get_by_role("button", name="Pause all invitations")).to_be_visible()
    assert_not_reloaded(page)
    with app.app_context():
        assert db.session.get(Company, company.id).invitations_paused_at is None


def test_without_javascript_edit_is_a_page_and_pause_all_a_form(new_page, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner, max_uses=3)
    page = new_page(java_script_enabled=False)
    log_in(page, "boss@example.com")

    page.locator(f"#invitation-{inv.id}-edit-button").click()
    page.wait_for_url(f"**/dashboard/company/invitations/{inv.id}/edit**")
    expect(page.get_by_role("heading", name="Edit invitation")).to_be_visible()
    page.locator(f"#invitation-{inv.id}-max-uses").fill("4")
    page.locator(f"#invitation-{inv.id}-save").click()
    page.wait_for_url("**/dashboard/company")
    expect(page.locator(f"article#invitation-{inv.id}")).to_contain_text("0/4 uses")
    expect(page.locator("#flashes")).to_contain_text("updated")

    page.get_by_role("button", name="Pause all invitations").click()
    page.wait_for_url("**/dashboard/company")
    expect(page.get_by_text(BANNER)).to_be_visible()
    expect(page.locator(f"#invitation-{inv.id} .badge-all-paused")).to_be_visible()
    page.get_by_role("button", name="Resume all invitations").click()
    expect(page.get_by_text(BANNER)).to_have_count(0)


def test_an_admins_stale_start_of_an_invitation_made_admin_meanwhile_shows_the_card_as_it_is(new_page, app, make):
    """The owner-only Start: the refused card is swapped in (409), not left stale behind a generic error."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("admin@example.com", company=company, role=Role.ADMIN)
    inv = new_invitation(app, company, owner)
    set_columns(app, inv.id, is_active=False)
    page = new_page()
    log_in(page, "admin@example.com")
    mark_page(page)
    card = page.locator(f"article#invitation-{inv.id}")
    start = page.locator(f"#invitation-{inv.id}-toggle")
    expect(start).to_have_text("Start")
    set_columns(app, inv.id, role="ADMIN")  # the owner made it an Admin invitation since

    start.click()

    expect(card.locator(".card-message")).to_have_text(invitations.START_ADMIN_ERROR)
    expect(start).to_have_count(0)
    expect(card).to_contain_text("ADMIN")
    assert_not_reloaded(page)
    assert stored(app, inv.id).is_active is False
