"""In a real Chromium: the pages, Pico CSS and htmx work under the strict CSP with no
violation, and a failing htmx request shows a visible message."""
from __future__ import annotations

import os
import threading

import pytest
from flask import render_template_string
from playwright.sync_api import expect, sync_playwright
from werkzeug.exceptions import TooManyRequests, abort
from werkzeug.serving import make_server

from invites import invitations

from .conftest import CI, PASSWORD

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CI and not os.path.exists(CHROMIUM),
        reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)",
    ),
]

HTMX_PAGE = """{% extends "base.html" %}
{% block content %}
<h1>htmx under the CSP</h1>
<button id="fails" hx-post="/_test/fail/500" hx-target="#result">Fail with 500</button>
<button id="limited" hx-post="/_test/fail/429" hx-target="#result">Fail with 429</button>
<button id="works" hx-post="/_test/ok" hx-target="#result" hx-indicator="#spinner">Work</button>
<span id="spinner" class="htmx-indicator spinner" aria-hidden="true"></span>
<div id="result"></div>
{% endblock %}"""


def add_test_routes(app) -> None:
    def htmx_page():
        return render_template_string(HTMX_PAGE)

    def fail(code: int):
        if code == 429:
            raise TooManyRequests(retry_after=42)
        abort(code)

    def ok():
        return '<p id="swapped" class="flash flash-success">Swapped</p>'

    app.add_url_rule("/_test/htmx", "test_htmx_page", htmx_page)
    app.add_url_rule("/_test/fail/<int:code>", "test_fail", fail, methods=["POST"])
    app.add_url_rule("/_test/ok", "test_ok", ok, methods=["POST"])


@pytest.fixture
def live_server(app):
    """The test app served on a free loopback port, in a thread."""
    add_test_routes(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def page():
    """A Chromium page that records every CSP violation and console error."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation', function (e) {"
            "  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI); });"
        )
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        yield page
        browser.close()


def violations(page) -> list[str]:
    found = page.evaluate("window.__violations")
    return found + [m for m in page.console_errors if "Content Security Policy" in m]


def test_pages_pico_and_htmx_run_under_the_csp_without_violation(live_server, page, make, app):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    with app.app_context():
        invitations.create(company.id, owner, invitations.NewInvitation(None, 5, 7))
    for path in ("/", "/login", "/register"):
        page.goto(live_server + path)
        assert violations(page) == [], path
    page.goto(live_server + "/login")
    page.fill("#email", "boss@example.com")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard/company")
    for path in ("/company/members", "/company/activity", "/_test/htmx"):
        page.goto(live_server + path)
        assert violations(page) == [], path
    # Pico's and our style sheets were applied; htmx runs with its config and injected no <style>.
    assert page.evaluate("Array.from(document.styleSheets).every(s => s.cssRules.length > 0)")
    assert page.evaluate("document.styleSheets.length") == 2
    assert page.evaluate("getComputedStyle(document.querySelector('#spinner')).display") == "none"
    assert page.evaluate("window.htmx && htmx.config.includeIndicatorStyles === false && htmx.config.allowEval === false")
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    page.click("#works")
    page.wait_for_selector("#swapped")
    assert violations(page) == []


def test_failing_htmx_requests_show_a_visible_message(live_server, page):
    page.goto(live_server + "/_test/htmx")
    page.click("#fails")
    flashes = page.locator("#flashes")
    expect(flashes).to_have_text("Something went wrong. Reload the page and try again.")
    assert page.inner_text("#result") == ""  # the error page was not swapped in
    page.click("#limited")
    expect(flashes).to_have_text("Too many requests. Try again in 42 seconds.")
    assert page.get_attribute("#flashes .flash-error", "role") == "alert"
    assert violations(page) == []
