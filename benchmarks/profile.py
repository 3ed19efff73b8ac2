"""Profile Invites' hot paths in one process, with the bench's seed and prepared requests.

    python -m benchmarks.profile validate,dashboard [REQUESTS] [--sort tottime] [--top 40] [--off] [--floor]

Seeds the demo company (10,000 invitations) in a temporary SQLite file with
production settings, as ``make bench`` does (``PUBLIC_URL``, ``MAIL_URL``,
``RATELIMIT_ENABLED=false``), signs the bench's sessions, replays each
endpoint's prepared requests (``benchmarks.run.build_requests``) through
Flask's test client under cProfile, and prints the CPU time per request and
the profile. ``--off`` measures without the profiler (its overhead inflates
Python calls). ``--floor`` also replays the same requests on the floor
(``benchmarks/floor.py``) and prints its CPU per request and the CPU ratio
floor/Invites: a quick, in-process estimate of what ``make bench`` measures
(best of ``--rounds``, alternating the two apps).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from . import floor, run
from .endpoints import by_name
from .sessions import signed_session


def replay(client, raw: bytes):
    """Send one prepared wrk request through the test client."""
    head, _, body = raw.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode().split("\r\n")
    method, path, _ = request_line.split(" ")
    headers = dict(line.split(": ", 1) for line in header_lines)
    # The prepared Cookie header goes as it is (clients are made with use_cookies=False).
    for name in ("Host", "Content-Length"):
        headers.pop(name, None)
    return client.open(
        path,
        method=method,
        headers=headers,
        data=body,
        base_url="http://127.0.0.1",  # production answers only to PUBLIC_URL's host
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )


def cpu_per_request(client, prepared: list[bytes], count: int) -> float:
    """Milliseconds of this process's CPU per request, over ``count`` of ``prepared``."""
    started = time.process_time()
    for k in range(count):
        response = replay(client, prepared[k % len(prepared)])
        assert response.status_code < 300, response.get_data(as_text=True)[:300]
    return (time.process_time() - started) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoints", help="comma-separated: validate,invite_page,dashboard,toggle,accept")
    parser.add_argument("requests", type=int, nargs="?", default=300)
    parser.add_argument("--sort", default="cumulative", help="pstats order (cumulative, tottime)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--off", action="store_true", help="time without the profiler")
    parser.add_argument("--floor", action="store_true", help="time the floor too, and give the CPU ratio")
    parser.add_argument("--rounds", type=int, default=3, help="with --floor: alternations of floor and Invites")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from invites import create_app, demo
    from invites.extensions import db

    work = Path(tempfile.mkdtemp(prefix="invites-profile-"))
    settings = {
        "INVITES_ENV": "production",
        "SECRET_KEY": "p" * 64,
        "RATELIMIT_ENABLED": "false",
        "DATABASE_URL": f"sqlite:///{work / 'profile.sqlite3'}",
        "PUBLIC_URL": "http://127.0.0.1",
        "MAIL_URL": "console://",
    }
    with run.environment(settings):
        app = create_app()
    logging.getLogger("invites.request").setLevel(logging.WARNING)
    with app.app_context():
        upgrade(directory=str(run.REPO / "migrations"))
        rounds = args.rounds + 1 if args.floor else 1
        data = demo.seed(10_000, args.requests * rounds + 200, 9, email_domain="profile.example.com")
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        floor.prepare(db.engine)
    with run.environment(settings):
        floor_client = floor.create_app().test_client(use_cookies=False)
    sessions = {
        "manager": [signed_session(app, uid, data.company_id) for uid in data.manager_ids],
        "ready": [signed_session(app, uid) for uid in data.ready_user_ids],
    }
    client = app.test_client(use_cookies=False)
    for endpoint in by_name(args.endpoints.split(",")):
        prepared = run.build_requests(endpoint, endpoint.paths[0], data, sessions, 80)
        if endpoint.mode == "once":  # accepts: each user once, the first ones to warm up
            warm, prepared = prepared[:200], prepared[200:]
        else:
            warm = prepared[:50]
        for raw in warm:
            replay(client, raw)
        if args.floor:
            for raw in warm:
                replay(floor_client, raw)
            floor_ms, invites_ms = [], []
            for r in range(args.rounds):
                # Accepts: each user once on Invites' side; the floor counts on its own table.
                part = prepared[r * args.requests :] if endpoint.mode == "once" else prepared
                floor_ms.append(cpu_per_request(floor_client, part, args.requests))
                invites_ms.append(cpu_per_request(client, part, args.requests))
            if endpoint.mode == "once":
                prepared = prepared[args.rounds * args.requests :]
            print(
                f"== {endpoint.name}: CPU ms per request, best of {args.rounds}: floor {min(floor_ms):.3f},"
                f" Invites {min(invites_ms):.3f}, CPU ratio {min(floor_ms) / min(invites_ms):.2f}"
            )
        profile = cProfile.Profile()
        started = time.process_time()
        if not args.off:
            profile.enable()
        for k in range(args.requests):
            response = replay(client, prepared[k % len(prepared)])
            assert response.status_code < 300, response.get_data(as_text=True)[:300]
        profile.disable()
        per_request = (time.process_time() - started) / args.requests * 1000
        print(
            f"== {endpoint.name}: {per_request:.3f} ms CPU per request"
            f" ({'without' if args.off else 'with'} the profiler)"
        )
        if not args.off:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
