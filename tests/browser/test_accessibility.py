"""axe-core on every page and state, at desktop (1280×800) and phone (390×844) width.

The light colour scheme at both widths, and the dark one (Pico follows the system's) at
desktop width.

axe-core is vendored for the tests only (``vendor/``) and injected by Playwright; the
app's Content-Security-Policy stays as it is: only the contexts of this test bypass
it (``bypass_csp``), so that the injected script may run. Any serious or critical
violation fails the test, with every page's findings listed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from invites.models import Role

from ..conftest import PASSWORD
from ..invitation_helpers import new_invitation
from ..test_dashboard import accept_as

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(" ") + " :: " + n.failureSummary.split("\\n").slice(1, 2).join(""))
  }));
}"""


def sign_in(page, email: str) -> None:
    """Log in through the real form (any role; lands wherever the app sends them)."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def violations(page) -> list[dict]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in FAILING_IMPACTS]


@pytest.fixture
def world(app, make):
    """Acme with an owner, an admin, a member, an invitation in every state, and outsiders."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("admin@example.com", company=company, role=Role.ADMIN, name="Ada Admin")
    make.user("member@example.com", company=company, role=Role.MEMBER, name="Mo Member")
    make.user("outsider@example.com", name="Olive Outsider")
    make.user("nobody@example.com", name="Nora Nobody")
    codes = {
        "active": new_invitation(app, company, owner, max_uses=5),
        "paused": new_invitation(app, company, owner, max_uses=3, paused=True),
        "full": new_invitation(app, company, owner, max_uses=1, full=True),
        "expired": new_invitation(app, company, owner, expired=True),
        "revoked": new_invitation(app, company, owner, revoked=True),
        "targeted": new_invitation(app, company, owner, email="someone@example.com"),
        "used": new_invitation(app, company, owner, max_uses=10),
    }
    accept_as(app, make, codes["used"], "joined@example.com")
    return codes


def pages_to_check(codes: dict) -> list[tuple[str, str | None, str]]:
    """(what, who is signed in, path) for every page and state."""
    invite = lambda name: f"/invite/{codes[name]}"  # noqa: E731
    return [
        ("home, signed out", None, "/"),
        ("login", None, "/login"),
        ("register", None, "/register"),
        ("register to join", None, f"/register?next={invite('active')}"),
        ("invite page, signed out", None, invite("active")),
        ("invite page, unknown code", None, "/invite/no-such-code-at-all"),
        ("invite page, paused", None, invite("paused")),
        ("invite page, fully used", None, invite("full")),
        ("invite page, expired", None, invite("expired")),
        ("invite page, revoked", None, invite("revoked")),
        ("error page 404", None, "/no/such/page"),
        ("open an invitation", None, "/invite"),
        ("open an invitation, not a link", None, "/invite?code=not+a+link%21"),
        ("dashboard, every card state", "boss@example.com", "/dashboard/company"),
        ("dashboard, paused filter", "boss@example.com", "/dashboard/company?filter=paused"),
        ("members, owner", "boss@example.com", "/company/members"),
        ("activity", "boss@example.com", "/company/activity"),
        ("invite page, already a member", "boss@example.com", invite("active")),
        ("members, admin", "admin@example.com", "/company/members"),
        ("dashboard home, member", "member@example.com", "/dashboard"),
        ("members, member", "member@example.com", "/company/members"),
        ("error page 403", "member@example.com", "/dashboard/company"),
        ("invite page, signed in", "outsider@example.com", invite("active")),
        ("invite page, wrong account", "outsider@example.com", invite("targeted")),
        ("dashboard home, no company", "nobody@example.com", "/dashboard"),
        ("create a company", "nobody@example.com", "/company/new"),
    ]


@pytest.mark.parametrize(
    "viewport, scheme",
    [("desktop", "light"), ("phone", "light"), ("desktop", "dark")],
    ids=["desktop", "phone", "desktop-dark"],
)
def test_axe_finds_no_serious_violation_on_any_page(new_page, world, viewport, scheme):
    found: list[str] = []
    pages: dict[str | None, object] = {}
    checked = 0
    for what, who, path in pages_to_check(world):
        page = pages.get(who)
        if page is None:
            page = pages[who] = new_page(viewport=VIEWPORTS[viewport], color_scheme=scheme, bypass_csp=True)
            if who:
                sign_in(page, who)
        page.goto(path)
        page.wait_for_load_state()
        checked += 1
        for v in violations(page):
            found.append(
                f"{what} ({path}): [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:6])
            )
    assert checked == len(pages_to_check(world))

    # Forms that came back with errors: the summary, the invalid fields, the help text.
    owner = pages["boss@example.com"]
    owner.goto("/dashboard/company")
    owner.get_by_label("Maximum Uses").fill("101")
    owner.get_by_label("Email Address (Optional)").fill("ann@team.test")
    owner.get_by_role("button", name="Create Invitation").click()
    owner.locator(".error-summary").wait_for()
    anonymous = pages[None]
    anonymous.goto("/register")
    anonymous.get_by_label("Email").fill("jo@acme.test")
    anonymous.get_by_role("button", name="Create account").click()
    anonymous.locator(".error-summary").wait_for()
    for what, page in (("create form with errors", owner), ("register with errors", anonymous)):
        for v in violations(page):
            found.append(f"{what}: [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:6]))
    # The confirmation pages that answer Revoke and Remove without JavaScript (a native
    # submit() posts the form as a browser without JavaScript would).
    for what, path, form in (
        ("revoke confirmation", "/dashboard/company", "form[action$='/revoke']"),
        ("remove confirmation", "/company/members", "form[action$='/remove']"),
    ):
        owner.goto(path)
        with owner.expect_navigation():
            owner.locator(form).last.evaluate("form => form.submit()")
        assert "?" in owner.locator("h1").inner_text()
        for v in violations(owner):
            found.append(f"{what}: [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:6]))

    # A create that worked: the confirmation next to the form, the new card highlighted.
    owner.goto("/dashboard/company")
    owner.get_by_label("Maximum Uses").fill("2")
    owner.get_by_label("Email Address (Optional)").fill("")
    owner.get_by_role("button", name="Create Invitation").click()
    owner.locator(".invitation-card.is-new").wait_for()
    for v in violations(owner):
        found.append(f"after a create: [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:6]))

    # Edit in place (with an error on a field), its page without JavaScript, and pause all.
    owner.goto("/dashboard/company")
    edit_link = owner.locator("a[id$='-edit-button']").first
    edit_page = edit_link.get_attribute("href")
    edit_link.click()
    form = owner.locator("form.invitation-edit")
    form.locator("input[name=max_uses]").fill("101")
    form.get_by_role("button", name="Save").click()
    owner.locator("form.invitation-edit .error-summary").wait_for()
    for v in violations(owner):
        found.append(f"edit in place: [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:6]))
    owner.goto(edit_page)
    for v in violations(owner):
        found.append(f"edit page: [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:6]))
    owner.goto("/dashboard/company")
    owner.get_by_role("button", name="Pause all invitations").click()
    owner.locator("#pause-all-banner").wait_for()
    for v in violations(owner):
        found.append(f"all paused: [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:6]))
    owner.get_by_role("button", name="Resume all invitations").click()
    owner.locator("#pause-all-banner").wait_for(state="detached")
    assert found == [], f"axe-core at {viewport} width, {scheme} colours:\n" + "\n".join(found)
