"""Accepting under concurrency: many browsers press "Join" at the same moment.

Each browser is a separate process (forked), with its own app, engine and
connection to the same database file (or PostgreSQL database), logged in as
its own user. A barrier releases them together. Some tests also hold every
request after it has read the invitation (``gated``), so that whatever was
read can be stale by the time the conditional UPDATE decides.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from invites import create_app, invitations
from invites.extensions import db
from invites.models import AuditEvent, Company, Invitation, Membership, Redemption, Role, User, utcnow

from .conftest import base_config
from .invitation_helpers import alert, invitation_row, new_invitation

FULL = "This invitation has reached its maximum number of uses"
PAUSED = "This invitation has been paused"
FORK = multiprocessing.get_context("fork")
TIMEOUT = 120


class _Collect(logging.Handler):
    """Keeps what the app logs (an unhandled error's traceback) to report it with the result."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def _browser(url, user_id, code, start, checked, go, results):
    """One browser in its own process: log in as ``user_id``, wait for the others, press Join.

    Puts (user id, status, Location, refusal message, what went wrong if anything) on ``results``.
    """
    try:
        # Fifty processes on a shared two-core machine wait far longer for the CPU (and
        # so for each other's row locks) than a deployment should: the race is under
        # test here, not the database timeouts (tests/test_hardening.py has those).
        app = create_app({**base_config(url), "DATABASE_CONNECT_TIMEOUT": 29, "DATABASE_STATEMENT_TIMEOUT": 29})
        errors = _Collect()
        app.logger.addHandler(errors)
        client = app.test_client()
        with app.app_context():  # the session id carries the user's session token
            login_id = db.session.get(User, user_id).get_id()
            db.session.remove()
            db.engine.dispose()
        with client.session_transaction() as session:
            session["_user_id"] = login_id
            session["_fresh"] = True
        if checked is not None:
            real_check = invitations.check

            def check_then_wait(code, user=None):
                invitation = real_check(code, user)
                checked.wait(timeout=TIMEOUT)  # everyone has read the invitation...
                go.wait(timeout=TIMEOUT)  # ...and now the UPDATE decides.
                return invitation

            invitations.check = check_then_wait
        start.wait(timeout=TIMEOUT)
        response = client.post(f"/invite/{code}/accept")
        body = response.get_data(as_text=True)
        main = re.search(r"<main.*?</main>", body, re.S)
        detail = " ".join((main.group(0) if main else body).split())[:300]
        results.put(
            (
                user_id,
                response.status_code,
                response.headers.get("Location"),
                alert(body),
                "\n".join(errors.lines) or detail,
            )
        )
    except BaseException as exc:  # report everything: a hang or a lost result would hide it
        if checked is not None:
            checked.abort()
        results.put((user_id, "exception", None, None, repr(exc)))


def race(app, url, code, user_ids, *, gated=False, while_in_flight=None):
    """Run one browser per user id at once; their (user, status, location, message, body), by user.

    With ``gated``, ``while_in_flight`` runs after every request has read the
    invitation and before any of them may write.
    """
    with app.app_context():
        db.engine.dispose()  # no connection of ours crosses the fork
    start = FORK.Barrier(len(user_ids))
    checked = FORK.Barrier(len(user_ids) + 1) if gated else None
    go = FORK.Event() if gated else None
    results = FORK.Queue()
    browsers = [
        FORK.Process(target=_browser, args=(url, uid, code, start, checked, go, results), daemon=True)
        for uid in user_ids
    ]
    for browser in browsers:
        browser.start()
    try:
        if gated:
            checked.wait(timeout=TIMEOUT)
            if while_in_flight is not None:
                while_in_flight()
            go.set()
        outcomes = sorted(results.get(timeout=TIMEOUT) for _ in browsers)
    finally:
        for browser in browsers:
            browser.join(timeout=10)
            if browser.is_alive():
                browser.kill()
    assert not any("database is locked" in o[4] for o in outcomes)
    problems = [o for o in outcomes if o[1] not in (302, 409)]
    assert not problems, f"{len(problems)} requests failed, the first: {problems[0]}"
    return outcomes


def stored(app, code, company_id) -> dict:
    """What the database holds about the invitation's uses."""
    row = invitation_row(app, code)
    with app.app_context():
        return {
            "used_count": row["used_count"],
            "status": row["status"],
            "redeemed_by": set(
                db.session.scalars(sa.select(Redemption.user_id).where(Redemption.invitation_id == row["id"]))
            ),
            "new_members": set(
                db.session.scalars(
                    sa.select(Membership.user_id).where(
                        Membership.company_id == company_id, Membership.role == "MEMBER"
                    )
                )
            ),
            "accept_events": db.session.scalar(
                sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "invitation.accept")
            ),
        }


def fifty_users_race_for_ten_places(app, make, database_url):
    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner, max_uses=10)
    users = [make.user() for _ in range(50)]
    outcomes = race(app, database_url, code, [u.id for u in users])
    assert Counter(o[1] for o in outcomes) == {302: 10, 409: 40}
    winners = {o[0] for o in outcomes if o[1] == 302}
    assert {o[2] for o in outcomes if o[1] == 302} == {"/dashboard"}
    assert {o[3] for o in outcomes if o[1] == 409} == {FULL}
    assert stored(app, code, company.id) == {
        "used_count": 10,
        "status": "ACCEPTED",
        "redeemed_by": winners,
        "new_members": winners,
        "accept_events": 10,
    }


