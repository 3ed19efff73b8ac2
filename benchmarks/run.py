"""``make bench``: serve Invites and its floor with gunicorn, seed them, load them with wrk, report.

For each backend (SQLite, and PostgreSQL when ``TEST_DATABASE_URL`` or
``BENCH_DATABASE_URL`` is set) the harness:

1. creates a fresh database (a temporary SQLite file, or the ``bench`` database,
   dropped and recreated schema first), migrates it and seeds the demo company
   (``invites.demo``: 10,000 invitations, 1,000 users ready to accept);
2. signs a session cookie for every seeded user (``benchmarks.sessions``);
3. starts ``gunicorn app:app`` and the floor (``benchmarks/floor.py``, a bare
   Flask app doing the least each endpoint needs) with the same workers and
   threads (gthread workers, each taking an equal share of wrk's connections),
   production settings and ``RATELIMIT_ENABLED=false``;
4. per endpoint of ``benchmarks.endpoints``, runs wrk with ``lua/rotate.lua``
   against the floor, then Invites, then the floor again, … (``--pairs``), over
   the same prepared requests (users' cookies and codes rotating);
5. checks, after the accepts, that every invitation's ``used_count`` equals its
   redemptions and never exceeds ``max_uses``;
6. prints per endpoint both sides' requests/s, p95 and CPU per request, and
   the ratio Invites/floor (the median of the pairs' ratios: the figure that
   holds on a noisy machine), and writes it all as JSON under
   ``benchmarks/results/``.

Run ``python -m benchmarks.run --help`` for the knobs.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from werkzeug.exceptions import HTTPException

from . import servers
from .endpoints import Endpoint, by_name
from .sessions import USER_AGENT, SignedSession, signed_session

REPO = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "rotate.lua"
RESULTS = Path(__file__).resolve().parent / "results"
EMAIL_DOMAIN = "bench.example.com"
# gunicorn threads per worker: one. The work is CPU-bound Python on two cores shared
# with the database and wrk, and a worker's threads take turns on the GIL, also while
# one of them holds a write lock. On SQLite that lock is the database's only one and
# its busy handler makes the other writers sleep in growing steps (docs/performance.md).
THREADS = {"sqlite": 1, "postgresql": 1}
WORKER_CLASS = "gthread"  # also with one thread: keep-alive, and idle connections cost no thread
# The bare Flask app every endpoint is compared with (benchmarks/floor.py).
FLOOR_APP = "benchmarks.floor:create_app()"


# --- configuration -----------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=THREADS["postgresql"],
        help=f"gunicorn threads per worker on PostgreSQL (default {THREADS['postgresql']})",
    )
    parser.add_argument(
        "--sqlite-threads",
        type=int,
        default=THREADS["sqlite"],
        help=f"gunicorn threads per worker on SQLite (default {THREADS['sqlite']}: "
        'see docs/performance.md, "Workers and threads")',
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint (default 10)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="unrecorded seconds before an endpoint's first run on each server (default 2)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=3,
        help="runs of the floor and Invites, alternately, per endpoint (default 3); the ratio "
        "is the median of the pairs. Accepts: the ready users are shared out between the pairs",
    )
    parser.add_argument(
        "--connections", type=int, default=8, help="wrk connections, spread evenly over the workers (default 8)"
    )
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--invitations", type=int, default=10_000)
    parser.add_argument(
        "--users",
        type=int,
        default=3_000,
        help="users ready to accept (one accept each), shared out between the pairs (default 3,000)",
    )
    parser.add_argument("--admins", type=int, default=9)
    parser.add_argument(
        "--backends",
        default=None,
        help="comma-separated: sqlite,postgresql (default: sqlite, plus postgresql when "
        "TEST_DATABASE_URL or BENCH_DATABASE_URL is set)",
    )
    parser.add_argument("--endpoints", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="directory for the JSON results")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 if an endpoint is unavailable or answered any error"
    )
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    if args.connections < args.wrk_threads:
        parser.error("--connections must be at least --wrk-threads")
    for threads in (args.threads, args.sqlite_threads):
        if connections_per_worker(args.connections, args.workers) <= threads:
            parser.error(
                f"--connections {args.connections} over {args.workers} workers leaves each fewer connections "
                f"than {threads} threads plus one kept alive: raise --connections"
            )
    return args


def connections_per_worker(connections: int, workers: int) -> int:
    """Each worker's share of wrk's connections: its gunicorn ``worker_connections``.

    A gthread worker accepts every connection it can and keep-alive pins a
    connection to it: wrk opens all of its connections at once, and one of two
    workers took 29 of 32, leaving the other core idle. Capping each worker at
    its share spreads them as a load balancer would.
    """
    return -(-connections // workers)


def postgresql_url() -> str | None:
    """The benchmark database: BENCH_DATABASE_URL, or database ``bench`` next to the test one."""
    explicit = os.environ.get("BENCH_DATABASE_URL", "").strip()
    if explicit:
        return explicit
    test = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not test:
        return None
    return sa.engine.make_url(test).set(database="bench").render_as_string(hide_password=False)


def backends(args: argparse.Namespace) -> list[str]:
    if args.backends:
        chosen = [b.strip() for b in args.backends.split(",") if b.strip()]
        unknown = set(chosen) - {"sqlite", "postgresql"}
        if unknown:
            raise SystemExit(f"unknown backends: {', '.join(sorted(unknown))}")
        if "postgresql" in chosen and postgresql_url() is None:
            raise SystemExit("postgresql needs TEST_DATABASE_URL or BENCH_DATABASE_URL")
        return chosen
    return ["sqlite"] + (["postgresql"] if postgresql_url() else [])


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """Set environment variables for the block (the app reads its settings from them)."""
    saved = {name: os.environ.get(name) for name in servers.APP_VARIABLES}
    for name in servers.APP_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fresh_postgresql(url: str) -> None:
    """Create the bench database if needed and empty it; refuses any database not named *bench*."""
    target = sa.engine.make_url(url)
    if "bench" not in (target.database or ""):
        raise SystemExit(f"refusing to empty {target.database!r}: the benchmark database's name must contain 'bench'")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


# --- machine ---------------------------------------------------------------------


def machine() -> dict:
    """What the figures were measured on."""

    def first_line(command: list[str]) -> str:
        try:
            output = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (output.stdout or output.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    memory = cpu = "unknown"
    with contextlib.suppress(OSError):
        memory = next(line.split(":", 1)[1].strip() for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    import gunicorn

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "gunicorn": gunicorn.__version__,
        "wrk": first_line(["wrk", "-v"]),
        "load_average_at_start": os.getloadavg(),
    }


# --- requests ----------------------------------------------------------------------


def route_for(app, endpoint: Endpoint) -> str | None:
    """The first of the endpoint's paths that the app routes for its method, or None."""
    adapter = app.url_map.bind("127.0.0.1")
    for template in endpoint.paths:
        sample = template.replace("{code}", "sample-code").replace("{id}", "1")
        try:
            adapter.match(sample, method=endpoint.method)
        except HTTPException:
            continue
        return template
    return None


