"""Rate limits (``invites/limits.py``) on memory storage: what is counted, and the 429 answer."""

from __future__ import annotations

import logging
import re

import pytest

from invites import create_app, limits
from invites.extensions import db, limiter
from invites.models import Invitation, Role

from .api_helpers import ACCEPT, CREATE as API_CREATE, LOGIN as API_LOGIN, LOGOUT as API_LOGOUT, VALIDATE
from .conftest import PASSWORD, fresh_app
from .factories import count
from .invitation_helpers import new_invitation, used_count

DASHBOARD_CREATE = "/dashboard/company/invitations"
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"}

RATES = {
    "RATELIMIT_LOGIN_PER_EMAIL": "3 per hour",
    "RATELIMIT_LOGIN_PER_CLIENT": "5 per hour",
    "RATELIMIT_GUESS_PER_CLIENT": "4 per hour",
    "RATELIMIT_GUESS_PER_USER": "3 per hour",
    "RATELIMIT_CREATE_PER_USER": "2 per hour",
}


def limited_app_with(database_url: str, **overrides):
    """``fresh_app`` with rate limits on (low rates, counted in this process's memory).

    The fixtures below also ask for ``app``: the limiter is one object per process, and
    the app initialised last decides whether it is on, so theirs must come second.
    """
    return fresh_app(
        database_url, **{"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", **RATES, **overrides}
    )


@pytest.fixture
def limited_app(app, database_url):
    """An app with low limits."""
    with limited_app_with(database_url) as limited:
        yield limited


@pytest.fixture
def limited(limited_app):
    return limited_app.test_client()


