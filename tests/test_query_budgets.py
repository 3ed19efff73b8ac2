"""Query budgets: each lookup and page issues a fixed number of SQL statements.

The same call is counted against a company with 10 invitations and one with
10,000 (and as many members as used them, about 13,000), seeded in bulk by
``invites.demo``. A budget is the exact count: one more statement is a
regression (often an N+1 lazy load), one fewer means the budget should come
down. Counting happens in ``tests/statements.py`` (``before_cursor_execute``).

Pages are cases of ``PAGE_CASES``: a name, who asks (``manager``, ``member``,
``ready`` user or ``anonymous``), the request, and the budget. A budget that
differs by database is a mapping: the accept writes in one statement on
PostgreSQL (data-modifying CTEs) and in four on SQLite, which has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest
from sqlalchemy import select

from invites import accounts, audit, demo, invitations
from invites.extensions import db
from invites.invitations import Filter
from invites.models import Invitation, Membership, Redemption, Role, User

from .conftest import age_audit_trail
from .demo_world import World, demo_world
from .statements import StatementLog

SIZES = [10, 10_000]


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n}_invitations")
def world(request, database_url):
    """One demo company per size, seeded once for the module and emptied afterwards."""
    with demo_world(database_url, request.param, users=20, admins=2) as world:
        yield world


#: The accept's write: PostgreSQL's one statement, SQLite's UPDATE and three INSERTs.
ACCEPT_WRITE = {"postgresql": 1, "sqlite": 4}


def budget_for(world: World, budget: int | dict[str, int]) -> int:
    """The budget on the world's database."""
    if isinstance(budget, int):
        return budget
    with world.app.app_context():
        return budget[db.engine.dialect.name]


def plus(budget: dict[str, int], n: int) -> dict[str, int]:
    return {name: count + n for name, count in budget.items()}


def count(world: World, call: Callable[[World], object]) -> StatementLog:
    """The statements ``call`` sends, starting from an empty session."""
    with world.app.app_context():
        setup = call(world)  # may return a prepared zero-argument callable
        with StatementLog(db.engine) as log:
            (setup if callable(setup) else (lambda: None))()
        db.session.remove()
    return log


# --- the domain layer ----------------------------------------------------------


def _with_user(world: World, index: int, action: Callable[[User], object]):
    user = db.session.get(User, world.data.ready_user_ids[index])
    db.session.expunge(user)  # as Flask-Login's loader leaves it: loaded, no lazy loads pending
    return lambda: action(user)


def _pause_all_then_resume_all(world: World):
    """Issue 13's "Pause all" and its undo: one UPDATE of the company each, and one audit row each."""
    owner = db.session.execute(select(User).where(User.email == world.data.owner_email)).scalar_one()
    db.session.expunge(owner)
    company_id = world.data.company_id
    return lambda: (invitations.pause_all(company_id, owner), invitations.resume_all(company_id, owner))


@dataclass(frozen=True)
class DomainCase:
    name: str
    prepare: Callable[[World], Callable[[], object]]
    budget: int | dict[str, int]


DOMAIN_CASES = [
    DomainCase("find_by_code", lambda w: lambda: invitations.find_by_code(w.data.event_codes[0]), 1),
    DomainCase("find_by_code_unknown", lambda w: lambda: invitations.find_by_code("no-such-code"), 1),
    DomainCase("find_by_code_malformed", lambda w: lambda: invitations.find_by_code("<script>"), 0),
    DomainCase("check_anonymous", lambda w: lambda: invitations.check(w.data.event_codes[0]), 1),
    DomainCase(
        "check_signed_in",
        lambda w: _with_user(w, w.ready_user(), lambda u: invitations.check(w.data.event_codes[0], u)),
        1,
    ),
    *[
        DomainCase(
            f"list_for_company_{which.value}",
            (lambda which: lambda w: lambda: invitations.list_for_company(w.data.company_id, which))(which),
            1,
        )
        for which in Filter
    ],
    DomainCase(
        "list_for_company_search",
        lambda w: lambda: invitations.list_for_company(w.data.company_id, Filter.ACTIVE, search="event"),
        1,
    ),
    DomainCase(
        "list_for_company_page_3",
        lambda w: lambda: invitations.list_for_company(w.data.company_id, Filter.ALL, page=3),
        1,
    ),
    DomainCase(
        "members_page",
        lambda w: lambda: [m.user.email for m in accounts.members_page(w.data.company_id).items],
        1,
    ),
    DomainCase(
        "members_page_3",
        lambda w: lambda: [m.user.email for m in accounts.members_page(w.data.company_id, page=3).items],
        1,
    ),
    DomainCase("pause_all_then_resume_all", _pause_all_then_resume_all, 4),
    DomainCase(
        "accept",
        lambda w: (lambda n: _with_user(w, n, lambda u: invitations.accept(w.data.accept_code(n), u)))(w.ready_user()),
        plus(ACCEPT_WRITE, 1),  # the check (one statement), then the write
    ),
]


