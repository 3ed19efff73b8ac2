"""Issue 15, hardening: deep JSON, a database that stops answering, links that ignore a
forged Host, caching, oversized forms. The gunicorn halves are in ``test_gunicorn.py``."""

from __future__ import annotations

import io
import logging
import re
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from invites import DATABASE_CONNECT_TIMEOUT, DATABASE_STATEMENT_TIMEOUT, create_app
from invites.extensions import db, limiter

from .api_helpers import ACCEPT, CREATE, LIST, LOGIN, VALIDATE, api_login
from .conftest import REDIS_KEY_PATTERN, TEST_REDIS_URL, base_config, fresh_app
from .invitation_helpers import new_invitation
from .test_limits import limited_app_with

ROOT = Path(__file__).resolve().parent.parent
DEEP = "[" * 3000 + "]" * 3000
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"}


def gunicorn_settings() -> dict:
    """The settings ``gunicorn.conf.py`` makes (under the current environment)."""
    settings: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), settings)
    return settings


def run_within(seconds: float, call):
    """``call()``'s result, failing (instead of hanging the suite) if it takes longer than ``seconds``."""
    outcome: list = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    assert not worker.is_alive(), f"no answer within {seconds} s"
    assert outcome, "the call raised (see the thread's traceback above)"
    return outcome[0], time.monotonic() - started


# --- 1. deeply nested JSON ---------------------------------------------------------


@pytest.fixture
def limited_app(app, database_url):
    """Limits on (in memory): the key functions run on every limited request."""
    with limited_app_with(database_url) as limited:
        yield limited


@pytest.mark.parametrize("path", [LOGIN, CREATE, VALIDATE, ACCEPT])
def test_deep_json_to_the_api_is_400_with_the_usual_error(limited_app, path):
    from .conftest import Factory

    Factory(limited_app).company("Acme", owner_email="boss@example.com")
    client = limited_app.test_client()
    api_login(client, "boss@example.com", "correct horse battery")
    response = client.post(path, data=DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": "The body is not valid JSON."}


@pytest.mark.parametrize("body", [DEEP, "[1]", '"email"', "[[1, 2]]"], ids=["deep", "list", "string", "pairs"])
def test_json_that_is_not_an_object_to_the_login_page_is_400(app, database_url, body, caplog):
    """With a valid CSRF token in the header: Flask-WTF reads JSON bodies as forms."""
    with limited_app_with(database_url, WTF_CSRF_ENABLED=True) as limited:
        client = limited.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        with caplog.at_level(logging.WARNING):
            response = client.post("/login", data=body, content_type="application/json", headers={"X-CSRFToken": token})
        assert response.status_code == 400
        assert "The request could not be understood." in response.get_data(as_text=True)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/company/new", {"name": 5}),
        ("/company/new", {"name": ["Acme", "Globex"]}),
        ("/company/switch", {"company_id": "1", "next": {"a": 1}}),
        ("/company/switch", {"company_id": "1", "next": 5}),
        ("/register", {"name": True, "email": "x@example.com", "password": "long enough", "confirm": "long enough"}),
        ("/dashboard/company/invitations", {"label": 5, "max_uses": "1", "expires_in_days": "7"}),
        ("/dashboard/company/invitations", {"email": ["a@example.com"], "max_uses": "1", "expires_in_days": "7"}),
    ],
)
def test_json_values_that_are_no_form_text_to_a_page_are_400_and_store_nothing(app, client, make, auth, path, body):
    """A form sends text: a JSON object of numbers, booleans, lists or objects read as one
    (Flask-WTF reads JSON bodies as forms) was a 500 (``len(5)``, ``{}.startswith``)."""
    company, _ = make.company("Acme", owner_email="boss@example.com")
    if path != "/register":
        auth.login("boss@example.com")
    before = {table: count_rows(app, table) for table in ("companies", "users", "company_invitations")}
    response = client.post(path, json=body, headers=HX if "dashboard" in path else {})
    assert response.status_code == 400
    assert "The request could not be understood." in response.get_data(as_text=True)
    assert {table: count_rows(app, table) for table in before} == before