def build_requests(endpoint: Endpoint, path: str, data, sessions: dict, port: int) -> list[bytes]:
    """Every request of the run, complete: one per user/code pair, as wrk will send them."""
    people: list[SignedSession | None] = {"ready": sessions["ready"], "manager": sessions["manager"]}.get(
        endpoint.who, [None]
    )
    if endpoint.items == "accept":
        items = [data.accept_code(n) for n in range(len(data.ready_user_ids))]
    elif endpoint.items == "usable_codes":
        items = data.usable_codes
    elif endpoint.items == "toggle_ids":
        items = [str(i) for i in data.toggle_ids]
    else:
        items = [""]
    if not items or not people:
        raise RuntimeError(f"{endpoint.name}: the seed holds nothing to rotate ({endpoint.items}, {endpoint.who})")
    count = len(items) if endpoint.mode == "once" else max(len(items), len(people))
    twice = bool(endpoint.body and "{active}" in endpoint.body)
    if twice:  # pause every item, then start them again: the run can cycle for ever
        count = 2 * len(items)
    requests = []
    for k in range(count):
        person, item = people[k % len(people)], items[k % len(items)]
        active = "1" if twice and k >= len(items) else "0"
        target = path.replace("{code}", item).replace("{id}", item)
        headers = [f"Host: 127.0.0.1:{port}", f"User-Agent: {USER_AGENT}", "Accept: */*"]
        if person is not None:
            headers.append(f"Cookie: {person.cookie_header}")
            if endpoint.csrf:
                headers.append(f"X-CSRFToken: {person.csrf_token}")
        headers += [f"{name}: {value}" for name, value in endpoint.headers.items()]
        body = endpoint.body.replace("{code}", item).replace("{active}", active) if endpoint.body else ""
        if endpoint.method != "GET":
            headers.append(f"Content-Length: {len(body.encode())}")
        if body:
            headers.append(f"Content-Type: {endpoint.content_type}")
        raw = f"{endpoint.method} {target} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n" + body
        requests.append(raw.encode())
    return requests


