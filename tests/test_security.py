"""Security headers, the referrer policy against Flask-WTF's HTTPS check, cookies,
and templates that the strict CSP can serve."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from invites import create_app
from invites.extensions import db
from invites.models import Role

from .conftest import PASSWORD, base_config
from .factories import create_invitation, invitation_row

ROOT = Path(__file__).resolve().parent.parent


def policy(response) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    header = response.headers["Content-Security-Policy"]
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in header.split(";"))


EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def assert_hardened(response):
    assert policy(response) == EXPECTED_POLICY
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_carry_the_strict_policy(client):
    for path in ("/", "/login", "/register"):
        response = client.get(path)
        assert response.status_code == 200
        assert_hardened(response)


def test_fragments_carry_it_too(client, make, auth):
    make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    response = client.get("/company/activity", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert_hardened(response)


def test_json_errors_health_check_and_static_files_carry_it(client):
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.is_json
    assert_hardened(api)
    assert_hardened(client.get("/healthz"))
    static = client.get("/static/app.js")
    assert static.status_code == 200
    assert_hardened(static)
    static.close()


def test_error_pages_carry_it(client):
    for response, status in ((client.get("/no-such-page"), 404), (client.get("/logout"), 405)):
        assert response.status_code == status
        assert_hardened(response)


# --- Referer: kept off other sites, still there for Flask-WTF over HTTPS -----


@pytest.fixture
def csrf_app(app, database_url):
    """CSRF protection on, with its HTTPS referrer check (WTF_CSRF_SSL_STRICT, the default)."""
    config = base_config(database_url)
    config.update(WTF_CSRF_ENABLED=True, WTF_CSRF_SSL_STRICT=True)
    secured = create_app(config)
    yield secured
    with secured.app_context():
        db.engine.dispose()


HTTPS = "https://invites.example"


class HttpsClient:
    """A test client whose every request goes to https://invites.example."""

    def __init__(self, app):
        self._client = app.test_client()

    def get(self, path, **kwargs):
        return self._client.get(path, base_url=HTTPS, **kwargs)

    def post(self, path, **kwargs):
        return self._client.post(path, base_url=HTTPS, **kwargs)


def token_from(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_https_form_post_with_a_same_origin_referer_passes_the_csrf_check(csrf_app, make):
    make.company("Acme", owner_email="boss@example.com")
    client = HttpsClient(csrf_app)
    token = token_from(client)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "boss@example.com", "password": PASSWORD},
        headers={"Referer": "https://invites.example/login"},
    )
    assert response.status_code == 302
    assert client.get("/dashboard/company").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Referer": "https://elsewhere.example/invite/abc"}],
    ids=["no referer (what no-referrer would cause)", "referer from another site"],
)
def test_https_form_post_without_a_same_origin_referer_is_refused(csrf_app, make, headers):
    make.company("Acme", owner_email="boss@example.com")
    client = HttpsClient(csrf_app)
    token = token_from(client)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "boss@example.com", "password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 400
    assert b"did not come from this site" in response.data
    assert client.get("/dashboard/company").status_code == 302


def test_referrer_policy_sends_no_referer_to_other_sites(client):
    """``same-origin``: full Referer on our own requests, none at all elsewhere, so a
    code in /invite/<code> never reaches another site's logs."""
    assert client.get("/").headers["Referrer-Policy"] == "same-origin"


# --- cookies and transport ---------------------------------------------------


@pytest.fixture
def production_app(app, database_url, monkeypatch):
    """The app as a server builds it: configuration from a production environment."""
    for name in ("REDIS_URL", "RATELIMIT_STORAGE_URI", "TRUSTED_HOSTS", "TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("INVITES_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "production-secret")
    # Production answers only to PUBLIC_URL's host and TRUSTED_HOSTS (the test client's).
    monkeypatch.setenv("PUBLIC_URL", HTTPS)
    monkeypatch.setenv("TRUSTED_HOSTS", "localhost")
    monkeypatch.setenv("DATABASE_URL", database_url)
    prod = create_app(
        {"WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "RATELIMIT_ENABLED": False}
    )
    assert prod.config["INVITES_ENV"] == "production"
    yield prod
    with prod.app_context():
        db.engine.dispose()


def cookie_attributes(response, name: str) -> set[str]:
    """The attributes of cookie ``name`` as set: {"secure", "httponly", "samesite=Lax", …}."""
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "="))
    attributes = set()
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes.add(f"samesite={value}" if key.lower() == "samesite" else key.lower())
    return attributes


