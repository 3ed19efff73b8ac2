"""gunicorn with gunicorn.conf.py: two workers share rate limits (log-in, code guessing) through Redis,
and neither gunicorn's access log nor the app's request log shows a code."""
from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from invites import limits

from .conftest import REDIS_KEY_PATTERN, TEST_REDIS_URL
from .invitation_helpers import new_invitation
from .test_limits_redis import ROOT, server_environment

CODE = "Zx81kQpLm2Vn7Rt4Yw9Bc3Df6Gh0Jk5a"  # the shape of a real code: 32 URL-safe characters


class Server:
    """A gunicorn master with two workers on a free loopback port."""

    def __init__(self, tmp_path: Path, env: dict):
        self.access_log = tmp_path / "access.log"
        self.error_log = tmp_path / "error.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "2",
             "--bind", "127.0.0.1:0", "--access-logfile", str(self.access_log),
             "--error-logfile", str(self.error_log), "tests.gunicorn_probe_app:app"],
            cwd=ROOT, env=env,
        )
        self.base = self._wait_until_listening()
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def _wait_until_listening(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.error_log.read_text() if self.error_log.exists() else ""
            port = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log)
            if port and len(re.findall(r"Booting worker with pid", log)) >= 2:
                return f"http://127.0.0.1:{port.group(1)}"
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{log}")
            time.sleep(0.1)
        pytest.fail("gunicorn did not start in time:\n" + self.error_log.read_text())

    def request(self, path: str, data: dict | None = None, headers: dict | None = None):
        """(status, headers, body) of one request on a new connection."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


#: Unknown codes allowed per client before 429 in these servers (the default is 20 a minute,
#: which would take a minute of steering requests to one worker or the other).
GUESSES = 4


@pytest.fixture
def server(app, database_url, test_redis, tmp_path):
    env = server_environment(database_url, TEST_REDIS_URL)
    env["INVITES_TEST_RATES"] = json.dumps({"RATELIMIT_GUESS_PER_CLIENT": f"{GUESSES} per hour"})
    server = Server(tmp_path, env)
    yield server
    server.stop()


def worker_pids(server: Server) -> list[int]:
    """Both workers' pids, asking until each has answered at least once."""
    seen: set[int] = set()
    for _ in range(200):
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(json.loads(server.request("/_test/pid")[2])["pid"]))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen.update(results)
        if len(seen) == 2:
            return sorted(seen)
    pytest.fail(f"only saw workers {seen}")


def on_worker(server: Server, target: int, other: int, send):
    """Run ``send()`` while ``other`` is held busy, so that ``target`` must serve it."""
    for _ in range(100):
        outcome: list[int] = []
        holder = threading.Thread(
            target=lambda: outcome.append(server.request(f"/_test/hold?pid={other}&seconds=1.0")[0])
        )
        holder.start()
        holder.join(timeout=0.3)
        if holder.is_alive():  # ``other`` took the hold and sleeps: only ``target`` is free
            result = send()
            holder.join()
            assert outcome == [200]
            return result
        assert outcome == [409]  # ``target`` took the hold and refused it; try again
    pytest.fail("could not hold a worker")


def access_lines(server: Server, method_path: str) -> list[tuple[int, int]]:
    """(status, pid) of each access-log line for ``method_path``, in order."""
    return access_lines_matching(server, re.escape(method_path))


def access_lines_matching(server: Server, method_path: str) -> list[tuple[int, int]]:
    """(status, pid) of each access-log line whose request matches the regex ``method_path``."""
    pattern = re.compile(rf'"{method_path} HTTP/1\.1" (\d+) .* <(\d+)>$')
    return [
        (int(m.group(1)), int(m.group(2)))
        for line in server.access_log.read_text().splitlines()
        if (m := pattern.search(line))
    ]


