"""Two app instances on one PostgreSQL and one Redis: nothing lives in one process's memory.

Each instance is a separate gunicorn (2 workers × 4 threads) on its own port,
started by ``benchmarks.servers`` against the test database and Redis at
``TEST_REDIS_URL``, and stopped when the module ends, whatever happened.
Sessions are signed with the tests' secret (``benchmarks.sessions``), which
both instances share, as instances behind one load balancer must.

The accept and usage tests speak the JSON API (paths in the constants below)
and the dashboard's live-usage poll. The rate-limit test relies on issue 6's
``limits.code_guessing`` on validate.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter

import pytest
import redis
import sqlalchemy as sa

from benchmarks import servers
from benchmarks.sessions import USER_AGENT, SignedSession, signed_session
from invites import audit, invitations
from invites.extensions import db
from invites.models import Invitation, Membership, Redemption, Role

from .conftest import TEST_REDIS_URL, age_audit_trail
from .factories import create_invitation

pytestmark = [pytest.mark.postgresql, pytest.mark.redis]

API_ACCEPT = "/api/companies/invitations/accept"
API_VALIDATE = "/api/companies/invitations/validate"
API_LIST = "/api/companies/invitations"
SECRET_KEY = "test-secret"  # conftest.base_config's: cookies signed in the tests work on both instances
GUESTS = 120
MAX_USES = 25


def start_pair(database_url: str, log_dir, started: list, *, rate_limits: bool) -> tuple[servers.Instance, ...]:
    settings = {
        "INVITES_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_URL": "http://127.0.0.1",  # production requires it and answers only to its host
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "RATELIMIT_ENABLED": "true" if rate_limits else "false",
    }
    pair = []
    for name in ("a", "b"):
        instance = servers.start(settings, workers=2, threads=4, log_path=log_dir / f"instance-{name}.log")
        started.append(instance)  # stopped by the fixture even if the other one fails to start
        pair.append(instance)
    return tuple(pair)


@pytest.fixture(scope="module")
def instances(database_url, tmp_path_factory):
    """Two instances with rate limits off: the accept and usage tests send 100+ requests from one address."""
    started: list[servers.Instance] = []
    try:
        yield start_pair(database_url, tmp_path_factory.mktemp("instances"), started, rate_limits=False)
    finally:
        for instance in started:
            instance.stop()


@pytest.fixture(scope="module")
def limited_instances(database_url, tmp_path_factory):
    """Two instances with rate limits on, counting in Redis (emptied first)."""
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    started: list[servers.Instance] = []
    try:
        yield start_pair(database_url, tmp_path_factory.mktemp("limited"), started, rate_limits=True)
    finally:
        for instance in started:
            instance.stop()
        redis.Redis.from_url(TEST_REDIS_URL).flushdb()


def send(
    instance: servers.Instance,
    method: str,
    path: str,
    session: SignedSession | None = None,
    body: dict | None = None,
    connection: http.client.HTTPConnection | None = None,
):
    """One request; returns (status, parsed JSON or text)."""
    connection = connection or http.client.HTTPConnection("127.0.0.1", instance.port, timeout=60)
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if session is not None:
        headers["Cookie"] = session.cookie_header
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def new_invitation(app, company, owner, max_uses: int) -> str:
    return create_invitation(app, company, owner, max_uses=max_uses).code


def test_both_instances_serve_one_database(app, make, instances):
    """A member created after both started is on both members pages, with one session cookie."""
    company, owner = make.company("Shared Co")
    make.user("newcomer@example.com", company=company)
    session = signed_session(app, owner.id, company.id)
    for instance in instances:
        status, page = send(instance, "GET", "/company/members", session)
        assert status == 200
        assert "newcomer@example.com" in page


def test_concurrent_accepts_over_two_instances_admit_exactly_max_uses(app, make, instances):
    company, owner = make.company("Event Co")
    code = new_invitation(app, company, owner, MAX_USES)
    guests = [make.user(f"guest{n:03d}@example.com") for n in range(GUESTS)]
    sessions = [signed_session(app, guest.id) for guest in guests]
    barrier = threading.Barrier(GUESTS)
    results: list[tuple[int, object] | None] = [None] * GUESTS

    def accept(n: int) -> None:
        instance = instances[n % 2]
        connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=120)
        connection.connect()  # connected before the barrier, so the requests really overlap
        barrier.wait()
        results[n] = send(instance, "POST", API_ACCEPT, sessions[n], {"code": code}, connection)

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(GUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = Counter(status for status, _ in results)
    assert statuses[200] == MAX_USES, statuses
    refusals = [body for status, body in results if status != 200]
    assert len(refusals) == GUESTS - MAX_USES
    assert all(
        400 <= status < 500 and isinstance(body, dict) and body.get("error") == invitations.Refusal.FULL.value
        for status, body in results
        if status != 200
    ), Counter((status, str(body)[:80]) for status, body in results if status != 200)
    with app.app_context():
        invitation = db.session.execute(sa.select(Invitation).where(Invitation.code == code)).scalar_one()
        redemptions = db.session.scalar(
            sa.select(sa.func.count()).select_from(Redemption).where(Redemption.invitation_id == invitation.id)
        )
        joined = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Membership)
            .where(Membership.company_id == company.id, Membership.role == Role.MEMBER.value)
        )
    assert (invitation.used_count, redemptions, joined, invitation.status) == (MAX_USES, MAX_USES, MAX_USES, "ACCEPTED")


def test_usage_on_one_instance_shows_an_accept_made_through_the_other(app, make, instances):
    """Through the API list and through the dashboard's live-usage poll."""
    company, owner = make.company("Usage Co")
    code = new_invitation(app, company, owner, 5)
    guest = make.user("guest@example.com")
    owner_session = signed_session(app, owner.id, company.id)
    a, b = instances

    def used_count_seen_on_a() -> int:
        status, body = send(a, "GET", API_LIST, owner_session)
        assert status == 200, body
        return next(i["usedCount"] for i in body["invitations"] if i["code"] == code)

    age_audit_trail(app)
    with app.app_context():
        cursor = audit.latest_id(company.id)
    poll = f"/dashboard/company/changes?after={cursor}"
    assert send(a, "GET", poll, owner_session)[0] == 204  # nothing new yet
    assert used_count_seen_on_a() == 0
    status, body = send(b, "POST", API_ACCEPT, signed_session(app, guest.id), {"code": code})
    assert status == 200, body
    assert used_count_seen_on_a() == 1
    status, fragment = send(a, "GET", poll, owner_session)  # the dashboard's live-usage poll
    assert status == 200 and "1/5 uses" in fragment


def test_rate_limit_is_shared_between_instances(app, make, limited_instances):
    """Guessing codes on A until 429 leaves B refusing too: the counters are in Redis."""
    guesser = make.user("guesser@example.com")
    session = signed_session(app, guesser.id)
    a, b = limited_instances
    for attempt in range(1, 301):
        status, body = send(a, "POST", API_VALIDATE, session, {"code": f"no-such-code-{attempt}"})
        if status == 429:
            break
        assert status == 404, (status, body)
    else:
        pytest.fail("300 unknown codes on instance A and no 429: validate is not rate limited")
    assert attempt > 1
    status, body = send(b, "POST", API_VALIDATE, session, {"code": "no-such-code-on-b"})
    assert status == 429, f"instance B counted on its own: {status} {body}"