@pytest.mark.parametrize("case", DOMAIN_CASES, ids=lambda c: c.name)
def test_domain_budget(world, case):
    log = count(world, case.prepare)
    assert len(log) == budget_for(world, case.budget), f"{case.name} with {world.size} invitations: {log.report()}"


def test_accept_inside_its_budget_really_accepted(world):
    """The counted accept is a real one: the counter moved and a redemption exists."""
    n = world.ready_user()
    log = count(world, lambda w: _with_user(w, n, lambda u: invitations.accept(w.data.accept_code(n), u)))
    assert len(log) == budget_for(world, next(c.budget for c in DOMAIN_CASES if c.name == "accept"))
    with world.app.app_context():
        invitation = invitations.find_by_code(world.data.accept_code(n))
        assert [r.user_id for r in invitations.redemptions(invitation.id)][-1] == world.data.ready_user_ids[n]
        assert invitation.used_count == len(invitations.redemptions(invitation.id))


# --- pages -----------------------------------------------------------------------


@dataclass(frozen=True)
class PageCase:
    """One request to budget: who sends it, what, and how many statements it may cost."""

    name: str
    who: str  # "manager" (the owner), "member", "ready" (in no company yet) or "anonymous"
    method: str
    path: Callable[[World], str]  # called in an app context, before counting starts
    budget: int | dict[str, int]
    expect_status: int = 200
    fragment: bool = False  # an htmx answer: never a whole page
    headers: dict = field(default_factory=dict)
    data: dict | None = None
    json: Callable[[demo.DemoData], dict] | None = None


def _event_invitation(world: World) -> int:
    return invitations.find_by_code(world.data.event_codes[0]).id


def _poll_after_an_accept(world: World) -> str:
    """Someone accepts (an event the poll must report), then the poll from the cursor before."""
    cursor = audit.latest_id(world.data.company_id)
    n = world.ready_user()
    invitations.accept(world.data.accept_code(n), db.session.get(User, world.data.ready_user_ids[n]))
    return f"/dashboard/company/changes?after={cursor}"


def _poll_when_quiet(world: World) -> str:
    """The poll from the newest cursor once nothing has happened for a while."""
    age_audit_trail(world.app)
    return f"/dashboard/company/changes?after={audit.latest_id(world.data.company_id)}"


HTMX = {"HX-Request": "true"}

PAGE_CASES = [
    PageCase("members_page", "manager", "GET", lambda w: "/company/members", budget=3),
    PageCase("members_page_3", "manager", "GET", lambda w: "/company/members?page=3", budget=3),
    PageCase(
        "members_page_3_htmx",
        "manager",
        "GET",
        lambda w: "/company/members?page=3",
        budget=3,
        headers=HTMX,
    ),
    PageCase("dashboard_home_member", "member", "GET", lambda w: "/dashboard", budget=2),
    PageCase("dashboard_first_page", "manager", "GET", lambda w: "/dashboard/company", budget=4),
    *[
        PageCase(
            f"dashboard_{which.value}",
            "manager",
            "GET",
            (lambda which: lambda w: f"/dashboard/company?filter={which.value}")(which),
            budget=4,
        )
        for which in Filter
        if which is not Filter.ALL
    ],
    PageCase("dashboard_page_3", "manager", "GET", lambda w: "/dashboard/company?page=3", budget=4),
    # Issue 13's search: the page, and the list alone that active search asks for.
    PageCase("dashboard_search", "manager", "GET", lambda w: "/dashboard/company?q=event&filter=active", budget=4),
    PageCase(
        "dashboard_active_search",
        "manager",
        "GET",
        lambda w: "/dashboard/company?q=event",
        budget=4,
        fragment=True,
        headers={"HX-Request": "true"},
    ),
    # The card fragment: Start on an active invitation changes nothing (issue 12): the UPDATE
    # matches nothing, one SELECT finds nothing in the way, the card is read as it is.
    PageCase(
        "card_fragment",
        "manager",
        "POST",
        lambda w: f"/dashboard/company/invitations/{_event_invitation(w)}/active",
        budget=6,
        fragment=True,
        headers=HTMX,
        data={"active": "1"},
    ),
    # Pause, then Start (in this order: the invitation is active again after both): user,
    # memberships, the invitation, then the UPDATE and its audit row (one statement on PostgreSQL).
    *[
        PageCase(
            f"card_fragment_{verb}",
            "manager",
            "POST",
            lambda w: f"/dashboard/company/invitations/{_event_invitation(w)}/active",
            budget={"postgresql": 4, "sqlite": 5},
            fragment=True,
            headers=HTMX,
            data={"active": active},
        )
        for verb, active in (("pause", "0"), ("start", "1"))
    ],
    PageCase(
        "live_usage_nothing_new",
        "manager",
        "GET",
        _poll_when_quiet,
        budget=3,
        expect_status=204,
        headers=HTMX,
    ),
    PageCase(
        "live_usage_after_an_accept",
        "manager",
        "GET",
        _poll_after_an_accept,
        budget=4,
        fragment=True,
        headers=HTMX,
    ),
]