@pytest.mark.redis
def test_two_gunicorn_workers_share_the_login_limit_through_redis(server):
    first, second = worker_pids(server)
    status, _, page = server.request("/login")
    assert status == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    email = f"{uuid.uuid4().hex}@example.com"
    allowed = int(limits.DEFAULTS["RATELIMIT_LOGIN_PER_EMAIL"].split()[0])
    statuses, retry_after = [], None
    for attempt in range(allowed + 2):
        target, other = (first, second) if attempt % 2 == 0 else (second, first)
        status, headers, _ = on_worker(
            server, target, other,
            lambda: server.request("/login", {"csrf_token": token, "email": email, "password": "wrong password"}),
        )
        statuses.append(status)
        retry_after = headers.get("Retry-After") or retry_after
    assert statuses == [422] * allowed + [429, 429]
    assert int(retry_after) > 0
    served = access_lines(server, "POST /login")
    assert [status for status, _ in served] == statuses
    # The attempts really alternated between the two workers.
    assert [pid for _, pid in served] == [first if n % 2 == 0 else second for n in range(allowed + 2)]


@pytest.mark.redis
def test_code_guessing_meets_429_across_two_gunicorn_workers_sharing_redis(server, app, make, test_redis):
    """Issue 6's "done when": unknown codes tried on either worker add up in Redis, and
    once the limit is reached both workers refuse, good codes included."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    good = new_invitation(app, company, owner, max_uses=10)
    first, second = worker_pids(server)
    assert server.request(f"/invite/{good}")[0] == 200  # good codes are never counted
    statuses, retry_after, pages = [], None, []
    for attempt in range(GUESSES + 2):
        target, other = (first, second) if attempt % 2 == 0 else (second, first)
        status, headers, page = on_worker(
            server, target, other, lambda: server.request(f"/invite/{uuid.uuid4().hex}")
        )
        statuses.append(status)
        pages.append(page)
        retry_after = headers.get("Retry-After") or retry_after
    assert statuses == [404] * GUESSES + [429, 429]
    assert "Invitation not found" in pages[0]
    assert "Too many attempts with invitation codes that do not exist. Try again in" in pages[-1]
    assert 0 < int(retry_after) <= 3600
    served = [line for line in access_lines_matching(server, r"GET /invite/\S+") if line[0] in (404, 429)]
    assert [status for status, _ in served] == statuses
    # The attempts really alternated between the two workers: each worker saw only half of
    # them, so neither could have counted to the limit alone.
    assert [pid for _, pid in served] == [first if n % 2 == 0 else second for n in range(GUESSES + 2)]
    # One counter in Redis, at the limit; the refusals themselves are not counted.
    counters = {
        key.decode(): int(test_redis.get(key))
        for key in test_redis.scan_iter(REDIS_KEY_PATTERN)
        if b"invitation-code-guess" in key
    }
    assert list(counters.values()) == [GUESSES], counters
    # While it holds, the good link is refused on both workers too.
    for target, other in ((first, second), (second, first)):
        assert on_worker(server, target, other, lambda: server.request(f"/invite/{good}"))[0] == 429


@pytest.mark.redis
def test_gunicorn_and_app_logs_show_no_invitation_code(server):
    server.request(f"/invite/{CODE}")
    server.request(f"/login?next=%2Finvite%2F{CODE}", headers={"Referer": f"{server.base}/invite/{CODE}"})
    server.request(f"/company/activity?code={CODE}")
    server.stop()  # flush and close both logs
    access, errors = server.access_log.read_text(), server.error_log.read_text()
    assert f"GET /invite/{CODE[:4]}… HTTP/1.1" in access
    assert f"/login?next=%2Finvite%2F{CODE[:4]}…" in access
    assert f"{server.base}/invite/{CODE[:4]}…" in access  # the Referer
    assert f"/invite/{CODE[:4]}…" in errors  # the app's own request line
    assert CODE not in access and CODE not in errors
    assert CODE[:12] not in access + errors