@pytest.mark.sqlite
def test_fifty_processes_race_for_ten_places_on_one_sqlite_file(app, make, database_url):
    fifty_users_race_for_ten_places(app, make, database_url)


@pytest.mark.postgresql
def test_fifty_processes_race_for_ten_places_on_postgresql(app, make, database_url):
    fifty_users_race_for_ten_places(app, make, database_url)


def test_a_pause_committed_while_accepts_are_in_flight_admits_none_after_it(app, make, database_url):
    """Every request has seen the invitation open; the pause commits; then they try to write."""
    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner, max_uses=50)
    users = [make.user() for _ in range(20)]

    def pause():
        with app.app_context():
            invitations.set_active(invitations.find_by_code(code), owner, active=False, actor_role=Role.OWNER)

    outcomes = race(app, database_url, code, [u.id for u in users], gated=True, while_in_flight=pause)
    assert {(o[1], o[3]) for o in outcomes} == {(409, PAUSED)}
    assert stored(app, code, company.id) == {
        "used_count": 0,
        "status": "PENDING",
        "redeemed_by": set(),
        "new_members": set(),
        "accept_events": 0,
    }
    assert invitation_row(app, code)["is_active"] is False


def test_requests_that_all_read_an_open_invitation_still_fill_it_exactly(app, make, database_url):
    """The control for the pause test: the same gate, no pause; the UPDATE alone stops the surplus."""
    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner, max_uses=5)
    users = [make.user() for _ in range(12)]
    outcomes = race(app, database_url, code, [u.id for u in users], gated=True)
    assert Counter((o[1], o[3]) for o in outcomes) == {(302, None): 5, (409, FULL): 7}
    winners = {o[0] for o in outcomes if o[1] == 302}
    assert stored(app, code, company.id) == {
        "used_count": 5,
        "status": "ACCEPTED",
        "redeemed_by": winners,
        "new_members": winners,
        "accept_events": 5,
    }


@pytest.mark.parametrize("gated", [False, True], ids=["barrier", "both-read-first"])
def test_the_same_user_pressing_join_three_times_at_once_takes_one_use(app, make, database_url, gated):
    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner, max_uses=5)
    user = make.user()
    outcomes = race(app, database_url, code, [user.id] * 3, gated=gated)
    assert Counter((o[1], o[3]) for o in outcomes) == {(302, None): 1, (409, "You are already a member of Acme"): 2}
    assert stored(app, code, company.id) == {
        "used_count": 1,
        "status": "PENDING",
        "redeemed_by": {user.id},
        "new_members": {user.id},
        "accept_events": 1,
    }
    with app.app_context():
        assert db.session.scalar(sa.select(Invitation.used_count).where(Invitation.code == code)) == 1


def test_pause_all_committed_while_accepts_race_admits_nobody_after_it(app, make, database_url):
    """Issue 13, "Pause all": the company's flag commits while accepts are racing.

    Twelve browsers press Join together; once the first has joined, the company's
    invitations are all paused (the column "Pause all" sets); six more press Join after.
    Whoever joined had committed before the pause did: the count read right after the
    pause's commit is the final one. Everyone else, the six late ones included, is told
    it is paused; the counter, the redemptions, the memberships and the audit agree.
    """
    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner, max_uses=30)
    early = [make.user().id for _ in range(12)]
    late = [make.user().id for _ in range(6)]
    with app.app_context():
        db.engine.dispose()
    start = FORK.Barrier(len(early))
    after_pause = FORK.Event()
    results = FORK.Queue()
    browsers = [
        FORK.Process(target=_browser, args=(database_url, uid, code, gate, None, None, results), daemon=True)
        for uids, gate in ((early, start), (late, after_pause))
        for uid in uids
    ]
    for browser in browsers:
        browser.start()
    try:
        with app.app_context():
            deadline = time.monotonic() + TIMEOUT
            while not db.session.scalar(sa.select(sa.func.count()).select_from(Redemption)):
                db.session.rollback()
                assert time.monotonic() < deadline, "nobody joined"
                time.sleep(0.005)
            db.session.execute(
                sa.update(Company).where(Company.id == company.id).values(invitations_paused_at=utcnow())
            )
            db.session.commit()
            joined_before_pause = db.session.scalar(sa.select(sa.func.count()).select_from(Redemption))
            db.session.remove()
        after_pause.set()
        outcomes = sorted(results.get(timeout=TIMEOUT) for _ in browsers)
    finally:
        for browser in browsers:
            browser.join(timeout=10)
            if browser.is_alive():
                browser.kill()
    problems = [o for o in outcomes if (o[1], o[3]) not in ((302, None), (409, PAUSED))]
    assert not problems, f"{len(problems)} unexpected answers, the first: {problems[0]}"
    assert {(o[1], o[3]) for o in outcomes if o[0] in late} == {(409, PAUSED)}
    winners = {o[0] for o in outcomes if o[1] == 302}
    assert 1 <= len(winners) == joined_before_pause <= 12
    assert stored(app, code, company.id) == {
        "used_count": joined_before_pause,
        "status": "PENDING",
        "redeemed_by": winners,
        "new_members": winners,
        "accept_events": joined_before_pause,
    }
    # Resumed: the invitation's own state (active) holds again, and it admits.
    with app.app_context():
        db.session.execute(sa.update(Company).where(Company.id == company.id).values(invitations_paused_at=None))
        db.session.commit()
        assert invitations.check(code) is not None