def login(client, email, password="wrong password", **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


def client_at(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def invitation_count(app) -> int:
    return count(app, Invitation)


# --- log-in ------------------------------------------------------------------


def test_failed_logins_per_email_meet_429_with_retry_after_and_a_finished_page(limited, make):
    make.company("Acme", owner_email="boss@example.com")
    for _ in range(3):
        assert login(limited, "boss@example.com").status_code == 422
    response = login(limited, "boss@example.com")
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 3600
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and "<h1>429</h1>" in page
    assert "Too many failed log-in attempts. Try again in" in page
    assert "Back to Invites" in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    # The right password does not get through while the limit holds...
    assert login(limited, "boss@example.com", PASSWORD).status_code == 429
    # ...and the same email from another address is limited too (per email).
    assert login(limited, "BOSS@example.com ", **client_at("192.0.2.7")).status_code == 429
    # Another email from the first address still gets its answer.
    assert login(limited, "other@example.com").status_code == 422


def test_failed_logins_per_client_meet_429_whatever_the_email(limited):
    for n in range(5):
        assert login(limited, f"person{n}@example.com").status_code == 422
    response = login(limited, "person99@example.com")
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    # Another client is not affected.
    assert login(limited, "person99@example.com", **client_at("192.0.2.8")).status_code == 422


def test_successful_logins_are_not_counted(limited, make):
    make.company("Acme", owner_email="boss@example.com")
    for _ in range(8):
        assert login(limited, "boss@example.com", PASSWORD).status_code == 302
        limited.post("/logout")


def test_the_login_page_itself_stays_reachable_while_posts_are_limited(limited):
    for n in range(6):
        login(limited, f"p{n}@example.com")
    assert login(limited, "p0@example.com").status_code == 429
    page = limited.get("/login")
    assert page.status_code == 200
    assert b"<h1>Log in</h1>" in page.data


def test_api_429_is_json_with_retry_after(limited):
    for _ in range(3):
        response = limited.post(API_LOGIN, json={"email": "x@example.com", "password": "nope"})
        assert response.status_code == 401
    response = limited.post(API_LOGIN, json={"email": "x@example.com", "password": "nope"})
    assert response.status_code == 429
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert re.fullmatch(r"Too many failed log-in attempts\. Try again in \d+ (seconds?|minutes?)\.", body["error"])
    assert int(response.headers["Retry-After"]) > 0


def test_api_login_is_limited_per_client_whatever_the_email(limited):
    for n in range(5):
        assert limited.post(API_LOGIN, json={"email": f"p{n}@example.com", "password": "nope"}).status_code == 401
    response = limited.post(API_LOGIN, json={"email": "p9@example.com", "password": "nope"})
    assert response.status_code == 429 and response.is_json


def test_page_and_api_log_in_share_one_counter_per_email(limited):
    """An attacker gains nothing by spreading attempts over the page and the API."""
    login(limited, "x@example.com")
    login(limited, "x@example.com")
    limited.post(API_LOGIN, json={"email": "x@example.com", "password": "nope"})
    assert limited.post(API_LOGIN, json={"email": "x@example.com", "password": "nope"}).status_code == 429


def test_login_limit_keys_hide_the_email(limited_app):
    with limited_app.test_request_context("/login", method="POST", data={"email": " Boss@Example.com"}):
        key = limits.email_key()
        assert "boss" not in key.lower() and "example" not in key
        assert key.startswith("email:")
    with limited_app.test_request_context("/login", method="POST", data={"email": "boss@example.com"}):
        assert limits.email_key() == key


def test_rate_limit_enabled_false_switches_every_limit_off(app, database_url, make):
    """Low rates, but RATELIMIT_ENABLED false: no route is ever refused with 429."""
    make.company("Acme", owner_email="boss@example.com")
    with limited_app_with(database_url, RATELIMIT_ENABLED=False) as off:
        assert limiter.enabled is False
        client = off.test_client()
        for n in range(8):
            assert login(client, "boss@example.com").status_code == 422
            assert client.post(API_LOGIN, json={"email": "boss@example.com", "password": "nope"}).status_code == 401
            assert client.get(f"/invite/unknown{n}").status_code == 404
        login(client, "boss@example.com", PASSWORD)
        for n in range(8):
            assert client.post(f"/invite/unknown{n}/accept").status_code == 404
            assert client.post(VALIDATE, json={"code": f"unknown{n}"}).status_code == 404
            assert client.post(ACCEPT, json={"code": f"unknown{n}"}).status_code == 404
            assert client.post(DASHBOARD_CREATE, data={"max_uses": "5"}).status_code == 302
            assert client.post(API_CREATE, json={"maxUses": 5}).status_code == 201
        assert invitation_count(off) == 16


def test_rate_limit_enabled_false_from_the_environment(monkeypatch, database_url):
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("PUBLIC_URL", "http://localhost")  # production (INVITES_ENV unset) needs it
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app(
        {"TESTING": True, "WTF_CSRF_ENABLED": False, **RATES, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    )
    assert limiter.enabled is False
    client = app.test_client()
    for _ in range(10):
        assert login(client, "boss@example.com").status_code == 422
    with app.app_context():
        db.engine.dispose()


# --- guessing codes ----------------------------------------------------------


@pytest.fixture
def good_code(app, make):
    """A good link for a whole team: 60 places at Acme."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    return new_invitation(app, company, owner, max_uses=60)


def test_unknown_codes_on_the_invite_page_meet_a_429_page_and_then_good_codes_too(limited, good_code):
    for n in range(4):
        assert limited.get(f"/invite/unknown{n}").status_code == 404
    response = limited.get("/invite/unknown5")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and "<h1>429</h1>" in page
    assert "Too many attempts with invitation codes that do not exist. Try again in" in page
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    # While the limit holds, a good code gets no answer either (or guessing would go on)...
    assert limited.get(f"/invite/{good_code}").status_code == 429
    # ...but someone else (another address) joining through the good link is not blocked.
    assert limited.get(f"/invite/{good_code}", **client_at("192.0.2.9")).status_code == 200


def test_unknown_codes_on_the_accept_button_count_too(limited, good_code, make):
    make.user("guesser@example.com")
    login(limited, "guesser@example.com", PASSWORD)
    for n in range(3):
        assert limited.post(f"/invite/unknown{n}/accept").status_code == 404
    response = limited.post(f"/invite/{good_code}/accept")
    assert response.status_code == 429
    assert "Too many attempts with invitation codes" in response.get_data(as_text=True)
    assert used_count(limited.application, good_code) == 0


def test_anonymous_join_clicks_go_to_log_in_and_are_not_counted(limited, good_code):
    for n in range(8):
        assert limited.post(f"/invite/unknown{n}/accept").status_code == 302
    assert limited.get("/invite/unknown").status_code == 404


def test_unknown_codes_on_api_validate_and_accept_meet_a_json_429(limited, good_code, make):
    make.user("guesser@example.com")
    limited.post(API_LOGIN, json={"email": "guesser@example.com", "password": PASSWORD})
    assert limited.post(VALIDATE, json={"code": "unknown1"}).status_code == 404
    assert limited.post(ACCEPT, json={"code": "unknown2"}).status_code == 404
    assert limited.post(VALIDATE, json={"code": "x" * 10_000}).status_code == 404
    for path in (VALIDATE, ACCEPT):
        response = limited.post(path, json={"code": good_code})
        assert response.status_code == 429
        assert response.is_json and set(response.get_json()) == {"error"}
        assert response.get_json()["error"].startswith(
            "Too many attempts with invitation codes that do not exist. Try again in"
        )
        assert int(response.headers["Retry-After"]) > 0
    assert used_count(limited.application, good_code) == 0


def test_a_missing_code_is_bad_input_not_a_guess(limited, make):
    make.user("someone@example.com")
    limited.post(API_LOGIN, json={"email": "someone@example.com", "password": PASSWORD})
    for _ in range(8):
        assert limited.post(VALIDATE, json={}).status_code == 400
    assert limited.post(VALIDATE, json={"code": "unknown"}).status_code == 404


def test_a_team_onboarding_through_one_good_link_is_never_limited(limited, good_code, make):
    """Fifty-two people behind one office address open the same good link and join,
    through the page and through the API, well past every guessing limit (3 and 4)."""
    for n in range(26):
        make.user(f"page{n}@example.com")
        assert login(limited, f"page{n}@example.com", PASSWORD).status_code == 302
        assert limited.get(f"/invite/{good_code}").status_code == 200
        assert limited.post(f"/invite/{good_code}/accept").status_code == 302
        limited.post("/logout")
    for n in range(26):
        make.user(f"api{n}@example.com")
        assert limited.post(API_LOGIN, json={"email": f"api{n}@example.com", "password": PASSWORD}).status_code == 200
        assert limited.post(VALIDATE, json={"code": good_code}).status_code == 200
        assert limited.post(ACCEPT, json={"code": good_code}).status_code == 200
        limited.post(API_LOGOUT)
    assert used_count(limited.application, good_code) == 52
    # Anonymous visitors too (link previews, people not yet signed up).
    for _ in range(10):
        assert limited.get(f"/invite/{good_code}").status_code == 200


def test_page_and_api_share_the_guessing_counter(limited, make):
    make.user("guesser@example.com")
    login(limited, "guesser@example.com", PASSWORD)
    limited.get("/invite/nope1", **client_at("192.0.2.30"))
    limited.post(VALIDATE, json={"code": "nope2"}, **client_at("192.0.2.31"))
    limited.post(ACCEPT, json={"code": "nope3"}, **client_at("192.0.2.32"))
    response = limited.post(VALIDATE, json={"code": "nope4"}, **client_at("192.0.2.33"))
    assert response.status_code == 429
    assert response.get_json()["error"].startswith("Too many attempts with invitation codes that do not exist.")


def test_a_signed_in_guesser_is_limited_per_user_across_addresses(limited, make):
    make.user("guesser@example.com")
    login(limited, "guesser@example.com", PASSWORD)
    for n in range(3):
        assert limited.get(f"/invite/nope{n}", **client_at(f"192.0.2.{20 + n}")).status_code == 404
    assert limited.get("/invite/nope9", **client_at("192.0.2.99")).status_code == 429


# --- creating invitations ----------------------------------------------------


def test_invitations_created_on_the_dashboard_are_counted_per_user_and_invalid_input_is_not(limited, make):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    login(limited, "boss@example.com", PASSWORD)
    for _ in range(5):
        assert limited.post(DASHBOARD_CREATE, data={"max_uses": "101"}).status_code == 422
    assert limited.post(DASHBOARD_CREATE, data={"max_uses": "5"}).status_code == 302
    assert limited.post(DASHBOARD_CREATE, data={"max_uses": "5"}, headers=HX).status_code == 200
    response = limited.post(DASHBOARD_CREATE, data={"max_uses": "5"})
    assert response.status_code == 429
    assert "You have created a lot of invitations in a short time. Try again in" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    assert invitation_count(limited.application) == 2
    # Another admin of the same company, at the same address, is not affected.
    limited.post("/logout")
    make.user("ann@example.com", company=company, role=Role.ADMIN)
    login(limited, "ann@example.com", PASSWORD)
    assert limited.post(DASHBOARD_CREATE, data={"max_uses": "5"}).status_code == 302
    assert invitation_count(limited.application) == 3


def test_the_dashboard_and_the_api_share_the_creation_counter(limited, make):
    make.company("Acme", owner_email="boss@example.com")
    login(limited, "boss@example.com", PASSWORD)
    assert limited.post(API_CREATE, json={"maxUses": 500}).status_code == 400
    assert limited.post(API_CREATE, json={"maxUses": 5}).status_code == 201
    assert limited.post(DASHBOARD_CREATE, data={"max_uses": "5"}).status_code == 302
    response = limited.post(API_CREATE, json={"maxUses": 5})
    assert response.status_code == 429
    assert response.get_json()["error"].startswith("You have created a lot of invitations in a short time.")
    assert int(response.headers["Retry-After"]) > 0
    assert invitation_count(limited.application) == 2


def test_rates_come_from_the_configuration(limited_app, limited):
    limited_app.config["RATELIMIT_GUESS_PER_CLIENT"] = "1 per hour"
    assert limited.get("/invite/nope").status_code == 404
    assert limited.get("/invite/nope").status_code == 429


# --- never limited -----------------------------------------------------------


@pytest.fixture
def app_with_default_limits(app, database_url):
    """Limits on every route (Flask-Limiter's RATELIMIT_DEFAULT), as an operator might add."""
    try:
        with limited_app_with(database_url, RATELIMIT_DEFAULT="2 per hour") as strict:
            yield strict
    finally:
        # The limiter is one object per process and keeps default limits once set.
        limiter.limit_manager.set_default_limits([])


def test_live_usage_health_check_and_static_files_are_never_limited(app_with_default_limits, make):
    make.company("Acme", owner_email="boss@example.com")
    client = app_with_default_limits.test_client()
    login(client, "boss@example.com", PASSWORD)
    for _ in range(6):
        assert client.get("/dashboard/company/changes?after=0").status_code in (200, 204)
        assert client.get("/healthz").status_code == 200
        assert client.get("/static/app.css").status_code == 200
    # The control: the same default limit does refuse an ordinary page.
    statuses = [client.get("/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_limits_already_reached_leave_the_poll_health_check_and_static_files_alone(limited, make):
    make.company("Acme", owner_email="boss@example.com")
    assert login(limited, "boss@example.com", PASSWORD).status_code == 302
    # Someone else at the owner's address guesses codes and passwords until refused.
    other = limited.application.test_client()
    for n in range(6):
        login(other, f"nobody{n}@example.com")
        other.get(f"/invite/unknown{n}")
    assert login(other, "nobody@example.com").status_code == 429
    assert other.get("/invite/unknown").status_code == 429
    for _ in range(5):
        assert limited.get("/dashboard/company/changes?after=0").status_code in (200, 204)
        assert limited.get("/healthz").status_code == 200
        assert limited.get("/static/app.js").status_code == 200


# --- behind a proxy ----------------------------------------------------------


@pytest.fixture
def proxied_app(app, database_url):
    with limited_app_with(database_url, TRUSTED_PROXIES=1) as proxied:
        yield proxied


def test_behind_trusted_proxies_each_client_is_counted_by_its_forwarded_address(proxied_app):
    proxied = proxied_app
    client = proxied.test_client()
    for n in range(4):
        assert client.get(f"/invite/nope{n}", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 404
    assert client.get("/invite/nope", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    # Another visitor behind the same proxy (same REMOTE_ADDR) is someone else.
    assert client.get("/invite/nope", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 404


def test_without_trusted_proxies_a_forged_forwarded_address_changes_nothing(limited):
    for n in range(4):
        assert limited.get(f"/invite/nope{n}", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code == 404
    assert limited.get("/invite/nope", headers={"X-Forwarded-For": "198.51.100.77"}).status_code == 429


# --- Redis gone --------------------------------------------------------------


@pytest.fixture
def app_with_dead_redis(app, database_url):
    """Limits stored in a Redis nobody listens on, with the fallback production turns on."""
    try:
        with limited_app_with(
            database_url, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/15", RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True
        ) as dead:
            yield dead
    finally:
        # The limiter is one object per process; let later apps start with live storage.
        limiter._storage_dead = False


def test_when_redis_is_down_limits_fall_back_to_memory_instead_of_failing(app_with_dead_redis, caplog):
    client = app_with_dead_redis.test_client()
    statuses = [login(client, "boss@example.com").status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    # One WARNING for the outage, in the app's words, not one per request.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "Rate limits: Redis does not answer (a rate-limited request failed on it); this process "
        "counts limits in its own memory until it does"
    ]


def test_production_configuration_falls_back_only_with_redis(monkeypatch, tmp_path):
    from invites.config import load_config

    monkeypatch.setenv("SECRET_KEY", "s")
    monkeypatch.setenv("PUBLIC_URL", "https://invites.example.com")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    assert load_config(str(tmp_path))["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is False
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    # REDIS_URL with an explicit memory:// storage still counts in memory: nothing to fall back from.
    assert load_config(str(tmp_path))["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is False
    monkeypatch.delenv("RATELIMIT_STORAGE_URI")
    assert load_config(str(tmp_path))["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True


@pytest.fixture
def app_with_fallback(app, database_url):
    try:
        with limited_app_with(database_url, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True) as fallback:
            yield fallback
    finally:
        limiter._storage_dead = False


@pytest.mark.parametrize("kind", ["form", "json"])
def test_an_oversized_log_in_is_413_and_does_not_knock_the_limits_off_their_storage(app_with_fallback, kind):
    """Reading the email for the limit must not fail inside Flask-Limiter, which would
    take any error for a dead storage and switch to per-process counting."""
    client = app_with_fallback.test_client()
    big = {"email": "a@example.com", "password": "x" * 300_000}
    if kind == "form":
        response = client.post("/login", data=big)
    else:
        response = client.post(API_LOGIN, json=big)
    assert response.status_code == 413
    assert limiter._storage_dead is False


@pytest.mark.parametrize("path", ["/login", API_LOGIN])
def test_the_429_message_and_retry_after_give_the_same_wait(app, database_url, path):
    """Flask-Limiter's header rounded a second down from the message's figure."""
    with limited_app_with(database_url, RATELIMIT_LOGIN_PER_EMAIL="2 per minute") as limited_app:
        client = limited_app.test_client()
        send = (
            (lambda: client.post(path, data={"email": "a@example.com", "password": "wrong password"}))
            if path == "/login"
            else (lambda: client.post(path, json={"email": "a@example.com", "password": "wrong"}))
        )
        for _ in range(2):
            assert send().status_code in (401, 422)
        for _ in range(3):
            refused = send()
            assert refused.status_code == 429
            text = refused.get_data(as_text=True)
            number, unit = re.search(r"Try again in (\d+) (second|minute)s?\.", text).groups()
            seconds = int(number) * (60 if unit == "minute" else 1)
            assert refused.headers["Retry-After"] == str(seconds), text
            assert 0 < seconds <= 60
