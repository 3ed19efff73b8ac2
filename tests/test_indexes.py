"""Every lookup path has an index: the planner never reads a whole table to answer it.

A company with 10,000 invitations (and about 13,000 members and redemptions),
then a second company, are seeded in bulk and analysed; each lookup is run through the domain layer
while its SQL is captured, and that exact statement, with its parameters,
goes through EXPLAIN. On PostgreSQL no plan may contain a sequential scan of
the table the lookup serves; on SQLite no plan may ``SCAN`` it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import pytest
from sqlalchemy import text

from invites import accounts, audit, demo, invitations
from invites.auth.routes import load_user
from invites.extensions import db
from invites.invitations import Filter
from invites.models import Invitation, Role, User

from .demo_world import World, demo_world
from .statements import StatementLog


@pytest.fixture(scope="module")
def world(database_url):
    with demo_world(database_url, 10_000, users=100, admins=2) as world:
        with world.app.app_context():
            # Another, busier tenant writing after the first: lookups must not wade through it.
            demo.seed(1_000, users=100, admins=1, company_name="Other Co", email_domain="other.example.com")
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        yield world


@dataclass(frozen=True)
class Lookup:
    name: str
    table: str
    prepare: Callable[[World], Callable[[], object]]  # returns the call to capture


def _a_used_invitation(world: World) -> int:
    return db.session.execute(text("SELECT invitation_id FROM invitation_redemptions ORDER BY id LIMIT 1")).scalar_one()


def _check_signed_in(world: World):
    """The invite page's and accept's one read: the invitation, membership and redemption."""
    user = load_user(session_id(world.data.ready_user_ids[0]))
    return lambda: invitations.check(world.data.usable_codes[0], user)


def _other_company() -> int:
    """The busier tenant seeded second (1,000 of the 11,000 invitations).

    Searching reads every invitation of the company (a label can match anywhere), so in the
    first company, which holds nine in ten of the table's rows, the planner rightly reads the
    whole table; in a company that holds a share of it, it must read that share by its index.
    """
    return db.session.execute(text("SELECT id FROM companies WHERE name = 'Other Co'")).scalar_one()


def session_id(user_id: int) -> str:
    """What a session cookie carries for ``user_id``: ``<id>:<session token>``."""
    return db.session.get(User, user_id).get_id()


LOOKUPS = [
    # Pause and start read the invitation by id within the company (Core row).
    Lookup(
        "invitation_row_by_id",
        "company_invitations",
        lambda w: lambda: invitations.row_for_company(w.data.toggle_ids[0], w.data.company_id),
    ),
    Lookup("code", "company_invitations", lambda w: lambda: invitations.find_by_code(w.data.usable_codes[0])),
    # The anonymous check's Core snapshot (invites/previews.py): the same joins, another statement.
    Lookup("code_preview", "company_invitations", lambda w: lambda: invitations.check(w.data.usable_codes[0])),
    *[
        Lookup(f"code_signed_in_{table}", table, _check_signed_in)
        for table in ("company_invitations", "memberships", "invitation_redemptions")
    ],
    Lookup("signed_in_user", "users", lambda w: (lambda sid: lambda: load_user(sid))(session_id(w.data.owner_id))),
    *[
        Lookup(
            f"dashboard_{which.value}",
            "company_invitations",
            (lambda which: lambda w: lambda: invitations.list_for_company(w.data.company_id, which))(which),
        )
        for which in Filter
    ],
    Lookup(
        "dashboard_all_page_5",
        "company_invitations",
        lambda w: lambda: invitations.list_for_company(w.data.company_id, Filter.ALL, page=5),
    ),
    *[
        Lookup(
            f"dashboard_search_{which.value}",
            "company_invitations",
            (lambda which: lambda w: lambda: invitations.list_for_company(_other_company(), which, search="sales"))(
                which
            ),
        )
        for which in (Filter.ALL, Filter.PAUSED)
    ],
    Lookup(
        "live_usage_cursor",
        "audit_events",
        lambda w: lambda: audit.latest_id(w.data.company_id),
    ),
    Lookup(
        "live_usage_changes",
        "audit_events",
        lambda w: (lambda after: lambda: audit.changes_since(w.data.company_id, after))(
            audit.latest_id(w.data.company_id) - 5
        ),
    ),
    Lookup(
        "live_usage_cards",
        "company_invitations",
        lambda w: lambda: invitations.get_many_for_company(w.data.toggle_ids[:20], w.data.company_id),
    ),
    # The signed-in user's memberships with their companies (tenancy, every dashboard request): Core.
    Lookup("current_memberships", "memberships", lambda w: lambda: accounts.current_memberships_of(w.data.owner_id)),
    Lookup("members_page", "memberships", lambda w: lambda: accounts.members_page(w.data.company_id)),
    Lookup("members_page_5", "memberships", lambda w: lambda: accounts.members_page(w.data.company_id, page=5)),
    Lookup(
        "redemptions_of_invitation",
        "invitation_redemptions",
        lambda w: (lambda iid: lambda: invitations.redemptions(iid))(_a_used_invitation(w)),
    ),
    # "Who used it" marks who left, and the removal's plan and its list of who is kept.
    *[
        Lookup(
            f"{name}_{table}",
            table,
            (lambda call: lambda w: (lambda inv: lambda: call(inv))(db.session.get(Invitation, _a_used_invitation(w))))(
                call
            ),
        )
        for name, call in (
            ("who_used", invitations.redemptions_with_roles),
            ("removal_plan", lambda inv: invitations.removal_plan(inv, Role.OWNER)),
        )
        for table in ("invitation_redemptions", "memberships")
    ],
]


def captured_statements(world: World, lookup: Lookup) -> list[tuple[str, object]]:
    """The SELECTs from ``lookup.table`` that the domain layer sent for this lookup."""
    with world.app.app_context():
        call = lookup.prepare(world)
        with StatementLog(db.engine) as log:
            call()
        db.session.remove()
    selects = log.selects_from(lookup.table)
    assert selects, f"{lookup.name} sent no SELECT from {lookup.table}: {log.report()}"
    return selects


def postgresql_plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from postgresql_plan_nodes(child)


@pytest.mark.postgresql
@pytest.mark.parametrize("lookup", LOOKUPS, ids=lambda l: l.name)
def test_postgresql_plans_have_no_sequential_scan(world, lookup):
    for sql, params in captured_statements(world, lookup):
        with world.app.app_context():
            cursor = db.session.connection().connection.dbapi_connection.cursor()
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            document = cursor.fetchone()[0]
            db.session.remove()
        plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
        scans = [
            node
            for node in postgresql_plan_nodes(plan)
            if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == lookup.table
        ]
        assert not scans, f"{lookup.name} reads all of {lookup.table}:\n{json.dumps(plan, indent=1)}"
        assert any(node.get("Relation Name") == lookup.table for node in postgresql_plan_nodes(plan)), (
            "the plan does not read the table at all: wrong statement captured?"
        )


@pytest.mark.sqlite
@pytest.mark.parametrize("lookup", LOOKUPS, ids=lambda l: l.name)
def test_sqlite_plans_never_scan_the_table(world, lookup):
    for sql, params in captured_statements(world, lookup):
        with world.app.app_context():
            raw = db.session.connection().connection.dbapi_connection
            details = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
            db.session.remove()
        assert not [d for d in details if d.startswith(f"SCAN {lookup.table}")], details
        assert any(lookup.table in d for d in details), details


def accept_writes(world: World) -> list[tuple[str, object]]:
    """What an accept sends after its check (one read): the conditional UPDATE and the INSERTs."""
    with world.app.app_context():
        user = load_user(session_id(world.data.ready_user_ids[1]))
        code = world.data.accept_code(1)
        with StatementLog(db.engine) as log:
            invitations.accept(code, user)
        db.session.remove()
    assert log.statements[0][0].lstrip().upper().startswith("SELECT"), log.report()
    return log.statements[1:]


@pytest.mark.postgresql
def test_postgresql_accept_writes_in_one_statement_without_a_sequential_scan(world):
    ((sql, params),) = accept_writes(world)

    def plan_nodes(seqscan: bool) -> tuple[dict, list[dict]]:
        with world.app.app_context():
            cursor = db.session.connection().connection.dbapi_connection.cursor()
            if not seqscan:
                cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            document = cursor.fetchone()[0]
            db.session.rollback()
            db.session.remove()
        plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
        return plan, list(postgresql_plan_nodes(plan))

    plan, nodes = plan_nodes(seqscan=True)
    # Whether the company paused all its invitations (issue 13) is read from ``companies``: two
    # rows here, one page, which the planner rightly reads whole. That it can read it by its
    # key instead is shown with sequential scans switched off: none may remain.
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan" and n["Relation Name"] != "companies"], json.dumps(
        plan, indent=1
    )
    keyed_plan, keyed = plan_nodes(seqscan=False)
    assert not [n for n in keyed if n["Node Type"] == "Seq Scan"], json.dumps(keyed_plan, indent=1)
    assert any(n.get("Relation Name") == "companies" for n in keyed)
    updates = [n for n in nodes if n.get("Operation") == "Update"]
    inserts = sorted(n["Relation Name"] for n in nodes if n.get("Operation") == "Insert")
    assert [n["Relation Name"] for n in updates] == ["company_invitations"]
    assert inserts == ["audit_events", "invitation_redemptions", "memberships"]


@pytest.mark.sqlite
def test_sqlite_accept_writes_by_primary_key(world):
    writes = accept_writes(world)
    assert [" ".join(sql.split()[:3]) for sql, _ in writes] == [
        "UPDATE company_invitations SET",
        "INSERT INTO invitation_redemptions",
        "INSERT INTO memberships",
        "INSERT INTO audit_events",
    ]
    sql, params = writes[0]
    with world.app.app_context():
        raw = db.session.connection().connection.dbapi_connection
        details = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
        db.session.remove()
    # The invitation by its key, and (is the company paused? issue 13) its company by its key.
    assert [d for d in details if d.startswith(("SEARCH", "SCAN"))] == [
        "SEARCH company_invitations USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH companies USING INTEGER PRIMARY KEY (rowid=?)",
    ], details


def pause_writes(world: World) -> list[tuple[str, object]]:
    """What the card's Pause sends after reading the invitation's row: the UPDATE and its audit row."""
    with world.app.app_context():
        owner = load_user(session_id(world.data.owner_id))
        row = invitations.row_for_company(world.data.toggle_ids[0], world.data.company_id)
        with StatementLog(db.engine) as log:
            invitations.set_active(row, owner, active=False, actor_role=Role.OWNER)
        assert not row.is_active
        invitations.set_active(row, owner, active=True, actor_role=Role.OWNER)  # as it was, for the other tests
        db.session.remove()
    return log.statements


@pytest.mark.postgresql
def test_postgresql_pause_writes_in_one_statement_without_a_sequential_scan(world):
    ((sql, params),) = pause_writes(world)
    with world.app.app_context():
        cursor = db.session.connection().connection.dbapi_connection.cursor()
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        document = cursor.fetchone()[0]
        db.session.rollback()
        db.session.remove()
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    nodes = list(postgresql_plan_nodes(plan))
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], json.dumps(plan, indent=1)
    assert [n["Relation Name"] for n in nodes if n.get("Operation") == "Update"] == ["company_invitations"]
    assert [n["Relation Name"] for n in nodes if n.get("Operation") == "Insert"] == ["audit_events"]


@pytest.mark.sqlite
def test_sqlite_pause_writes_by_primary_key(world):
    writes = pause_writes(world)
    assert [" ".join(sql.split()[:3]) for sql, _ in writes] == [
        "UPDATE company_invitations SET",
        "INSERT INTO audit_events",
    ]
    sql, params = writes[0]
    with world.app.app_context():
        raw = db.session.connection().connection.dbapi_connection
        details = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
        db.session.remove()
    assert [d for d in details if d.startswith(("SEARCH", "SCAN"))] == [
        "SEARCH company_invitations USING INTEGER PRIMARY KEY (rowid=?)"
    ], details
