"""The pieces of ``make bench`` that must be right for its numbers to mean anything."""

from __future__ import annotations

import http.client
import re
import socket
from collections import Counter

import pytest
import sqlalchemy as sa

from benchmarks import floor, run, servers
from benchmarks.endpoints import ENDPOINTS, Endpoint, by_name
from benchmarks.sessions import USER_AGENT, signed_session
from invites import demo
from invites.extensions import db
from invites.models import Invitation, Membership, Redemption, User


def test_signed_session_logs_the_user_in_with_a_valid_csrf_token(app, make, client):
    """The cookie the harness signs works like one from /login, CSRF token included."""
    company, owner = make.company("Acme")
    signed = signed_session(app, owner.id, company.id)
    client.set_cookie(signed.cookie_name, signed.cookie_value)
    headers = {"User-Agent": USER_AGENT}
    page = client.get("/company/members", headers=headers)
    assert page.status_code == 200
    assert "Members of Acme" in page.get_data(as_text=True)
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/logout", headers=headers).status_code == 400
    response = client.post("/logout", headers={**headers, "X-CSRFToken": signed.csrf_token})
    assert response.status_code == 302
    assert client.get("/company/members", headers=headers).status_code == 302  # logged out for real


@pytest.fixture
def seeded(app):
    with app.app_context():
        data = demo.seed(300, users=250, admins=3)
        db.session.remove()
    return data


