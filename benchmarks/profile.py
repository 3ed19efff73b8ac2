"""Profile Invites' hot paths in one process, with the bench's seed and prepared requests.

    python -m benchmarks.profile validate,dashboard [REQUESTS] [--sort tottime] [--top 40] [--off]

Seeds the demo company (10,000 invitations) in a temporary SQLite file with
production settings, signs the bench's sessions, replays each endpoint's
prepared requests (``benchmarks.run.build_requests``) through Flask's test
client under cProfile, and prints the CPU time per request and the profile.
``--off`` measures without the profiler (its overhead inflates Python calls).
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

from . import run
from .endpoints import by_name
from .sessions import signed_session


def replay(client, raw: bytes):
    """Send one prepared wrk request through the test client."""
    head, _, body = raw.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode().split("\r\n")
    method, path, _ = request_line.split(" ")
    headers = dict(line.split(": ", 1) for line in header_lines)
    cookie = headers.pop("Cookie", None)
    if cookie:
        name, _, value = cookie.partition("=")
        client.set_cookie(name, value)
    else:
        client.delete_cookie("session")
    for name in ("Host", "Content-Length"):
        headers.pop(name, None)
    return client.open(path, method=method, headers=headers, data=body, environ_base={"REMOTE_ADDR": "127.0.0.1"})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoints", help="comma-separated: validate,invite_page,dashboard,toggle,accept")
    parser.add_argument("requests", type=int, nargs="?", default=300)
    parser.add_argument("--sort", default="cumulative", help="pstats order (cumulative, tottime)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--off", action="store_true", help="time without the profiler")
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
    }
    with run.environment(settings):
        app = create_app()
    logging.getLogger("invites.request").setLevel(logging.WARNING)
    with app.app_context():
        upgrade(directory=str(run.REPO / "migrations"))
        data = demo.seed(10_000, args.requests + 200, 9, email_domain="profile.example.com")
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
    sessions = {
        "manager": [signed_session(app, uid, data.company_id) for uid in data.manager_ids],
        "ready": [signed_session(app, uid) for uid in data.ready_user_ids],
    }
    client = app.test_client()
    for endpoint in by_name(args.endpoints.split(",")):
        prepared = run.build_requests(endpoint, endpoint.paths[0], data, sessions, 80)
        if endpoint.mode == "once":  # accepts: each user once, the first ones to warm up
            warm, prepared = prepared[:200], prepared[200:]
        else:
            warm = prepared[:50]
        for raw in warm:
            replay(client, raw)
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
