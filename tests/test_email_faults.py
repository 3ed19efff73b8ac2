"""Issue 11: delivery that loses nothing, with real processes, a real Redis and a real SMTP server.

* Redis down when the invitation is committed: the row waits in the outbox and the
  worker's sweep delivers it once Redis is back.
* A worker killed (SIGKILL) in the middle of an SMTP exchange: another worker takes
  the row over when the claim's lease runs out, and the email arrives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from invites import outbox
from invites.extensions import db
from invites.models import OutboxEmail

from .conftest import TEST_REDIS_URL, fresh_app
from .redis_server import RedisServer
from .smtp_server import SMTPServer

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.redis


def rows(app):
    with app.app_context():
        found = db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)).all()
        db.session.expunge_all()
        return found


def wait_until(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def create_targeted_invitation(app, make, email: str):
    company, owner = make.company("Acme")
    client = app.test_client()
    client.post("/login", data={"email": owner.email, "password": "correct horse battery"})
    response = client.post(
        "/dashboard/company/invitations", data={"email": email, "max_uses": "1", "expires_in_days": "7"}
    )
    assert response.status_code == 302


def test_redis_down_at_commit_is_delivered_after_it_returns(database_url, make):
    own_redis = RedisServer()  # started
    with (
        SMTPServer() as smtp,
        fresh_app(
            database_url,
            MAIL_URL=smtp.url,
            MAIL_QUEUE_URL=own_redis.url,
            MAIL_QUEUE_NAME=f"t-{uuid.uuid4().hex}",
        ) as app,
    ):
        make.app = app
        try:
            own_redis.stop()
            create_targeted_invitation(app, make, "dana@example.com")  # the commit happens, the enqueue fails
            [row] = rows(app)
            assert row.state == "queued" and row.attempts == 0
            assert smtp.received == []
            own_redis.start()
            outbox.run_worker(app, burst=True)  # the sweep finds the row, the worker sends it
            assert [m.recipients for m in smtp.received] == [["dana@example.com"]]
            assert rows(app)[0].state == "sent"
            outbox.run_worker(app, burst=True)
            assert len(smtp.received) == 1
        finally:
            own_redis.stop()


def start_worker(database_url: str, smtp_url: str, queue_name: str, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "MAIL_URL"}}
    env.update(
        INVITES_ENV="development",
        SECRET_KEY="test-secret",
        DATABASE_URL=database_url,
        MAIL_URL=smtp_url,
        MAIL_FROM="Invites <invites@example.com>",
        MAIL_QUEUE_URL=TEST_REDIS_URL,
        MAIL_QUEUE_NAME=queue_name,
        MAIL_LEASE_SECONDS="2",
        MAIL_SWEEP_SECONDS="1",
        MAIL_RETRY_SECONDS="1",
        RATELIMIT_ENABLED="false",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_a_worker_killed_during_a_send_loses_nothing(database_url, make, tmp_path):
    queue_name = f"t-{uuid.uuid4().hex}"
    with (
        SMTPServer() as smtp,
        fresh_app(
            database_url,
            MAIL_URL=smtp.url,
            MAIL_QUEUE_URL=TEST_REDIS_URL,
            MAIL_QUEUE_NAME=queue_name,
        ) as app,
    ):
        make.app = app
        smtp.handler.mode = "stall"
        log = open(tmp_path / "workers.log", "wb")
        first = start_worker(database_url, smtp.url, queue_name, log)
        second = None
        try:
            create_targeted_invitation(app, make, "dana@example.com")
            assert smtp.handler.data_started.wait(30), (tmp_path / "workers.log").read_text()
            assert rows(app)[0].state == "sending"
            os.kill(first.pid, signal.SIGKILL)  # in the middle of the SMTP exchange
            first.wait(timeout=10)
            smtp.handler.mode = "accept"
            second = start_worker(database_url, smtp.url, queue_name, log)
            wait_until(lambda: len(smtp.received) >= 1, 60, "the email after the kill")
            wait_until(lambda: rows(app)[0].state == "sent", 30, "the row marked sent")
            [row] = rows(app)
            assert [m.recipients for m in smtp.received] == [["dana@example.com"]]
            assert smtp.received[0].message_id == row.message_id
            assert row.attempts == 2
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        process.kill()
            log.close()
            redis.Redis.from_url(TEST_REDIS_URL).delete(f"rq:queue:{queue_name}")