def test_seed_is_consistent(app, seeded):
    """used_count = redemptions for every invitation; ready users are in no company."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Invitation.used_count, Invitation.max_uses, sa.func.count(Redemption.id))
            .outerjoin(Redemption, Redemption.invitation_id == Invitation.id)
            .group_by(Invitation.id, Invitation.used_count, Invitation.max_uses)
        ).all()
        ready_members = db.session.scalar(
            sa.select(sa.func.count()).select_from(Membership).where(Membership.user_id.in_(seeded.ready_user_ids))
        )
        hashes = db.session.scalar(sa.select(sa.func.count(sa.distinct(User.password_hash))))
    assert len(rows) == 300
    assert all(used == redeemed <= max_uses for used, max_uses, redeemed in rows)
    assert ready_members == 0
    assert hashes == 1
    assert seeded.states["event"] == 3 and {"active", "paused", "fully_used", "expired", "revoked"} <= set(
        seeded.states
    )


def test_seed_refuses_a_second_run_on_the_same_domain(app, seeded):
    with app.app_context(), pytest.raises(demo.DemoError, match="already exist"):
        demo.seed(10, users=1)


def test_seed_demo_command(runner, app):
    result = runner.invoke(
        args=["seed-demo", "--invitations", "50", "--users", "10", "--email-domain", "cli.example.com"]
    )
    assert result.exit_code == 0, result.output
    assert "50 invitations" in result.output and "10 users ready to accept" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 50
    again = runner.invoke(
        args=["seed-demo", "--invitations", "50", "--users", "10", "--email-domain", "cli.example.com"]
    )
    assert again.exit_code != 0 and "already exist" in again.output


def sessions_for(app, data):
    return {
        "manager": [signed_session(app, uid, data.company_id) for uid in data.manager_ids],
        "ready": [signed_session(app, uid) for uid in data.ready_user_ids],
    }


def test_accept_requests_use_each_ready_user_once_and_never_overfill_a_link(app, seeded):
    accept = by_name(["accept"])[0]
    requests = run.build_requests(accept, accept.paths[0], seeded, sessions_for(app, seeded), port=8000)
    assert len(requests) == 250
    cookies = Counter(re.search(rb"Cookie: (\S+)", r).group(1) for r in requests)
    assert len(cookies) == 250
    codes = Counter(re.search(rb'"code": "([^"]+)"', r).group(1).decode() for r in requests)
    assert set(codes) == set(seeded.event_codes)
    assert max(codes.values()) <= demo.EVENT_MAX_USES


def test_toggle_requests_carry_csrf_and_htmx_headers(app, seeded):
    toggle = by_name(["toggle"])[0]
    requests = run.build_requests(toggle, toggle.paths[0], seeded, sessions_for(app, seeded), port=8000)
    ids = seeded.toggle_ids
    assert len(requests) == 2 * len(ids)  # every invitation paused, then started again
    first, last = requests[0].decode(), requests[-1].decode()
    assert first.startswith(f"POST /dashboard/company/invitations/{ids[0]}/active HTTP/1.1\r\n")
    assert last.startswith(f"POST /dashboard/company/invitations/{ids[-1]}/active HTTP/1.1\r\n")
    assert "\r\nHX-Request: true\r\n" in first and "\r\nX-CSRFToken: " in first
    assert "Content-Type: application/x-www-form-urlencoded\r\n\r\nactive=0" in first
    assert last.endswith("\r\n\r\nactive=1")


def test_route_for_picks_the_first_routed_path(app):
    existing = Endpoint("x", "GET", ("/nowhere/{id}", "/company/members"), who="manager", items=None, issue=0)
    missing = Endpoint("y", "POST", ("/nowhere/{code}",), who="anonymous", items=None, issue=0)
    assert run.route_for(app, existing) == "/company/members"
    assert run.route_for(app, missing) is None
    assert [e.name for e in ENDPOINTS][-1] == "accept"  # accepting turns ready users into members: last


def test_each_worker_takes_an_equal_share_of_the_connections_with_one_to_keep_alive():
    assert run.connections_per_worker(8, 2) == 4
    assert run.connections_per_worker(9, 2) == 5
    args = run.parse_args([])
    assert (args.workers, args.sqlite_threads, args.threads, args.connections) == (2, 1, 1, 8)
    assert run.connections_per_worker(args.connections, args.workers) > max(args.threads, args.sqlite_threads)
    with pytest.raises(SystemExit):  # 4 connections a worker, all busy with 4 threads: none kept alive
        run.parse_args(["--threads", "4", "--connections", "8"])


@pytest.mark.sqlite
def test_gunicorn_instance_starts_serves_and_stops(database_url, tmp_path):
    instance = servers.start(
        {
            "INVITES_ENV": "production",
            "SECRET_KEY": "x" * 32,
            "PUBLIC_URL": "http://127.0.0.1",
            "DATABASE_URL": database_url,
            "RATELIMIT_ENABLED": "false",
        },
        workers=1,
        threads=1,
        log_path=tmp_path / "gunicorn.log",
        worker_class="gthread",
        worker_connections=2,
    )
    assert instance.process.args[-5:-1] == ["--worker-class", "gthread", "--worker-connections", "2"]
    try:
        connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=10)
        connection.request("GET", "/")
        assert connection.getresponse().status == 200
        connection.close()
        assert instance.cpu_seconds() > 0  # the master and its worker, importing the app at least
    finally:
        instance.stop()
    assert instance.process.returncode is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", instance.port), timeout=2)


@pytest.mark.sqlite
def test_a_server_that_cannot_start_is_reported_and_leaves_nothing_running(database_url, tmp_path):
    port = servers.free_port()
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        servers.start(
            {"INVITES_ENV": "production", "DATABASE_URL": database_url},  # production without a secret
            workers=1,
            port=port,
            log_path=tmp_path / "gunicorn.log",
            timeout=30,
        )
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def replay(client, raw: bytes):
    """Send one prepared wrk request through the test client."""
    head, _, body = raw.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode().split("\r\n")
    method, path, _ = request_line.split(" ")
    headers = dict(line.split(": ", 1) for line in header_lines)
    cookie_name, _, cookie_value = headers.pop("Cookie").partition("=")
    client.set_cookie(cookie_name, cookie_value)
    for name in ("Host", "Content-Length"):
        headers.pop(name, None)
    return client.open(path, method=method, headers=headers, data=body)


def test_prepared_toggle_requests_pause_and_start_through_the_dashboard(app, client, seeded):
    """With CSRF on, as in production: the prepared request is accepted and answers the card."""
    app.config["WTF_CSRF_ENABLED"] = True
    toggle = by_name(["toggle"])[0]
    requests = run.build_requests(toggle, toggle.paths[0], seeded, sessions_for(app, seeded), port=80)
    invitation_id = seeded.toggle_ids[0]
    paused = replay(client, requests[0])
    assert paused.status_code == 200
    assert b"<html" not in paused.data and f'id="invitation-{invitation_id}"'.encode() in paused.data
    assert b"PAUSED" in paused.data
    started = replay(client, requests[len(seeded.toggle_ids)])
    assert started.status_code == 200 and b"PAUSED" not in started.data
    with app.app_context():
        assert db.session.get(Invitation, invitation_id).is_active is True


@pytest.fixture
def floor_client(app, seeded, monkeypatch):
    """The floor of ``make bench`` on the seeded database, with the app's secret."""
    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("SECRET_KEY", app.secret_key)
    with app.app_context():
        floor.prepare(db.engine)
    floor_app = floor.create_app()
    yield floor_app.test_client()
    floor_app.extensions["floor_engine"].dispose()
    with app.app_context():
        db.session.execute(sa.text("DROP TABLE floor_invitations"))
        db.session.commit()