@pytest.mark.parametrize(
    "path, field",
    [("/company/new", "name"), ("/company/switch", "next"), ("/dashboard/company/invitations", "label")],
)
def test_a_file_sent_for_a_field_of_a_page_is_400_and_stores_nothing(app, client, make, auth, path, field):
    """No page takes a file, but Flask-WTF reads uploaded files as fields: a file for the
    company's name or for ``next`` was a 500 (``len(FileStorage)``, ``….startswith``)."""
    make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    before = {table: count_rows(app, table) for table in ("companies", "company_invitations")}
    data = {"company_id": "1", "max_uses": "1", "expires_in_days": "7", field: (io.BytesIO(b"Globex"), "name.txt")}
    response = client.post(path, data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "The request could not be understood." in response.get_data(as_text=True)
    assert {table: count_rows(app, table) for table in before} == before


def count_rows(app, table: str) -> int:
    with app.app_context():
        return db.session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.mark.redis
def test_deep_json_leaves_the_login_limit_counted_in_redis(app, database_url, test_redis):
    """Flask-Limiter takes an error in a key function for a dead storage: before the fix,
    one deep body moved the process's limits from Redis into its memory."""
    email = "target@example.com"
    try:
        with limited_app_with(
            database_url,
            RATELIMIT_STORAGE_URI=TEST_REDIS_URL,
            RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        ) as redis_app:
            client = redis_app.test_client()
            assert client.post(LOGIN, data=DEEP, content_type="application/json").status_code == 400
            assert client.post("/login", data=DEEP, content_type="application/json").status_code == 400
            statuses = [
                client.post(LOGIN, json={"email": email, "password": "wrong password"}).status_code for _ in range(4)
            ]
            assert statuses == [401, 401, 401, 429]  # RATELIMIT_LOGIN_PER_EMAIL: 3 per hour
            counters = {
                key.decode(): int(test_redis.get(key))
                for key in test_redis.scan_iter(REDIS_KEY_PATTERN)
                if b"/email:" in key
            }
            assert list(counters.values()) == [3], counters
    finally:
        limiter._storage_dead = False


# --- 2. a database that accepts and never answers ----------------------------------


@pytest.fixture
def silent_database():
    """A PostgreSQL URL whose server accepts connections and never says a word."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_hold():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    listener = threading.Thread(target=accept_and_hold, daemon=True)
    listener.start()
    yield f"postgresql+psycopg://postgres@127.0.0.1:{server.getsockname()[1]}/invites"
    stop.set()
    listener.join()
    for connection in held:
        connection.close()
    server.close()


@pytest.fixture
def silent_app(app, silent_database):
    broken = create_app(
        {**base_config(silent_database), "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}
    )
    yield broken
    with broken.app_context():
        db.engine.dispose()


def test_database_waits_are_bounded_below_gunicorns_worker_timeout():
    timeout = gunicorn_settings()["timeout"]
    assert DATABASE_CONNECT_TIMEOUT < 5
    assert DATABASE_STATEMENT_TIMEOUT < timeout


def test_healthz_answers_503_within_5_seconds_when_the_database_is_silent(silent_app, caplog):
    with caplog.at_level(logging.WARNING):
        response, elapsed = run_within(8, lambda: silent_app.test_client().get("/healthz"))
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    assert elapsed < 5


def test_api_answers_503_json_with_retry_after_when_the_database_is_silent(silent_app, caplog):
    client = silent_app.test_client()
    with caplog.at_level(logging.WARNING):
        response, elapsed = run_within(
            8, lambda: client.post(LOGIN, json={"email": "a@example.com", "password": "whatever it is"})
        )
    assert response.status_code == 503
    assert response.get_json() == {"error": "The service is temporarily unavailable"}
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < 5
    assert "Database unavailable on POST /api/auth/login (OperationalError)" in caplog.text
    assert "Traceback" not in caplog.text


def test_signed_in_requests_answer_503_after_one_wait(silent_app, caplog):
    """The limits' key functions load the user too; the error they meet is raised by the
    view, once, and the limits stay where they were (not switched to memory)."""
    client = silent_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:any-session-token"  # <id>:<session token>, as get_id writes it
        session["_fresh"] = True
    with caplog.at_level(logging.WARNING):
        for path, body in ((VALIDATE, {"code": "x" * 32}), (CREATE, {})):
            response, elapsed = run_within(8, lambda: client.post(path, json=body))
            assert response.status_code == 503, path
            assert response.get_json() == {"error": "The service is temporarily unavailable"}
            assert elapsed < DATABASE_CONNECT_TIMEOUT * 1.8, f"{path} waited for the database twice"
        response, _ = run_within(8, lambda: client.get(LIST))
        assert response.status_code == 503
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_pages_answer_a_503_page_when_the_database_is_silent(silent_app, caplog):
    client = silent_app.test_client()
    with caplog.at_level(logging.WARNING):
        response, elapsed = run_within(
            8, lambda: client.post("/login", data={"email": "a@example.com", "password": "whatever it is"})
        )
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "<h1>503</h1>" in page and "The service is temporarily unavailable" in page
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < 5
    assert "Traceback" not in caplog.text


@contextmanager
def database_locked(database_url: str):
    """Another session holds the write lock (SQLite) or the invitations table (PostgreSQL)."""
    if database_url.startswith("sqlite"):
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    else:
        holder = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))
        holder.execute("LOCK TABLE company_invitations IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            holder.rollback()
            holder.close()


def test_a_write_that_waits_for_a_lock_gives_up_with_503(app, database_url, caplog):
    """SQLite's busy timeout and PostgreSQL's statement timeout, both set from
    DATABASE_STATEMENT_TIMEOUT (here 1 s): the request answers instead of hanging."""
    from .conftest import Factory

    with fresh_app(database_url, DATABASE_STATEMENT_TIMEOUT=1) as short:
        Factory(short).company("Acme", owner_email="boss@example.com")
        client = short.test_client()
        api_login(client, "boss@example.com", "correct horse battery")
        with database_locked(database_url), caplog.at_level(logging.WARNING):
            response, elapsed = run_within(10, lambda: client.post(CREATE, json={"maxUses": 2}))
            assert response.status_code == 503, response.get_data(as_text=True)
            assert response.get_json() == {"error": "The service is temporarily unavailable"}
            assert int(response.headers["Retry-After"]) > 0
            assert elapsed < 5
            page, _ = run_within(
                10,
                lambda: client.post("/dashboard/company/invitations", data={"max_uses": "2", "expires_in_days": "7"}),
            )
            assert page.status_code == 503
            assert "<h1>503</h1>" in page.get_data(as_text=True)
        assert "Traceback" not in caplog.text
        # The lock gone, the same request works.
        assert client.post(CREATE, json={"maxUses": 2}).status_code == 201


# --- 3. links and hosts --------------------------------------------------------------


FORGED = {"Host": "evil.example"}


def forged(client):
    """A client that sends a forged ``Host`` with ``client``'s session cookie (which the
    test client would only send to localhost), and the headers to do it."""
    bare = client.application.test_client(use_cookies=False)
    return bare, {**FORGED, "Cookie": f"session={client.get_cookie('session').value}"}


def test_without_public_url_links_ignore_a_forged_host(client, make, auth):
    make.company("Acme", owner_email="boss@example.com")
    api_login(client, "boss@example.com", "correct horse battery")
    bare, headers = forged(client)
    created = bare.post(CREATE, json={}, headers=headers)
    assert created.status_code == 201
    url = created.get_json()["invitation"]["url"]
    assert url.startswith("http://localhost")
    assert "evil.example" not in url
    auth.login("boss@example.com")
    bare, headers = forged(client)
    page = bare.get("/dashboard/company", headers=headers).get_data(as_text=True)
    assert "/invite/" in page and "evil.example" not in page
    # A loopback host is used as it is (development: ``flask run`` on 127.0.0.1:5000).
    local = bare.post(CREATE, json={}, headers={**headers, "Host": "127.0.0.1:5000"})
    assert local.get_json()["invitation"]["url"].startswith("http://127.0.0.1:5000/invite/")


def test_public_url_makes_every_link(app, database_url, make):
    from .conftest import Factory

    with fresh_app(database_url, PUBLIC_URL="https://invites.example.com") as public:
        Factory(public).company("Acme", owner_email="boss@example.com")
        client = public.test_client()
        api_login(client, "boss@example.com", "correct horse battery")
        bare, headers = forged(client)
        created = bare.post(CREATE, json={}, headers=headers)
        code = created.get_json()["invitation"]["code"]
        assert created.get_json()["invitation"]["url"] == f"https://invites.example.com/invite/{code}"


def test_the_apis_same_origin_check_uses_public_url_not_the_host(app, database_url):
    from .conftest import Factory

    with fresh_app(database_url, PUBLIC_URL="https://invites.example.com") as public:
        Factory(public).company("Acme", owner_email="boss@example.com")
        client = public.test_client()
        api_login(client, "boss@example.com", "correct horse battery")
        bare, headers = forged(client)
        refused = bare.post(CREATE, json={}, headers={**headers, "Origin": "http://evil.example"})
        assert refused.status_code == 403
        assert refused.get_json() == {"error": "Cross-site requests are not allowed."}
        own = client.post(CREATE, json={}, headers={"Origin": "https://invites.example.com"})
        assert own.status_code == 201


def test_production_answers_400_to_an_unknown_host(app, database_url, caplog):
    with fresh_app(
        database_url,
        INVITES_ENV="production",
        PUBLIC_URL="https://invites.example.com",
        TRUSTED_HOSTS=["invites.example.com"],
    ) as production:
        client = production.test_client()
        with caplog.at_level(logging.WARNING):
            refused = client.get("/login", headers=FORGED)
            refused_api = client.post(LOGIN, json={}, headers=FORGED)
        assert refused.status_code == 400
        assert "<h1>400</h1>" in refused.get_data(as_text=True)
        assert refused_api.status_code == 400
        assert refused_api.get_json() == {"error": "The request could not be understood."}
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert client.get("/login", base_url="https://invites.example.com").status_code == 200


def test_gunicorn_trusts_forwarded_headers_only_with_trusted_proxies(monkeypatch):
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert gunicorn_settings()["forwarded_allow_ips"] == ""
    monkeypatch.setenv("TRUSTED_PROXIES", "0")
    assert gunicorn_settings()["forwarded_allow_ips"] == ""
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    assert gunicorn_settings()["forwarded_allow_ips"] == "127.0.0.1,::1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.2")
    assert gunicorn_settings()["forwarded_allow_ips"] == "10.0.0.2"


# --- 8. caching -----------------------------------------------------------------------


def test_pages_and_api_answers_with_codes_or_personal_data_are_not_stored(app, client, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    code = new_invitation(app, company, owner, max_uses=3)
    auth.login("boss@example.com")
    with app.app_context():
        import sqlalchemy as sa

        from invites.models import Invitation

        invitation_id = db.session.scalar(sa.select(Invitation.id))
    invitee = app.test_client()
    for path in (f"/invite/{code}", "/login", "/"):
        assert invitee.get(path).headers["Cache-Control"] == "no-store", path
    for path in (
        "/dashboard/company",
        "/company/members",
        "/company/activity",
        f"/dashboard/company/invitations/{invitation_id}/redemptions",
        f"/dashboard/company/invitations/{invitation_id}/activity",
        LIST,
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    created = client.post(CREATE, json={})
    assert created.headers["Cache-Control"] == "no-store"
    card = client.post("/dashboard/company/invitations", data={"max_uses": "2", "expires_in_days": "7"}, headers=HX)
    assert card.headers["Cache-Control"] == "no-store"


def test_static_files_are_cached_for_a_year_under_a_fingerprinted_url(app, client):
    page = client.get("/login").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert any("app.css?v=" in url for url in urls) and any("app.js?v=" in url for url in urls), urls
    for url in urls:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
        response.close()
    # The fingerprint is the content's: another file, another URL; a stale one is not kept.
    css = next(url for url in urls if "app.css" in url)
    js = next(url for url in urls if "app.js" in url)
    assert css.split("?v=")[1] != js.split("?v=")[1]
    stale = client.get(css.split("?v=")[0] + "?v=000000000000")
    assert "immutable" not in stale.headers.get("Cache-Control", "")
    stale.close()


# --- 9. a form too large ----------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_300_kb_form_to_the_dashboard_answers_the_413_page_without_an_error_log(client, make, auth, caplog, headers):
    make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/dashboard/company/invitations", data={"max_uses": "2", "email": "x" * 300_000}, headers=headers
        )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "<h1>413</h1>" in page and "The request is too large." in page
    assert 'rel="stylesheet"' in page and "Acme" in page  # the layout, not the bare page
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
