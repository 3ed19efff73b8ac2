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

    def __init__(self, tmp_path: Path, env: dict, *, log_files: bool = True):
        """``log_files=False``: the logs where gunicorn.conf.py sends them (stdout and
        stderr, kept in ``stdout.log`` and ``stderr.log``)."""
        self.access_log = tmp_path / ("access.log" if log_files else "stdout.log")
        self.error_log = tmp_path / ("error.log" if log_files else "stderr.log")
        files = ["--access-logfile", str(self.access_log), "--error-logfile", str(self.error_log)]
        self._outputs = [] if log_files else [self.access_log.open("w"), self.error_log.open("w")]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--workers",
                "2",
                "--bind",
                "127.0.0.1:0",
                *(files if log_files else []),
                "tests.gunicorn_probe_app:app",
            ],
            cwd=ROOT,
            env=env,
            **({} if log_files else {"stdout": self._outputs[0], "stderr": self._outputs[1]}),
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

    def request(self, path: str, data: dict | str | None = None, headers: dict | None = None):
        """(status, headers, body) of one request on a new connection; ``data`` a form, or raw text."""
        if isinstance(data, str):
            body = data.encode()
        else:
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
        for output in self._outputs:
            output.close()


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
            server,
            target,
            other,
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
        status, headers, page = on_worker(server, target, other, lambda: server.request(f"/invite/{uuid.uuid4().hex}"))
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


# --- issue 15 -----------------------------------------------------------------------

DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.redis
def test_deep_json_on_both_workers_leaves_the_login_limit_counted_in_redis(server, test_redis):
    """Before: the key function's RecursionError switched each worker's limits to its own memory."""
    first, second = worker_pids(server)
    status, _, page = server.request("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    json_headers = {"Content-Type": "application/json"}
    for target, other in ((first, second), (second, first)):
        api = on_worker(server, target, other, lambda: server.request("/api/auth/login", DEEP, json_headers))
        assert api[0] == 400 and json.loads(api[2]) == {"error": "The body is not valid JSON."}
        form = on_worker(
            server, target, other, lambda: server.request("/login", DEEP, {**json_headers, "X-CSRFToken": token})
        )
        assert form[0] == 400
    email = f"{uuid.uuid4().hex}@example.com"
    allowed = int(limits.DEFAULTS["RATELIMIT_LOGIN_PER_EMAIL"].split()[0])
    statuses = []
    for attempt in range(allowed + 1):
        target, other = (first, second) if attempt % 2 == 0 else (second, first)
        body = json.dumps({"email": email, "password": "wrong password"})
        statuses.append(
            on_worker(server, target, other, lambda: server.request("/api/auth/login", body, json_headers))[0]
        )
    assert statuses == [401] * allowed + [429]
    counters = [int(test_redis.get(key)) for key in test_redis.scan_iter(REDIS_KEY_PATTERN) if b"/email:" in key]
    assert counters == [allowed, allowed]  # per minute and per hour
    server.stop()
    assert "Traceback" not in server.error_log.read_text()


def test_gunicorn_ignores_forwarded_scheme_and_prefix_without_trusted_proxies(app, database_url, tmp_path):
    env = server_environment(database_url, None)
    env.pop("TRUSTED_PROXIES", None)
    env.pop("FORWARDED_ALLOW_IPS", None)
    server = Server(tmp_path, env)
    try:
        status, _, body = server.request(
            "/_test/where",
            headers={
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Ssl": "on",
                "X-Forwarded-For": "203.0.113.9",
                "X-Forwarded-Host": "evil.example",
                "SCRIPT_NAME": "/evil",
            },
        )
    finally:
        server.stop()
    assert status == 200
    assert json.loads(body) == {
        "scheme": "http",
        "scriptRoot": "",
        "remoteAddr": "127.0.0.1",
        "publicBase": server.base,
    }


def encoded(text: str) -> str:
    """Every character percent-encoded: still the same path to the router."""
    return "".join(f"%{ord(c):02X}" for c in text)


@pytest.mark.redis
def test_codes_written_with_percent_escapes_stay_out_of_both_logs(server):
    """Issue 15, item 5: paths, Referers and query strings, encoded in the ways the router
    and browsers still understand."""
    half = CODE[:1] + encoded(CODE[1:])
    sent = [
        (f"/invite/{encoded(CODE)}", {}),
        (f"/invite/{half}", {}),
        (f"//invite//{CODE}", {}),
        (f"/invite%2F{CODE}", {}),
        (f"/login?next=%252Finvite%252F{encoded(CODE)}", {}),
        (f"/company/activity?{encoded('code')}={CODE}", {}),
        (f"/company/activity?code={encoded(CODE)}", {}),
        ("/login", {"Referer": f"{server.base}/invite/{encoded(CODE)}"}),
        ("/login", {"Referer": f"{server.base}/login?next=%2Finvite%2F{half}"}),
    ]
    for path, headers in sent:
        server.request(path, headers=headers)
    server.stop()
    access, errors = server.access_log.read_text(), server.error_log.read_text()
    assert len([line for line in access.splitlines() if " HTTP/1.1" in line]) >= len(sent)
    for log in (access, errors):
        fully_decoded = log
        for _ in range(3):
            fully_decoded = urllib.parse.unquote(fully_decoded)
        assert CODE not in fully_decoded
        assert CODE[:12] not in fully_decoded
        assert encoded(CODE)[:30] not in log
    assert f"GET /invite/{CODE[:4]}… HTTP/1.1" in access  # the encoded path, logged decoded and masked


def test_the_access_log_goes_to_stdout_and_the_app_log_to_stderr_as_the_readme_says(app, database_url, tmp_path):
    server = Server(tmp_path, server_environment(database_url, None), log_files=False)
    server.request("/login")
    server.stop()
    stdout, stderr = server.access_log.read_text(), server.error_log.read_text()
    assert '"GET /login HTTP/1.1" 200' in stdout
    assert "GET /login 200" in stderr  # the app's request log (invites.request)
    assert "HTTP/1.1" not in stderr
    readme = (ROOT / "README.md").read_text()
    assert "gunicorn's access log, one line per request, to stdout" in readme


@pytest.mark.redis
def test_a_redis_outage_under_gunicorn_one_warning_per_worker_and_back_to_redis(app, database_url, tmp_path):
    from .redis_server import RedisServer

    redis_server = RedisServer()
    try:
        server = Server(tmp_path, server_environment(database_url, redis_server.url))
        try:
            first, second = worker_pids(server)
            status, _, page = server.request("/login")
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

            def fail(email):
                return lambda: server.request("/login", {"csrf_token": token, "email": email, "password": "wrong one"})

            assert (
                server.request("/login", {"csrf_token": token, "email": "a@example.com", "password": "x" * 10})[0]
                == 422
            )
            assert list(redis_server.client().scan_iter(REDIS_KEY_PATTERN))

            redis_server.stop()
            during = []
            for n in range(6):
                target, other = (first, second) if n % 2 == 0 else (second, first)
                during.append(on_worker(server, target, other, fail(f"during{n}@example.com"))[0])
            assert set(during) <= {422, 429} and 422 in during
            for target, other in ((first, second), (second, first)):
                health = on_worker(server, target, other, lambda: server.request("/healthz"))
                assert health[0] == 200
                assert json.loads(health[2]) == {"status": "degraded", "rateLimits": "memory"}

            redis_server.start()  # empty, on the same port
            deadline = time.monotonic() + 15
            healthy: set[int] = set()
            while healthy != {first, second} and time.monotonic() < deadline:
                time.sleep(0.5)
                for target, other in ((first, second), (second, first)):
                    health = on_worker(server, target, other, lambda: server.request("/healthz"))
                    if json.loads(health[2]) == {"status": "ok"}:
                        healthy.add(target)
            assert healthy == {first, second}, "the workers did not go back to Redis within seconds"
            email = f"{uuid.uuid4().hex}@example.com"
            after = []
            for n in range(4):
                target, other = (first, second) if n % 2 == 0 else (second, first)
                after.append(on_worker(server, target, other, fail(email))[0])
            assert after == [422] * 4
            # Both workers counted into the one counter in Redis.
            client = redis_server.client()
            counters = [int(client.get(key)) for key in client.scan_iter(REDIS_KEY_PATTERN) if b"/email:" in key]
            assert counters == [4, 4]  # per minute and per hour
        finally:
            server.stop()
        log = server.error_log.read_text()
        assert log.count("Rate limits: Redis does not answer") == 2, log  # one per worker
        assert log.count("Rate limits: Redis answers again") == 2, log
        assert "Traceback" not in log
    finally:
        redis_server.stop()