def test_production_session_cookie_is_secure_httponly_samesite(production_app, make):
    make.company("Acme", owner_email="boss@example.com")
    client = HttpsClient(production_app)
    response = client.post("/login", data={"email": "boss@example.com", "password": PASSWORD})
    assert response.status_code == 302
    attributes = cookie_attributes(response, "session")
    assert {"secure", "httponly", "samesite=Lax"} <= attributes


def test_development_cookie_is_not_secure_so_http_works(client, make):
    make.company("Acme", owner_email="boss@example.com")
    response = client.post("/login", data={"email": "boss@example.com", "password": PASSWORD})
    attributes = cookie_attributes(response, "session")
    assert "secure" not in attributes and "httponly" in attributes


def test_hsts_only_over_https_in_production(production_app, client):
    secure = HttpsClient(production_app).get("/")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in production_app.test_client().get("/").headers
    assert "Strict-Transport-Security" not in client.get("/", base_url="https://localhost").headers


def test_behind_a_trusted_proxy_https_is_recognised(app, database_url):
    config = base_config(database_url)
    config.update(TRUSTED_PROXIES=1, INVITES_ENV="production")
    proxied = create_app(config)
    response = proxied.test_client().get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


# --- templates the CSP can serve ---------------------------------------------

TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_have_no_inline_script_style_or_handlers(template):
    text = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert not re.search(r"<style\b", text), "inline <style>"
    assert not re.search(r"\sstyle\s*=", text), "style= attribute"
    assert not re.search(r"\son[a-z]+\s*=", text), "inline event handler"
    assert not re.search(r"\shx-on", text), "hx-on needs eval"
    assert "javascript:" not in text


def test_htmx_is_configured_for_the_policy():
    base = (ROOT / "templates" / "base.html").read_text()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", base).group(1))
    assert config["includeIndicatorStyles"] is False  # else htmx injects a <style>
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False


def test_app_js_does_not_eval():
    script = (ROOT / "static" / "app.js").read_text()
    assert not re.search(r"\beval\(|new Function|setTimeout\(\s*[\"']|innerHTML\s*=", script)


def test_nav_links_to_activity_only_for_managers(client, make, auth):
    company, _ = make.company("Acme", owner_email="boss@example.com")
    make.user("mia@example.com", company=company, role=Role.MEMBER)
    auth.login("boss@example.com")
    assert b'href="/company/activity"' in client.get("/company/members").data
    auth.logout()
    auth.login("mia@example.com")
    assert b'href="/company/activity"' not in client.get("/company/members").data


@pytest.mark.parametrize(
    ("path", "data"),
    [("active", {"active": "0"}), ("revoke", {"confirm": "yes"})],
    ids=["pause", "revoke"],
)
def test_card_buttons_need_the_csrf_token_checked_before_the_view(csrf_app, make, path, data):
    """The card forms carry no CSRF field of their own: CSRFProtect checks the token once, for every POST."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    invitation = create_invitation(csrf_app, company, owner, max_uses=5)
    client = HttpsClient(csrf_app)
    client.post(
        "/login",
        data={"csrf_token": token_from(client), "email": "boss@example.com", "password": PASSWORD},
        headers={"Referer": "https://invites.example/login"},
    )
    url = f"/dashboard/company/invitations/{invitation.id}/{path}"
    same_site = {"Referer": "https://invites.example/dashboard/company", "HX-Request": "true"}
    refused = client.post(url, data=data, headers=same_site)
    assert refused.status_code == 400
    assert invitation_row(csrf_app, invitation.code)["is_active"] is True
    assert invitation_row(csrf_app, invitation.code)["revoked_at"] is None

    page = client.get("/dashboard/company").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = client.post(url, data={**data, "csrf_token": token}, headers=same_site)
    assert done.status_code == 200 and f'id="invitation-{invitation.id}"' in done.get_data(as_text=True)
    changed = invitation_row(csrf_app, invitation.code)
    assert changed["is_active"] is False if path == "active" else changed["revoked_at"] is not None