def _edit_url(world: World) -> str:
    return f"/dashboard/company/invitations/{_event_invitation(world)}/edit"


# Issue 13's controls: the edit form in place and its save (one label change, no version
# check), the API's PATCH, and "Who used it" with its removal plan.
PAGE_CASES += [
    PageCase("edit_form_fragment", "manager", "GET", _edit_url, budget=3, fragment=True, headers=HTMX),
    PageCase(
        "edit_save_fragment",
        "manager",
        "POST",
        _edit_url,
        budget=5,
        fragment=True,
        headers=HTMX,
        data={"max_uses": "", "expires_in_days": "", "role": "MEMBER", "allowed_domain": "", "label": "Budget"},
    ),
    PageCase(
        "edit_api",
        "manager",
        "PATCH",
        lambda w: f"/api/companies/invitations/{_event_invitation(w)}",
        budget=5,
        json=lambda d: {"label": "Budget by API"},
    ),
    PageCase(
        "who_used_it",
        "manager",
        "GET",
        lambda w: f"/dashboard/company/invitations/{_event_invitation(w)}/redemptions",
        budget=5,
    ),
]

PAGE_CASES += [
    PageCase("invite_page_anonymous", "anonymous", "GET", lambda w: f"/invite/{w.data.event_codes[0]}", budget=1),
    PageCase("invite_page_signed_in", "ready", "GET", lambda w: f"/invite/{w.data.event_codes[0]}", budget=3),
    PageCase(
        "invite_page_unknown_code",
        "anonymous",
        "GET",
        lambda w: "/invite/no-such-code",
        budget=1,
        expect_status=404,
    ),
    PageCase(
        "validate_api",
        "ready",
        "POST",
        lambda w: "/api/companies/invitations/validate",
        budget=2,
        json=lambda d: {"code": d.event_codes[0]},
    ),
    PageCase(
        "accept_api",
        "ready",
        "POST",
        lambda w: "/api/companies/invitations/accept",
        budget=plus(ACCEPT_WRITE, 2),
        json=lambda d: {"code": d.event_codes[0]},
    ),
]


def _login(client, world: World, who: str) -> None:
    with world.app.app_context():
        if who == "manager":
            email = world.data.owner_email
        elif who == "ready":
            email = db.session.get(User, world.data.ready_user_ids[world.ready_user()]).email
        elif who == "member":
            email = db.session.scalar(
                select(User.email)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.company_id == world.data.company_id, Membership.role == Role.MEMBER.value)
                .limit(1)
            )
        else:
            return
    response = client.post("/login", data={"email": email, "password": world.data.password})
    assert response.status_code == 302, "login failed"


@pytest.mark.parametrize("case", PAGE_CASES, ids=lambda c: c.name)
def test_page_budget(world, case):
    client = world.app.test_client()
    _login(client, world, case.who)
    with world.app.app_context():
        path = case.path(world)
        engine = db.engine
        db.session.remove()
    with StatementLog(engine) as log:
        response = client.open(
            path,
            method=case.method,
            headers=case.headers,
            data=case.data,
            json=case.json(world.data) if case.json else None,
        )
    assert response.status_code == case.expect_status, response.get_data(as_text=True)[:300]
    if case.fragment:
        assert b"<html" not in response.data and b'id="invitation-' in response.data
    assert len(log) == budget_for(world, case.budget), f"{case.name} with {world.size} invitations: {log.report()}"


# --- CSV exports ---------------------------------------------------------------------


def _redemption_count(world: World) -> int:
    with world.app.app_context():
        return len(
            db.session.execute(
                select(Redemption.id).join(Invitation).where(Invitation.company_id == world.data.company_id)
            ).all()
        )


@pytest.mark.parametrize(
    "path, lines",
    [
        ("/dashboard/company/invitations.csv", lambda w: w.size + 1),
        ("/dashboard/company/redemptions.csv", lambda w: _redemption_count(w) + 1),
    ],
    ids=["invitations_csv", "redemptions_csv"],
)
def test_csv_export_streams_every_row_in_a_fixed_number_of_statements(world, path, lines):
    """The whole file, however many rows, costs the same statements: read in batches, not per row.

    Login check and company (2) and the export's one SELECT; its batches are
    fetched from the same cursor.
    """
    client = world.app.test_client()
    _login(client, world, "manager")
    with world.app.app_context():
        engine = db.engine
        db.session.remove()
    with StatementLog(engine) as log:
        response = client.get(path)
        assert response.is_streamed
        body = response.get_data(as_text=True)
    assert response.status_code == 200
    rows = body.count("\r\n")
    assert rows == lines(world)
    assert len(log) == 3, f"{path} with {world.size} invitations: {log.report()}"
