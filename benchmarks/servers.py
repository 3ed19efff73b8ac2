"""Start the app under gunicorn on a free port, wait until it answers, stop it for sure."""

from __future__ import annotations

import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The app's own settings; anything not given here must not leak in from the caller's shell.
APP_VARIABLES = (
    "DATABASE_URL",
    "SECRET_KEY",
    "INVITES_ENV",
    "REDIS_URL",
    "RATELIMIT_ENABLED",
    "PUBLIC_URL",
    "MAIL_URL",
)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM gunicorn if the process that started it dies,
    so that a killed test run or benchmark leaves no server behind."""
    try:
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Instance:
    """One gunicorn master (and its workers), in a process group of its own."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by gunicorn's master and workers; None off Linux.

        Read around a run, it gives the server's CPU per request, a figure other
        programs on a shared machine disturb far less than requests/s.
        """

        def own_and_children(pid: int) -> float:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    seconds += sum(own_and_children(int(child)) for child in children.read().split())
            return seconds

        try:
            return own_and_children(self.process.pid)
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL to the whole group if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            # The group is the one this process created (start_new_session): workers too.
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()


def start(
    env: dict[str, str],
    *,
    workers: int = 2,
    threads: int = 1,
    port: int | None = None,
    log_path: Path,
    ready_path: str = "/healthz",
    timeout: float = 60.0,
    extra_args: tuple[str, ...] = (),
    app_spec: str = "app:app",
    worker_class: str | None = None,
    worker_connections: int | None = None,
) -> Instance:
    """Start ``gunicorn app:app`` (or ``app_spec``) with the app settings ``env``; return once it answers.

    gunicorn runs in the repository, so it reads ``gunicorn.conf.py`` as in production;
    the command line here (workers, threads, bind, and the worker class and its
    connection limit when given) overrides what that file sets.

    Raises ``RuntimeError`` (with the end of gunicorn's log) if it exits or does not
    answer ``ready_path`` within ``timeout`` seconds; nothing is left running then.
    """
    port = port or free_port()
    environment = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
    # Production refuses to start without a mail server; the benchmarks print emails instead.
    environment["MAIL_URL"] = "console://"
    environment.update(env)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
        *(("--worker-class", worker_class) if worker_class else ()),
        *(("--worker-connections", str(worker_connections)) if worker_connections else ()),
        *extra_args,
        app_spec,
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    log.close()
    instance = Instance(process, port, log_path)
    try:
        wait_until_ready(instance, ready_path, timeout)
    except BaseException:
        instance.stop()
        raise
    return instance


def wait_until_ready(instance: Instance, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if instance.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {instance.process.returncode}:\n{instance.log_tail()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=5)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
            if status < 500:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not answer {path} within {timeout:.0f} s:\n{instance.log_tail()}")
        time.sleep(0.2)