def test_the_floor_answers_the_prepared_requests_as_invites_would(app, seeded, floor_client):
    """Same cookies, same paths: the floor's pages are the same weight and its writes stay apart."""
    sessions = sessions_for(app, seeded)
    requests = {e.name: run.build_requests(e, e.paths[0], seeded, sessions, port=80) for e in ENDPOINTS}
    validated = replay(floor_client, requests["validate"][0])
    assert validated.status_code == 200
    assert validated.json["valid"] is True and validated.json["invitation"]["company"]["name"] == seeded.company_name
    floor_client.delete_cookie("session")
    assert floor_client.post("/api/companies/invitations/validate", json={"code": "x"}).status_code == 401
    page = floor_client.get(f"/invite/{seeded.usable_codes[0]}")
    assert page.status_code == 200 and f"Join {seeded.company_name}" in page.get_data(as_text=True)
    assert floor_client.get("/invite/no-such-code").status_code == 404
    dashboard = replay(floor_client, requests["dashboard"][0])
    cards = re.findall(r'id="invitation-(\d+)"', dashboard.get_data(as_text=True))
    assert dashboard.status_code == 200 and len(cards) == 50
    paused = replay(floor_client, requests["toggle"][0])
    assert paused.status_code == 200 and f'id="invitation-{seeded.toggle_ids[0]}"' in paused.get_data(as_text=True)
    accepted = replay(floor_client, requests["accept"][0])
    assert accepted.status_code == 200 and accepted.json["invitation"]["usedCount"] == 1
    code = seeded.accept_code(0)
    with app.app_context():
        assert (
            db.session.execute(
                sa.select(Invitation.is_active).where(Invitation.id == seeded.toggle_ids[0])
            ).scalar_one()
            is False
        )
        # The floor's accept counts in its own table: Invites' counters still equal its redemptions.
        assert db.session.execute(sa.select(Invitation.used_count).where(Invitation.code == code)).scalar_one() == 0
        assert (
            db.session.execute(
                sa.text("SELECT used_count FROM floor_invitations WHERE code = :c"), {"c": code}
            ).scalar_one()
            == 1
        )


def test_pairs_share_the_accepting_users_out_in_order():
    prepared = [bytes([n]) for n in range(10)]
    chunks = run.pair_chunks(prepared, 3)
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert b"".join(b"".join(c) for c in chunks) == b"".join(prepared)
    assert run.median([0.5, 0.2, 0.9]) == 0.5 and run.median([0.2, 0.4]) == pytest.approx(0.3)
