"""The dashboard in a real Chromium: clicks, swaps, the clipboard, live usage, JavaScript off.

These run in the SQLite pass only: they check what the browser does with the
pages and fragments; the database behaviour behind them is covered on both
backends by ``tests/test_dashboard.py``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from invites import invitations
from invites.extensions import db
from invites.models import Invitation

from ..conftest import age_audit_trail
from ..test_dashboard import accept_as, invitation_count, load, move_expiry, new_invitation
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


@pytest.fixture
def acme(make):
    """Acme and its owner, boss@example.com."""
    return make.company("Acme", owner_email="boss@example.com")


def card_of(page, invitation_id: int):
    return page.locator(f"#invitation-{invitation_id}")


def mark_page(page) -> None:
    """Leave a marker that only a full page load would wipe out."""
    page.evaluate("window.__sameDocument = true")


def assert_paused_look(card, paused: bool = True) -> None:
    """Seed 003's "reduced opacity": the card's surface fades, its text keeps full contrast."""
    expect(card).to_have_css("opacity", "1")
    if paused:
        expect(card).to_have_class(re.compile(r"\bis-paused\b"))
        expect(card).to_have_css("border-style", "dashed")
    else:
        expect(card).not_to_have_class(re.compile(r"\bis-paused\b"))
        expect(card).not_to_have_css("border-style", "dashed")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def newest_invitation(app) -> Invitation:
    with app.app_context():
        invitation = db.session.query(Invitation).order_by(Invitation.id.desc()).first()
        db.session.expunge(invitation)
        return invitation


# --- with JavaScript ----------------------------------------------------------------


def test_create_with_max_uses_5_shows_a_new_card_on_top_and_resets_the_form(new_page, app, acme):
    company, owner = acme
    older = new_invitation(app, company, owner)
    page = new_page()
    log_in(page, "boss@example.com")
    mark_page(page)

    page.get_by_label("Email Address (Optional)").fill("team@company.com")
    page.get_by_label("Maximum Uses").fill("5")
    page.get_by_role("button", name="Create Invitation").click()

    cards = page.locator("#invitation-list > article")
    expect(cards).to_have_count(2)
    expect(cards.first).to_contain_text("0/5 uses")
    expect(cards.first).to_contain_text("team@company.com")
    expect(cards.first).to_contain_text("PENDING")
    expect(cards.nth(1)).to_have_id(f"invitation-{older.id}")
    expect(page.get_by_label("Maximum Uses")).to_have_value("1")
    expect(page.get_by_label("Email Address (Optional)")).to_have_value("")
    expect(page.locator("#announcer")).to_contain_text("created.")
    assert_not_reloaded(page)
    assert invitation_count(app) == 2
    assert newest_invitation(app).max_uses == 5


@pytest.mark.parametrize("max_uses", ["101", "0"])
def test_max_uses_out_of_range_shows_the_error_and_stores_nothing(new_page, app, acme, max_uses):
    page = new_page()
    log_in(page, "boss@example.com")
    mark_page(page)
    page.get_by_label("Maximum Uses").fill(max_uses)
    page.get_by_role("button", name="Create Invitation").click()

    error = page.locator("#max_uses-error")
    expect(error).to_have_text(invitations.MAX_USES_ERROR)
    expect(page.get_by_label("Maximum Uses")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Maximum Uses")).to_have_value(max_uses)
    expect(page.locator("#invitation-list > article")).to_have_count(0)
    assert_not_reloaded(page)
    assert invitation_count(app) == 0


class LiveUsage:
    """The dashboard's live-usage polls, under the test's control.

    While ``held``, each poll is answered 204 ("nothing new", as the server answers
    most of them) without reaching the server; ``let_through`` lets the next poll
    reach the server and waits until its answer has swapped the card ``card_id``.
    Without this, a poll lands whenever its 3 s timer and the machine's load say:
    it re-sends every card changed past the page's cursor, and one that landed in
    htmx's settle delay after a card's own swap once detached that card before its
    ``htmx:afterSettle`` (see app.js: focus is now restored on ``htmx:afterSwap``).
    """

    def __init__(self, page):
        self.page = page
        self.held = True
        page.route(re.compile(r"/dashboard/company/changes\?"), self._answer)

    def _answer(self, route) -> None:
        if self.held:
            route.fulfill(status=204)
        else:
            route.continue_()

    def let_through(self, card_id: str) -> None:
        """Let polls reach the server until one has swapped in a new ``card_id`` (a new element)."""
        card = self.page.locator(f"#{card_id}")
        card.evaluate("element => { element.__beforePoll = true }")
        self.held = False
        # The locator finds the card by id afresh each time: the poll's card is a new element.
        expect(card).not_to_have_js_property("__beforePoll", True, timeout=15_000)
        self.held = True


def test_pause_and_start_swap_only_the_card(new_page, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=5)
    neighbour = new_invitation(app, company, owner, max_uses=2)
    # Live usage re-sends every card changed past the page's cursor with each poll, and
    # the cards of the last 10 s (audit.RECENT): the neighbour's creation is old news here,
    # and the test decides when a poll lands.
    age_audit_trail(app)
    page = new_page()
    live_usage = LiveUsage(page)
    log_in(page, "boss@example.com")
    mark_page(page)
    card = card_of(page, invitation.id)
    card_of(page, neighbour.id).evaluate("element => { element.__untouched = true }")
    name = invitation.code[:12] + "…"

    # Pause from the keyboard: focus the button and press Enter.
    page.get_by_role("button", name=f"Pause invitation {name}").focus()
    page.keyboard.press("Enter")

    expect(card.locator(".badge-paused")).to_have_text("PAUSED")
    assert_paused_look(card)
    start = card.get_by_role("button", name=f"Start invitation {name}")
    expect(start).to_be_visible()
    expect(start).to_be_focused()  # the swap keeps the keyboard where it was
    expect(page.locator("#announcer")).to_contain_text("paused.")
    assert card_of(page, neighbour.id).evaluate("element => element.__untouched === true")
    assert_not_reloaded(page)
    assert load(app, invitation.id).is_active is False

    # Live usage then re-sends the paused card: the same card, the keyboard still on Start,
    # the neighbour untouched.
    live_usage.let_through(f"invitation-{invitation.id}")
    expect(card.locator(".badge-paused")).to_have_text("PAUSED")
    expect(start).to_be_focused()
    assert card_of(page, neighbour.id).evaluate("element => element.__untouched === true")
    assert_not_reloaded(page)

    # While the request is in flight: a spinner, and the button disabled against double clicks.
    held = []
    page.route("**/active", lambda route: held.append(route))
    start.click()
    expect(start).to_be_disabled()
    expect(start.locator(".spinner")).to_be_visible()
    held[0].continue_()
    expect(card.locator(".badge-paused")).to_have_count(0)
    assert_paused_look(card, paused=False)
    pause = card.get_by_role("button", name=f"Pause invitation {name}")
    expect(pause).to_be_visible()
    expect(card).to_contain_text("PENDING")
    assert card_of(page, neighbour.id).evaluate("element => element.__untouched === true")
    assert_not_reloaded(page)
    assert load(app, invitation.id).is_active is True

    # And after the next poll, which brings the started card again, nothing else has moved.
    live_usage.let_through(f"invitation-{invitation.id}")
    expect(card.locator(".badge-paused")).to_have_count(0)
    expect(pause).to_be_visible()
    assert card_of(page, neighbour.id).evaluate("element => element.__untouched === true")
    assert_not_reloaded(page)


def test_copy_link_puts_the_link_on_the_clipboard(new_page, app, acme, live_server):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    log_in(page, "boss@example.com")
    button = page.get_by_role("button", name=f"Copy link of invitation {invitation.code[:12]}…")

    button.click()

    expect(button).to_have_text("Copied ✓")
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server}/invite/{invitation.code}"
    expect(page.locator("#announcer")).to_have_text("Link copied.")
    expect(button).to_have_text("Copy Link", timeout=4000)  # back after about 2 s
    expect(card_of(page, invitation.id).locator(".link-field")).to_be_hidden()


def test_copy_link_without_a_clipboard_shows_the_link_selected(new_page, app, acme, live_server):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    page = new_page()
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    log_in(page, "boss@example.com")
    field = card_of(page, invitation.id).locator(".link-field")
    expect(field).to_be_hidden()

    page.get_by_role("button", name=f"Copy link of invitation {invitation.code[:12]}…").click()

    expect(field).to_be_visible()
    expect(field).to_be_focused()
    expect(field).to_have_value(f"{live_server}/invite/{invitation.code}")
    selected = field.evaluate("f => f.value.substring(f.selectionStart, f.selectionEnd)")
    assert selected == f"{live_server}/invite/{invitation.code}"


def test_revoke_asks_first_then_shows_revoked_without_actions(new_page, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=3)
    page = new_page()
    log_in(page, "boss@example.com")
    mark_page(page)
    card = card_of(page, invitation.id)
    revoke = card.get_by_role("button", name=f"Revoke invitation {invitation.code[:12]}…")
    dialogs = []

    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    revoke.click()
    expect(card).to_contain_text("PENDING")
    assert load(app, invitation.id).revoked_at is None

    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    revoke.click()
    expect(card.locator(".badge-revoked")).to_have_text("REVOKED")
    expect(card.get_by_role("button")).to_have_count(0)
    assert all("Nobody will be able to join with it any more." in m for m in dialogs) and len(dialogs) == 2
    assert_not_reloaded(page)
    assert load(app, invitation.id).revoked_at is not None


def test_a_refused_change_shows_the_card_as_it_is_and_why(new_page, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    page = new_page()
    log_in(page, "boss@example.com")
    card = card_of(page, invitation.id)
    with app.app_context():  # revoked in another tab meanwhile
        invitations.revoke(db.session.get(Invitation, invitation.id), owner)

    card.get_by_role("button", name=re.compile("^Pause invitation")).click()

    expect(card.locator(".card-message")).to_have_text("This invitation has been revoked")
    expect(card.locator(".badge-revoked")).to_have_text("REVOKED")
    expect(page.locator(".flash-error")).to_have_count(0)
    assert load(app, invitation.id).is_active is True


def test_a_card_action_after_the_session_ended_goes_to_log_in_and_back(new_page, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    page = new_page()
    log_in(page, "boss@example.com")
    card = card_of(page, invitation.id)
    page.context.clear_cookies()  # the session ends (logged out in another tab, expired)

    card.get_by_role("button", name=re.compile("^Pause invitation")).click()

    page.wait_for_url(re.compile(r"/login\?next=(/|%2F)dashboard(/|%2F)company$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert load(app, invitation.id).is_active is True
    page.fill("#email", "boss@example.com")
    page.fill("#password", "correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/dashboard/company$"))
    expect(card_of(page, invitation.id)).to_be_visible()


def test_an_acceptance_elsewhere_shows_on_the_open_dashboard(new_page, app, make, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=3)
    page = new_page()
    log_in(page, "boss@example.com")
    mark_page(page)
    card = card_of(page, invitation.id)
    expect(card).to_contain_text("0/3 uses")

    accept_as(app, make, invitation.code, "ann@example.com")

    expect(card).to_contain_text("1/3 uses", timeout=5000)
    expect(page.locator("#announcer")).to_contain_text("now has 1/3 uses")
    assert_not_reloaded(page)
    # Who used it: loaded when opened.
    card.get_by_text("Who used it (1)").click()
    expect(card.locator(".redemptions-body")).to_contain_text("ann@example.com")


def test_activity_opens_inside_the_card(new_page, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=2)
    page = new_page()
    log_in(page, "boss@example.com")
    mark_page(page)
    card = card_of(page, invitation.id)
    card.get_by_role("button", name=re.compile("^Pause invitation")).click()
    expect(card.locator(".badge-paused")).to_have_text("PAUSED")
    card.get_by_text("Activity", exact=True).click()
    body = card.locator(".invitation-activity-body")
    expect(body.locator("li")).to_have_count(2)
    expect(body.locator("li").first).to_contain_text("Acme Owner paused an invitation")
    expect(body.locator("li").last).to_contain_text("created an invitation (max uses 2, expires in 7 days)")
    assert_not_reloaded(page)


def test_an_open_who_used_it_stays_open_and_fresh_when_live_usage_swaps_the_card(new_page, app, make, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=3)
    accept_as(app, make, invitation.code, "ann@example.com")
    page = new_page()
    log_in(page, "boss@example.com")
    card = card_of(page, invitation.id)
    card.get_by_text("Who used it (1)").click()
    expect(card.locator(".redemptions-body")).to_contain_text("ann@example.com")

    accept_as(app, make, invitation.code, "bob@example.com")

    expect(card).to_contain_text("2/3 uses", timeout=5000)
    expect(card.locator("details.redemptions")).to_have_attribute("open", "")
    expect(card.locator(".redemptions-body")).to_contain_text("bob@example.com")


def test_seed_003_use_cases_from_the_dashboard(new_page, app, make, acme):
    """Team onboarding, event registration, temporary access, department access."""
    page = new_page()
    log_in(page, "boss@example.com")
    mark_page(page)

    def create(max_uses: str, days: str = "7", email: str = "") -> Invitation:
        before = invitation_count(app)
        page.get_by_label("Email Address (Optional)").fill(email)
        page.get_by_label("Maximum Uses").fill(max_uses)
        page.get_by_label("Expires In (Days)").fill(days)
        page.get_by_role("button", name="Create Invitation").click()
        expect(page.locator("#invitation-list > article")).to_have_count(before + 1)
        invitation = newest_invitation(app)
        expect(card_of(page, invitation.id)).to_contain_text(f"0/{max_uses} uses")
        return invitation

    def press(invitation, verb: str, then: str) -> None:
        card_of(page, invitation.id).get_by_role("button", name=re.compile(f"^{verb} invitation")).click()
        expect(
            card_of(page, invitation.id).get_by_role("button", name=re.compile(f"^{then} invitation"))
        ).to_be_visible()

    # 1. Team onboarding: 10 places, "7/10 uses" while people join.
    team = create("10")
    for _ in range(7):
        accept_as(app, make, team.code)
    expect(card_of(page, team.id)).to_contain_text("7/10 uses", timeout=5000)

    # 2. Event registration: 50 places, paused when the event is full early.
    event = create("50")
    press(event, "Pause", then="Start")
    expect(card_of(page, event.id).locator(".badge-paused")).to_be_visible()

    # 3. Temporary access: one person, one day, paused at once, then expired.
    temporary = create("1", days="1")
    press(temporary, "Pause", then="Start")
    move_expiry(app, temporary.id, datetime(2025, 1, 27, tzinfo=timezone.utc))

    # 4. Department access: 20 places for sales@company.com, paused for the holidays, resumed.
    sales = create("20", email="sales@company.com")
    expect(card_of(page, sales.id)).to_contain_text("sales@company.com")
    press(sales, "Pause", then="Start")
    press(sales, "Start", then="Pause")
    assert_not_reloaded(page)

    page.reload()
    expect(card_of(page, temporary.id)).to_contain_text("EXPIRED")
    expect(card_of(page, temporary.id).get_by_role("button")).to_have_count(1)  # Revoke only
    page.get_by_role("link", name="Paused").click()
    expect(page.locator("#invitation-list > article")).to_have_count(1)
    expect(card_of(page, event.id)).to_be_visible()


# --- without JavaScript ---------------------------------------------------------------


def test_create_and_pause_without_javascript(new_page, app, acme):
    page = new_page(java_script_enabled=False)
    log_in(page, "boss@example.com")

    page.get_by_label("Maximum Uses").fill("101")
    page.get_by_role("button", name="Create Invitation").click()
    expect(page.locator("#max_uses-error")).to_have_text(invitations.MAX_USES_ERROR)
    assert invitation_count(app) == 0

    page.get_by_label("Maximum Uses").fill("5")
    page.get_by_role("button", name="Create Invitation").click()
    page.wait_for_url("**/dashboard/company")
    expect(page.locator(".flash-success")).to_contain_text("created.")
    invitation = newest_invitation(app)
    card = card_of(page, invitation.id)
    expect(card).to_contain_text("0/5 uses")
    expect(page.get_by_label("Maximum Uses")).to_have_value("1")
    # No Copy Link button that could not work; the link is there to copy by hand.
    expect(card.locator(".copy-link")).to_be_hidden()
    expect(card.locator(".link-field")).to_be_visible()

    card.get_by_role("button", name=re.compile("^Pause invitation")).click()
    expect(page.locator(".flash-success")).to_contain_text("paused.")
    expect(card.locator(".badge-paused")).to_have_text("PAUSED")
    assert_paused_look(card)
    card.get_by_role("button", name=re.compile("^Start invitation")).click()
    expect(page.locator(".flash-success")).to_contain_text("started.")
    expect(card.locator(".badge-paused")).to_have_count(0)
    assert load(app, invitation.id).is_active is True


def test_filters_and_revoke_without_javascript(new_page, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    page = new_page(java_script_enabled=False)
    log_in(page, "boss@example.com")

    page.get_by_role("link", name="Active").click()
    page.wait_for_url("**/dashboard/company?filter=active")
    card_of(page, invitation.id).get_by_role("button", name=re.compile("^Revoke invitation")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revoke invitation")
    page.get_by_role("button", name=re.compile("^Revoke invitation")).click()
    page.wait_for_url("**/dashboard/company?filter=active")
    expect(page.locator(".flash-success")).to_contain_text("revoked.")
    expect(page.locator("#invitation-list > article")).to_have_count(0)
    page.get_by_role("link", name="Revoked").click()
    expect(card_of(page, invitation.id)).to_contain_text("REVOKED")
    assert load(app, invitation.id).revoked_at is not None


def test_activity_without_javascript_is_a_link_to_its_page(new_page, app, acme):
    company, owner = acme
    invitation = new_invitation(app, company, owner)
    page = new_page(java_script_enabled=False)
    log_in(page, "boss@example.com")
    card = card_of(page, invitation.id)
    card.get_by_text("Activity", exact=True).click()
    card.get_by_role("link", name=re.compile("^See the activity of invitation")).click()
    page.wait_for_url(f"**/dashboard/company/invitations/{invitation.id}/activity")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Activity of invitation")
    expect(page.locator("ol.events li")).to_contain_text("Acme Owner created an invitation")


def test_a_slow_pause_keeps_the_focus_and_live_usage_never_overwrites_the_card_meanwhile(new_page, app, make, acme):
    """Item 7 of issue 14: the answer takes longer than a live-usage poll (every 3 s)."""
    company, owner = acme
    invitation = new_invitation(app, company, owner, max_uses=3)
    page = new_page()
    log_in(page, "boss@example.com")
    card = card_of(page, invitation.id)
    name = invitation.code[:12] + "…"
    held = []
    page.route("**/active", lambda route: held.append(route))

    page.get_by_role("button", name=f"Pause invitation {name}").focus()
    page.keyboard.press("Enter")
    expect(card.get_by_role("button", name=f"Pause invitation {name}")).to_be_disabled()
    # Meanwhile someone joins: the next poll brings the card as it was before the pause.
    accept_as(app, make, invitation.code, "ann@example.com")
    with page.expect_response(lambda r: "/dashboard/company/changes" in r.url and r.status == 200, timeout=8000):
        pass
    page.wait_for_timeout(300)
    expect(card.locator(".badge-uses")).to_have_text("0/3 uses")  # the poll left the busy card alone
    expect(card.get_by_role("button", name=f"Pause invitation {name}")).to_be_disabled()
    assert len(held) == 1

    held[0].continue_()
    start = card.get_by_role("button", name=f"Start invitation {name}")
    expect(start).to_be_visible()
    expect(start).to_be_focused()
    expect(card.locator(".badge-paused")).to_have_text("PAUSED")
    expect(card.locator(".badge-uses")).to_have_text("1/3 uses")
    # Start it again from the keyboard; once that has landed, live usage updates the card again.
    page.unroute("**/active")
    page.keyboard.press("Enter")
    pause = card.get_by_role("button", name=f"Pause invitation {name}")
    expect(pause).to_be_focused()
    accept_as(app, make, invitation.code, "bob@example.com")
    expect(card.locator(".badge-uses")).to_have_text("2/3 uses", timeout=8000)
