"""Rate limits (``invites/limits.py``) on memory storage: what is counted, and the 429 answer."""
from __future__ import annotations

import re

import pytest

from invites import create_app, limits
from invites.extensions import db, limiter

from . import limit_probes
from .conftest import PASSWORD, base_config

RATES = {
    "RATELIMIT_LOGIN_PER_EMAIL": "3 per hour",
    "RATELIMIT_LOGIN_PER_CLIENT": "5 per hour",
    "RATELIMIT_GUESS_PER_CLIENT": "4 per hour",
    "RATELIMIT_GUESS_PER_USER": "3 per hour",
    "RATELIMIT_CREATE_PER_USER": "2 per hour",
}


def limited_config(database_url: str, **overrides) -> dict:
    """The test configuration with rate limits on, counted in this process's memory."""
    config = base_config(database_url)
    config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", **RATES)
    config.update(overrides)
    return config


@pytest.fixture
def limited_app(app, database_url):
    """An app with low limits and the probe routes. Built after ``app``, whose
    teardown empties the tables; the limiter is one object per process, and the
    app initialised last decides whether it is on."""
    limited = create_app(limited_config(database_url))
    limit_probes.register(limited)
    yield limited
    with limited.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def limited(limited_app):
    return limited_app.test_client()


def login(client, email, password="wrong password", **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


def client_at(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


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
        response = limited.post("/api/_probe/login", json={"email": "x@example.com", "password": "nope"})
        assert response.status_code == 401
    response = limited.post("/api/_probe/login", json={"email": "x@example.com", "password": "nope"})
    assert response.status_code == 429
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert re.fullmatch(r"Too many failed log-in attempts\. Try again in \d+ (seconds?|minutes?)\.", body["error"])
    assert int(response.headers["Retry-After"]) > 0


def test_page_and_api_log_in_share_one_counter_per_email(limited):
    """An attacker gains nothing by spreading attempts over the page and the API."""
    login(limited, "x@example.com")
    login(limited, "x@example.com")
    limited.post("/api/_probe/login", json={"email": "x@example.com", "password": "nope"})
    assert limited.post("/api/_probe/login", json={"email": "x@example.com", "password": "nope"}).status_code == 429


def test_login_limit_keys_hide_the_email(limited_app):
    with limited_app.test_request_context("/login", method="POST", data={"email": " Boss@Example.com"}):
        key = limits.email_key()
        assert "boss" not in key.lower() and "example" not in key
        assert key.startswith("email:")
    with limited_app.test_request_context("/login", method="POST", data={"email": "boss@example.com"}):
        assert limits.email_key() == key


def test_rate_limit_enabled_false_switches_every_limit_off(app, client, make):
    """The ordinary test app has RATELIMIT_ENABLED false: nothing is ever refused."""
    assert app.config["RATELIMIT_ENABLED"] is False
    make.company("Acme", owner_email="boss@example.com")
    for _ in range(30):
        assert login(client, "boss@example.com").status_code == 422


def test_rate_limit_enabled_false_from_the_environment(monkeypatch, database_url):
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, **RATES,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    assert limiter.enabled is False
    client = app.test_client()
    for _ in range(10):
        assert login(client, "boss@example.com").status_code == 422
    with app.app_context():
        db.engine.dispose()


# --- guessing codes ----------------------------------------------------------


def test_unknown_codes_are_counted_per_client_and_then_good_codes_are_refused_too(limited):
    for n in range(4):
        assert limited.get(f"/_probe/invite/unknown{n}").status_code == 404
    response = limited.get("/_probe/invite/unknown5")
    assert response.status_code == 429
    assert "Too many attempts with invitation codes that do not exist." in response.get_data(as_text=True)
    assert "Retry-After" in response.headers
    assert limited.get(f"/_probe/invite/{limit_probes.GOOD_CODE}").status_code == 429
    # Someone else (another address) joining through the good link is not blocked.
    assert limited.get(f"/_probe/invite/{limit_probes.GOOD_CODE}", **client_at("192.0.2.9")).status_code == 200


def test_a_team_onboarding_through_one_good_link_is_never_limited(limited):
    """Fifty people behind one office address open the same good link."""
    for _ in range(50):
        assert limited.get(f"/_probe/invite/{limit_probes.GOOD_CODE}").status_code == 200
    assert limited.post("/api/_probe/validate", json={"code": limit_probes.GOOD_CODE}).status_code == 200


def test_page_and_api_share_the_guessing_counter(limited):
    limited.get("/_probe/invite/nope1")
    limited.get("/_probe/invite/nope2")
    limited.post("/api/_probe/validate", json={"code": "nope3"})
    limited.post("/api/_probe/validate", json={"code": "nope4"})
    response = limited.post("/api/_probe/validate", json={"code": limit_probes.GOOD_CODE})
    assert response.status_code == 429
    assert response.get_json()["error"].startswith("Too many attempts with invitation codes that do not exist.")


def test_a_signed_in_guesser_is_limited_per_user_across_addresses(limited, make):
    make.user("guesser@example.com")
    login(limited, "guesser@example.com", PASSWORD)
    for n in range(3):
        assert limited.get(f"/_probe/invite/nope{n}", **client_at(f"192.0.2.{20 + n}")).status_code == 404
    assert limited.get("/_probe/invite/nope9", **client_at("192.0.2.99")).status_code == 429


# --- creating invitations ----------------------------------------------------


def test_invitations_created_are_counted_per_user_and_invalid_input_is_not(limited, make):
    make.user("admin@example.com")
    login(limited, "admin@example.com", PASSWORD)
    for _ in range(5):
        assert limited.post("/_probe/create", data={"max_uses": "101"}).status_code == 422
    assert limited.post("/_probe/create", data={"max_uses": "5"}).status_code == 201
    assert limited.post("/_probe/create", data={"max_uses": "5"}).status_code == 201
    response = limited.post("/_probe/create", data={"max_uses": "5"})
    assert response.status_code == 429
    assert "You have created a lot of invitations in a short time." in response.get_data(as_text=True)
    # Another admin of the same office is not affected.
    limited.post("/logout")
    make.user("other-admin@example.com")
    login(limited, "other-admin@example.com", PASSWORD)
    assert limited.post("/_probe/create", data={"max_uses": "5"}).status_code == 201


def test_rates_come_from_the_configuration(limited_app, limited):
    limited_app.config["RATELIMIT_GUESS_PER_CLIENT"] = "1 per hour"
    assert limited.get("/_probe/invite/nope").status_code == 404
    assert limited.get("/_probe/invite/nope").status_code == 429


# --- behind a proxy ----------------------------------------------------------


@pytest.fixture
def proxied_app(app, database_url):
    proxied = create_app(limited_config(database_url, TRUSTED_PROXIES=1))
    limit_probes.register(proxied)
    yield proxied
    with proxied.app_context():
        db.engine.dispose()


def test_behind_trusted_proxies_each_client_is_counted_by_its_forwarded_address(proxied_app):
    proxied = proxied_app
    client = proxied.test_client()
    for n in range(4):
        assert client.get(f"/_probe/invite/nope{n}", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 404
    assert client.get("/_probe/invite/nope", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    # Another visitor behind the same proxy (same REMOTE_ADDR) is someone else.
    assert client.get("/_probe/invite/nope", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 404


def test_without_trusted_proxies_a_forged_forwarded_address_changes_nothing(limited):
    for n in range(4):
        assert limited.get(f"/_probe/invite/nope{n}", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code == 404
    assert limited.get("/_probe/invite/nope", headers={"X-Forwarded-For": "198.51.100.77"}).status_code == 429


# --- Redis gone --------------------------------------------------------------


@pytest.fixture
def app_with_dead_redis(app, database_url):
    """Limits stored in a Redis nobody listens on, with the fallback production turns on."""
    dead = create_app(limited_config(
        database_url,
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/15",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    ))
    yield dead
    # The limiter is one object per process; let later apps start with live storage.
    limiter._storage_dead = False
    with dead.app_context():
        db.engine.dispose()


def test_when_redis_is_down_limits_fall_back_to_memory_instead_of_failing(app_with_dead_redis, caplog):
    client = app_with_dead_redis.test_client()
    statuses = [login(client, "boss@example.com").status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    assert "falling back to in-memory storage" in caplog.text


def test_production_configuration_falls_back_only_with_redis(monkeypatch, tmp_path):
    from invites.config import load_config

    monkeypatch.setenv("SECRET_KEY", "s")
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert load_config(str(tmp_path))["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is False
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    assert load_config(str(tmp_path))["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True


@pytest.fixture
def app_with_fallback(app, database_url):
    fallback = create_app(limited_config(database_url, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True))
    limit_probes.register(fallback)
    yield fallback
    limiter._storage_dead = False
    with fallback.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("kind", ["form", "json"])
def test_an_oversized_log_in_is_413_and_does_not_knock_the_limits_off_their_storage(app_with_fallback, kind):
    """Reading the email for the limit must not fail inside Flask-Limiter, which would
    take any error for a dead storage and switch to per-process counting."""
    client = app_with_fallback.test_client()
    big = {"email": "a@example.com", "password": "x" * 300_000}
    if kind == "form":
        response = client.post("/login", data=big)
    else:
        response = client.post("/api/_probe/login", json=big)
    assert response.status_code == 413
    assert limiter._storage_dead is False