def write_requests(path: Path, requests: list[bytes]) -> None:
    with open(path, "wb") as file:
        for raw in requests:
            file.write(b"%d\n" % len(raw) + raw)


# --- wrk -----------------------------------------------------------------------------


def wrk(url: str, requests_file: Path, mode: str, args: argparse.Namespace, seconds: int, done_dir: Path) -> dict:
    """Run wrk with rotate.lua; return its BENCH_RESULT. ``once`` runs end when every thread is done."""
    command = [
        "wrk",
        "-t",
        str(args.wrk_threads),
        "-c",
        str(args.connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(requests_file),
        mode,
        str(args.wrk_threads),
        str(done_dir),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if mode == "once":
        # wrk itself always sleeps for -d: once every thread has answered all its
        # requests, SIGINT ends the wait (wrk's own handler), and it reports.
        while process.poll() is None and len(list(done_dir.iterdir())) < args.wrk_threads:
            time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate()
    line = next((l for l in stdout.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{stdout}\n{stderr}")
    return json.loads(line.removeprefix("BENCH_RESULT "))


def summarise(raw: dict, mode: str) -> dict:
    """Requests/s, latency in ms and errors from wrk's numbers and the script's status counts."""
    statuses: dict[str, int] = {}
    for thread in raw["threads"]:
        for status, n in thread["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    answered = sum(statuses.values())
    non_2xx = sum(n for status, n in statuses.items() if not 200 <= int(status) <= 299)
    socket_errors = sum(raw["socket_errors"].values())
    if mode == "once":
        started = min(t["first_us"] for t in raw["threads"] if t["first_us"])
        ended = max(t["last_us"] for t in raw["threads"])
        seconds = max(ended - started, 1) / 1e6
    else:
        seconds = raw["duration_us"] / 1e6
    latency = {k: round(v / 1000, 2) for k, v in raw["latency_us"].items()}
    samples = [t["error_sample"] for t in raw["threads"] if t["error_sample"]]
    return {
        "status": "measured",
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "requests_per_second": round(raw["requests"] / seconds, 1),
        "latency_ms": latency,
        "errors": non_2xx + socket_errors,
        "non_2xx": non_2xx,
        "socket_errors": raw["socket_errors"],
        "statuses": dict(sorted(statuses.items())),
        "answered_by_script": answered,
        "error_sample": samples[0][:300] if samples else None,
    }


# --- one backend --------------------------------------------------------------------


def get(instance: servers.Instance, path: str, person: SignedSession | None) -> tuple[int, dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=30)
    headers = {"User-Agent": USER_AGENT}
    if person is not None:
        headers["Cookie"] = person.cookie_header
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read().decode(errors="replace")
    connection.close()
    return response.status, dict(response.getheaders()), body


def check_sessions(instance: servers.Instance, sessions: dict) -> None:
    """The signed cookies must log their users in; otherwise every number would be a redirect."""
    for kind, path in (("ready", "/dashboard"), ("manager", "/dashboard/company")):
        status, headers, _ = get(instance, path, sessions[kind][0])
        if status != 200:
            raise RuntimeError(f"a {kind} session got {status} {headers.get('Location', '')} from {path}")


def check_floor(instance: servers.Instance, sessions: dict) -> None:
    """The floor reads the same cookies, and refuses a request without one as Invites does."""
    signed, _, _ = get(instance, "/dashboard/company", sessions["manager"][0])
    anonymous, _, _ = get(instance, "/dashboard/company", None)
    if (signed, anonymous) != (200, 401):
        raise RuntimeError(f"the floor answered {signed} with a manager's session and {anonymous} without one")


def invariants(app, data, accepted_2xx: int | None) -> dict:
    """used_count = redemptions <= max_uses for every invitation; accepts = new redemptions."""
    from invites.extensions import db
    from invites.models import Invitation, Membership, Redemption

    with app.app_context():
        rows = db.session.execute(
            sa.select(Invitation.id, Invitation.used_count, Invitation.max_uses, sa.func.count(Redemption.id))
            .outerjoin(Redemption, Redemption.invitation_id == Invitation.id)
            .group_by(Invitation.id, Invitation.used_count, Invitation.max_uses)
        ).all()
        ready = data.ready_user_ids
        new_redemptions = db.session.scalar(
            sa.select(sa.func.count()).select_from(Redemption).where(Redemption.user_id.in_(ready))
        )
        new_memberships = db.session.scalar(
            sa.select(sa.func.count()).select_from(Membership).where(Membership.user_id.in_(ready))
        )
        db.session.remove()
    result = {
        "invitations": len(rows),
        "used_count_not_equal_redemptions": sum(1 for r in rows if r[1] != r[3]),
        "used_count_above_max_uses": sum(1 for r in rows if r[1] > r[2]),
        "accepts_answered_2xx": accepted_2xx,
        "new_redemptions": new_redemptions,
        "new_memberships": new_memberships,
    }
    result["ok"] = (
        result["used_count_not_equal_redemptions"] == 0
        and result["used_count_above_max_uses"] == 0
        and (accepted_2xx is None or accepted_2xx == new_redemptions == new_memberships)
    )
    return result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def check_page(instance: servers.Instance, endpoint: Endpoint, path: str, data, sessions: dict) -> list[str]:
    """A route can exist as a placeholder (or a floor can cut corners): check the page is the real one."""
    if endpoint.method != "GET" or (endpoint.cards is None and not endpoint.shows):
        return []
    notes = []
    sample = path.replace("{code}", data.usable_codes[0])
    person = sessions["manager"][0] if endpoint.who == "manager" else None
    _, _, body = get(instance, sample, person)
    cards = len(re.findall(r'id="invitation-\d+"', body))
    if endpoint.cards is not None and cards != endpoint.cards:
        notes.append(f"shows {cards} invitation cards, expected {endpoint.cards}")
    expected = (endpoint.shows or "").replace("{company}", data.company_name)
    if expected and expected not in body:
        notes.append(f"does not show {expected!r}: a placeholder?")
    return notes


def measure(
    instance: servers.Instance,
    endpoint: Endpoint,
    prepared: list[bytes],
    args: argparse.Namespace,
    work: Path,
    label: str,
    warmup: bool,
) -> dict:
    """One wrk run of ``prepared`` against ``instance`` (after a warm-up if asked): its summary."""
    requests_file = work / f"{label}.requests"
    write_requests(requests_file, prepared)
    if warmup and endpoint.mode == "cycle" and args.warmup:
        warm = work / f"{label}.warmup"
        warm.mkdir()
        wrk(instance.url, requests_file, "cycle", args, args.warmup, warm)
    done_dir = work / f"{label}.done"
    done_dir.mkdir()
    if endpoint.mode == "cycle":
        seconds = args.duration
    else:
        # Ends when every request is answered; this only caps a run that lost
        # answers (a socket error drops its request), assuming >= 20 req/s.
        seconds = max(args.duration, 60 + len(prepared) // 20)
    load_before, cpu_before = os.getloadavg(), instance.cpu_seconds()
    result = summarise(wrk(instance.url, requests_file, endpoint.mode, args, seconds, done_dir), endpoint.mode)
    cpu_after = instance.cpu_seconds()
    result["load_average_before"] = [round(x, 2) for x in load_before]
    if cpu_before is not None and cpu_after is not None and result["requests"]:
        # Includes the answers wrk's last moments left unmeasured: a slight overestimate.
        result["server_cpu_ms_per_request"] = round((cpu_after - cpu_before) * 1000 / result["requests"], 2)
    if endpoint.mode == "once" and result["answered_by_script"] != len(prepared):
        result["notes"] = [f"incomplete: {result['answered_by_script']} of {len(prepared)} requests answered"]
    return result


def side_summary(runs: list[dict]) -> dict:
    """One server's runs of an endpoint: medians of requests/s, p95 and CPU, errors summed."""
    cpu = [r["server_cpu_ms_per_request"] for r in runs if "server_cpu_ms_per_request" in r]
    return {
        "requests_per_second": round(median([r["requests_per_second"] for r in runs]), 1),
        "p95_ms": round(median([r["latency_ms"]["p95"] for r in runs]), 2),
        "cpu_ms_per_request": round(median(cpu), 2) if cpu else None,
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
    }


def pair_chunks(prepared: list[bytes], pairs: int) -> list[list[bytes]]:
    """``once`` runs (accept): each pair gets its own share of the users, in order."""
    size = -(-len(prepared) // pairs)
    return [prepared[k * size : (k + 1) * size] for k in range(pairs)]


def run_backend(backend: str, args: argparse.Namespace, endpoints: tuple[Endpoint, ...], stamp: str) -> dict:
    from flask_migrate import upgrade

    from invites import create_app, demo
    from invites.extensions import db

    from . import floor

    report: dict = {"endpoints": {}}
    with tempfile.TemporaryDirectory(prefix=f"invites-bench-{backend}-") as work_dir:
        work = Path(work_dir)
        if backend == "postgresql":
            url = postgresql_url()
            fresh_postgresql(url)
        else:
            url = f"sqlite:///{work / 'bench.sqlite3'}"
        settings = {
            "INVITES_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            # Production requires it, and answers only to its host (wrk sends Host: 127.0.0.1:port).
            "PUBLIC_URL": "http://127.0.0.1",
            "DATABASE_URL": url,
            "RATELIMIT_ENABLED": "false",
            # Production requires a mail setting; the benchmarks print emails instead of sending them.
            "MAIL_URL": "console://",
        }
        with environment(settings):
            app = create_app()
        print(
            f"[{backend}] migrating and seeding {args.invitations} invitations, {args.users} ready users …", flush=True
        )
        with app.app_context():
            upgrade(directory=str(REPO / "migrations"))
            started = time.perf_counter()
            data = demo.seed(args.invitations, args.users, args.admins, email_domain=EMAIL_DOMAIN)
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
            report["seed_seconds"] = round(time.perf_counter() - started, 2)
            if backend == "postgresql":
                report["server_version"] = db.session.scalar(sa.text("SHOW server_version"))
            db.session.remove()
            floor.prepare(db.engine)
        report["seed"] = {
            "invitations": dict(data.states),
            "members": data.members,
            "ready_users": len(data.ready_user_ids),
            "managers": len(data.manager_ids),
            "usable_codes": len(data.usable_codes),
            "toggle_invitations": len(data.toggle_ids),
            "event_links": len(data.event_codes),
        }
        started = time.perf_counter()
        sessions = {
            "manager": [signed_session(app, uid, data.company_id) for uid in data.manager_ids],
            "ready": [signed_session(app, uid) for uid in data.ready_user_ids],
        }
        report["session_signing_seconds"] = round(time.perf_counter() - started, 2)

        threads = args.sqlite_threads if backend == "sqlite" else args.threads
        report["gunicorn"] = {
            "workers": args.workers,
            "threads": threads,
            "worker_class": WORKER_CLASS,
            "worker_connections": connections_per_worker(args.connections, args.workers),
            "config": "gunicorn.conf.py (access log on) and the app's request log, as in production; "
            "the floor under the same settings",
        }
        report["pairs"] = args.pairs
        print(
            f"[{backend}] starting gunicorn for Invites and the floor: {args.workers} workers × {threads} threads",
            flush=True,
        )
        servers_by_side: dict[str, servers.Instance] = {}
        try:
            for side, spec in (("floor", FLOOR_APP), ("invites", "app:app")):
                servers_by_side[side] = servers.start(
                    settings,
                    workers=args.workers,
                    threads=threads,
                    log_path=args.output / f"{stamp}-{backend}-{side}-gunicorn.log",
                    app_spec=spec,
                    worker_class=WORKER_CLASS,
                    worker_connections=report["gunicorn"]["worker_connections"],
                )
            check_sessions(servers_by_side["invites"], sessions)
            check_floor(servers_by_side["floor"], sessions)
            accepted_2xx = None
            for endpoint in endpoints:
                path = route_for(app, endpoint)
                if path is None:
                    report["endpoints"][endpoint.name] = {
                        "status": "unavailable",
                        "note": f"no route for {endpoint.method} {' or '.join(endpoint.paths)} yet (issue {endpoint.issue})",
                    }
                    print(f"[{backend}] {endpoint.name}: unavailable (issue {endpoint.issue})", flush=True)
                    continue
                prepared = {
                    side: build_requests(endpoint, path, data, sessions, instance.port)
                    for side, instance in servers_by_side.items()
                }
                notes = [
                    f"{side}: {note}"
                    for side, instance in servers_by_side.items()
                    for note in check_page(instance, endpoint, path, data, sessions)
                ]
                if endpoint.mode == "once":
                    chunks = {side: pair_chunks(p, args.pairs) for side, p in prepared.items()}
                else:
                    chunks = {side: [p] * args.pairs for side, p in prepared.items()}
                print(
                    f"[{backend}] {endpoint.name}: {endpoint.method} {path}, floor and Invites "
                    f"alternately, {args.pairs} pairs …",
                    flush=True,
                )
                pairs = []
                for k in range(args.pairs):
                    pair = {}
                    for side in ("floor", "invites"):
                        pair[side] = measure(
                            servers_by_side[side],
                            endpoint,
                            chunks[side][k],
                            args,
                            work,
                            f"{endpoint.name}-{side}-{k}",
                            warmup=k == 0,
                        )
                        notes += [f"{side} run {k + 1}: {note}" for note in pair[side].pop("notes", [])]
                    floor_rps = pair["floor"]["requests_per_second"]
                    pair["ratio"] = round(pair["invites"]["requests_per_second"] / floor_rps, 3) if floor_rps else None
                    pairs.append(pair)
                ratios = [p["ratio"] for p in pairs if p["ratio"] is not None]
                result = {
                    "status": "measured",
                    "path": path,
                    "method": endpoint.method,
                    "mode": endpoint.mode,
                    "ratio": round(median(ratios), 3) if ratios else None,
                    "ratios": ratios,
                    "floor": side_summary([p["floor"] for p in pairs]),
                    "invites": side_summary([p["invites"] for p in pairs]),
                    "pairs": pairs,
                }
                floor_cpu, invites_cpu = result["floor"]["cpu_ms_per_request"], result["invites"]["cpu_ms_per_request"]
                # The same comparison in gunicorn's CPU per request: the floor's over Invites'.
                result["cpu_ratio"] = round(floor_cpu / invites_cpu, 3) if floor_cpu and invites_cpu else None
                if notes:
                    result["notes"] = notes
                report["endpoints"][endpoint.name] = result
                if endpoint.name == "accept":
                    accepted_2xx = sum(
                        n for p in pairs for s, n in p["invites"]["statuses"].items() if 200 <= int(s) <= 299
                    )
            report["invariants"] = invariants(app, data, accepted_2xx)
        finally:
            for instance in servers_by_side.values():
                instance.stop()
            with app.app_context():
                db.engine.dispose()
        report["gunicorn_logs"] = [str(i.log_path) for i in servers_by_side.values()]
    return report


# --- report ---------------------------------------------------------------------------


def print_report(results: dict) -> None:
    header = (
        f"{'backend':<11}{'endpoint':<13}{'floor r/s':>10}{'p95 ms':>8}{'Invites r/s':>12}{'p95 ms':>8}"
        f"{'ratio':>7}  {'ratios of the pairs':<22}{'errors':>7}{'cpu ms floor/Invites':>21}{'cpu ratio':>10}  note"
    )
    print()
    print("ratio: Invites' requests/s over the floor's, median of the pairs (each pair: floor, then Invites);")
    print("req/s, p95 and cpu ms (gunicorn's CPU per request): medians of the runs; errors: Invites' and the floor's;")
    print("cpu ratio: the floor's cpu ms over Invites'")
    print(header)
    print("-" * len(header))
    for backend, report in results["backends"].items():
        for name, r in report["endpoints"].items():
            if r["status"] != "measured":
                print(
                    f"{backend:<11}{name:<13}{'-':>10}{'-':>8}{'-':>12}{'-':>8}{'-':>7}  {'':<22}{'-':>7}{'-':>21}{'-':>10}  {r['note']}"
                )
                continue
            f, i = r["floor"], r["invites"]
            note = "; ".join(r.get("notes", []))
            errors = f["errors"] + i["errors"]
            if errors:
                samples = [
                    p[s]["error_sample"] for p in r["pairs"] for s in ("invites", "floor") if p[s]["error_sample"]
                ]
                note = (note + "; " if note else "") + f"first error: {samples[0]!r}"[:160] if samples else note
            ratios = " ".join(f"{x:.2f}" for x in r["ratios"])
            cpu = f"{f['cpu_ms_per_request'] or '-'}/{i['cpu_ms_per_request'] or '-'}"
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
            cpu_ratio = f"{r['cpu_ratio']:.2f}" if r.get("cpu_ratio") is not None else "-"
            print(
                f"{backend:<11}{name:<13}{f['requests_per_second']:>10.1f}{f['p95_ms']:>8.2f}"
                f"{i['requests_per_second']:>12.1f}{i['p95_ms']:>8.2f}{ratio:>7}  {ratios:<22}{errors:>7}{cpu:>21}{cpu_ratio:>10}  {note}"
            )
        inv = report.get("invariants")
        if inv:
            verdict = "OK" if inv["ok"] else "BROKEN"
            print(
                f"{backend:<11}invariants {verdict}: {inv['invitations']} invitations, used_count ≠ redemptions: "
                f"{inv['used_count_not_equal_redemptions']}, used_count > max_uses: {inv['used_count_above_max_uses']}, "
                f"accepts answered 2xx: {inv['accepts_answered_2xx']}, new redemptions: {inv['new_redemptions']}, "
                f"new memberships: {inv['new_memberships']}"
            )
    print()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (make bench does it)", file=sys.stderr)
        return 2
    endpoints = by_name([n.strip() for n in args.endpoints.split(",")] if args.endpoints else None)
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = {
        "started_at": stamp,
        "machine": machine(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "backends": {},
    }
    failed = False
    for backend in backends(args):
        try:
            results["backends"][backend] = run_backend(backend, args, endpoints, stamp)
        except Exception as exc:  # report what was measured, then fail
            results["backends"][backend] = {"endpoints": {}, "error": f"{type(exc).__name__}: {exc}"}
            print(f"[{backend}] FAILED: {exc}", file=sys.stderr)
            failed = True
    results["machine"]["load_average_at_end"] = os.getloadavg()
    path = args.output / f"bench-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    print(f"results: {path}")
    for report in results["backends"].values():
        if report.get("invariants", {}).get("ok") is False:
            failed = True
        if args.strict and any(
            r["status"] != "measured" or r["floor"]["errors"] or r["invites"]["errors"]
            for r in report["endpoints"].values()
        ):
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
