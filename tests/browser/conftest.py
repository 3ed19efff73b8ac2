"""Browser fixtures: Debian's Chromium driven by Playwright, against a live server.

The app runs in a thread on a free 127.0.0.1 port, on the pass's database, with
CSRF protection on (as in production). Chromium is ``/usr/bin/chromium``
(``CHROMIUM`` overrides it); Playwright's own browser download is not used.
Without Chromium these tests skip with the reason shown, except
under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from ..conftest import CI, PASSWORD, fresh_app

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"needs Chromium at {CHROMIUM}: apt-get install -y chromium"
    return None


def pytest_collection_modifyitems(config, items):
    """Outside CI, browser tests skip with the reason; under CI the fixture fails them."""
    reason = missing_browser()
    if reason is None or CI:
        return
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    reason = missing_browser()
    if reason is not None:
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def app(database_url):
    """The shared ``app`` fixture, but with CSRF protection on, as a real browser meets it."""
    with fresh_app(database_url, WTF_CSRF_ENABLED=True) as app:
        yield app


@pytest.fixture
def live_server(app):
    """The app served on a free local port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def new_page(browser, live_server):
    """Open a page in a fresh context (cookies, permissions, JavaScript on or off).

    Every test that uses it also proves the pages it saw ran under the strict
    Content-Security-Policy: Chromium reports each violation on the console, and
    any such report fails the test.
    """
    contexts = []
    csp_violations: list[str] = []

    def record(message) -> None:
        if "Content Security Policy" in message.text:
            csp_violations.append(message.text)

    def open_page(**context_options):
        context = browser.new_context(base_url=live_server, **context_options)
        context.set_default_timeout(10_000)
        context.on("console", record)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    assert csp_violations == [], "Content-Security-Policy violations:\n" + "\n".join(csp_violations)


def log_in(page, email: str, password: str = PASSWORD) -> None:
    """Log in through the real form; lands on the dashboard."""
    page.goto("/login?next=/dashboard/company")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/company")
