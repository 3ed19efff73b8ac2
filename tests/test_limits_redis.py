"""Rate limits on Redis: counters shared by every process and app instance."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from limits.storage import RedisStorage

from invites import create_app
from invites.extensions import db, limiter

from .conftest import REDIS_KEY_PATTERN as KEY_PATTERN, TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent


def re_key(key: str) -> str:
    """A Redis key without its prefix, the email's HMAC replaced by ``<hmac>``."""
    key = key.removeprefix(KEY_PATTERN.rstrip("*"))
    return re.sub(r"^email:[0-9a-f]{32}", "email:<hmac>", key)


def server_environment(database_url: str, redis_url: str | None) -> dict:
    """The environment a deployed process would get."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        INVITES_ENV="development",
        SECRET_KEY="test-secret",
        DATABASE_URL=database_url,
        RATELIMIT_ENABLED="true",
        # Kept after the root: the suite's clock travels through it (tests/clock.py).
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def run_instance(env: dict, email: str, attempts: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.limit_process", email, str(attempts)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.redis
def test_redis_storage_is_used_when_redis_url_is_set(app, database_url, test_redis, monkeypatch):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("INVITES_ENV", "development")
    monkeypatch.delenv("RATELIMIT_ENABLED", raising=False)
    # No SECRET_KEY in the mapping: the configuration comes from the environment.
    redis_app = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_LOGIN_PER_EMAIL": "2 per hour",
            "RATELIMIT_LOGIN_PER_CLIENT": "7 per minute; 30 per hour",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    assert redis_app.config["RATELIMIT_STORAGE_URI"] == TEST_REDIS_URL
    assert isinstance(limiter.storage, RedisStorage)
    client = redis_app.test_client()
    email = f"{uuid.uuid4().hex}@example.com"
    statuses = [client.post("/login", data={"email": email, "password": "x" * 10}).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    counters = {key.decode(): int(test_redis.get(key)) for key in test_redis.scan_iter(KEY_PATTERN)}
    # The email's counter and the client's two (per minute and per hour), each at
    # the two failures it saw; the 429 itself is not counted.
    assert {re_key(key) for key in counters} == {
        "email:<hmac>/login/2/1/hour",
        "client:127.0.0.1/login/7/1/minute",
        "client:127.0.0.1/login/30/1/hour",
    }, counters
    assert set(counters.values()) == {2}, counters
    assert not any(email in key for key in counters), "the email must not appear in Redis keys"
    with redis_app.app_context():
        db.engine.dispose()


@pytest.mark.redis
def test_two_processes_share_one_counter_through_redis(app, database_url, test_redis):
    env = server_environment(database_url, TEST_REDIS_URL)
    email = f"{uuid.uuid4().hex}@example.com"
    first = run_instance(env, email, 2)
    second = run_instance(env, email, 2)
    assert first == {"statuses": [422, 422], "storage": "RedisStorage"}
    # The limit is 3 failures per email: the second process sees the first's two.
    assert second == {"statuses": [422, 429], "storage": "RedisStorage"}


def test_without_redis_each_process_counts_alone(app, database_url):
    """The control for the test above: in memory, a second process starts from zero."""
    env = server_environment(database_url, None)
    email = f"{uuid.uuid4().hex}@example.com"
    assert run_instance(env, email, 2) == {"statuses": [422, 422], "storage": "MemoryStorage"}
    assert run_instance(env, email, 2) == {"statuses": [422, 422], "storage": "MemoryStorage"}


# --- Redis going away and coming back (issue 15) -------------------------------------

DOWN = "Rate limits: Redis does not answer"


@pytest.mark.redis
def test_a_redis_outage_logs_one_warning_degrades_healthz_and_ends_back_in_redis(app, database_url, own_redis, caplog):
    from .test_limits import limited_app_with

    try:
        with limited_app_with(
            database_url,
            RATELIMIT_STORAGE_URI=own_redis.url,
            RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
            RATELIMIT_STORAGE_RECHECK=0.5,
        ) as redis_app:
            client = redis_app.test_client()

            def fail_login(email: str) -> int:
                return client.post("/login", data={"email": email, "password": "wrong password"}).status_code

            assert client.get("/healthz").get_json() == {"status": "ok"}
            assert fail_login("before@example.com") == 422
            assert len(list(own_redis.client().scan_iter(KEY_PATTERN))) == 2  # the email, the client

            own_redis.stop()
            with caplog.at_level(logging.INFO, logger="invites.limits"):
                statuses = [fail_login(f"during{n}@example.com") for n in range(6)]
                health = client.get("/healthz")
            assert statuses == [422] * 5 + [429]  # the client's 5 per hour, now counted in memory
            assert health.status_code == 200
            assert health.get_json() == {"status": "degraded", "rateLimits": "memory"}
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1 and warnings[0].startswith(DOWN), warnings

            own_redis.start()  # empty: no persistence
            caplog.clear()
            time.sleep(0.6)  # RATELIMIT_STORAGE_RECHECK
            with caplog.at_level(logging.INFO, logger="invites.limits"):
                client.get("/login")  # any request asks Redis again once the interval is over
                assert client.get("/healthz").get_json() == {"status": "ok"}
                assert fail_login("after@example.com") == 422
            keys = {re_key(k.decode()) for k in own_redis.client().scan_iter(KEY_PATTERN)}
            assert "email:<hmac>/login/3/1/hour" in keys, keys
            assert "Rate limits: Redis answers again" in caplog.text
            assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        limiter._storage_dead = False


@pytest.mark.redis
def test_a_redis_that_accepts_and_never_answers_costs_well_under_a_second(app, database_url, caplog):
    """The limits' storage has socket timeouts: a hung Redis means memory, not a hung worker."""
    import socket
    import threading

    from .test_limits import limited_app_with

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held: list = []
    listener = threading.Thread(target=lambda: held.extend(silent.accept() for _ in range(4)), daemon=True)
    listener.start()
    try:
        with limited_app_with(
            database_url,
            RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
            RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        ) as hung_app:
            client = hung_app.test_client()
            started = time.monotonic()
            assert client.post("/login", data={"email": "a@example.com", "password": "wrong pass"}).status_code == 422
            assert time.monotonic() - started < 3
    finally:
        limiter._storage_dead = False
        for connection, _ in held:
            connection.close()
        silent.close()
