"""In a real Chromium: the pages, Pico CSS and htmx work under the strict CSP with no
violation, and a failing htmx request shows a visible message."""

from __future__ import annotations

import pytest
from flask import render_template_string
from playwright.sync_api import expect
from werkzeug.exceptions import TooManyRequests, abort

from invites import invitations

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]

HTMX_PAGE = """{% extends "base.html" %}
{% block content %}
<h1>htmx under the CSP</h1>
<button id="fails" hx-post="/_test/fail/500" hx-target="#result">Fail with 500</button>
<button id="limited" hx-post="/_test/fail/429" hx-target="#result">Fail with 429</button>
<button id="works" hx-post="/_test/ok" hx-target="#result" hx-indicator="#spinner">Work</button>
<span id="spinner" class="htmx-indicator spinner" aria-hidden="true"></span>
<div id="result"></div>
{% endblock %}"""


@pytest.fixture
def csp_app(app):
    """The browser tests' app (CSRF on) with a test-only htmx page and failing routes."""

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
    return app


@pytest.fixture
def page(csp_app, new_page):
    """A page that records every CSP violation and console error."""
    page = new_page()
    page.context.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', function (e) {"
        "  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI); });"
    )
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    return page


def violations(page) -> list[str]:
    found = page.evaluate("window.__violations")
    return found + [m for m in page.console_errors if "Content Security Policy" in m]


def test_pages_pico_and_htmx_run_under_the_csp_without_violation(page, make, app):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    with app.app_context():
        invitations.create(company.id, owner, invitations.NewInvitation(None, 5, 7))
    for path in ("/", "/login", "/register"):
        page.goto(path)
        assert violations(page) == [], path
    log_in(page, "boss@example.com")
    assert violations(page) == [], "/dashboard/company"
    for path in ("/company/members", "/company/activity", "/_test/htmx"):
        page.goto(path)
        assert violations(page) == [], path
    # Pico's and our style sheets were applied; htmx runs with its config and injected no <style>.
    assert page.evaluate("Array.from(document.styleSheets).every(s => s.cssRules.length > 0)")
    assert page.evaluate("document.styleSheets.length") == 2
    assert page.evaluate("getComputedStyle(document.querySelector('#spinner')).display") == "none"
    assert page.evaluate(
        "window.htmx && htmx.config.includeIndicatorStyles === false && htmx.config.allowEval === false"
    )
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    page.click("#works")
    page.wait_for_selector("#swapped")
    assert violations(page) == []


def test_failing_htmx_requests_show_a_visible_message(page, make):
    # htmx posts only from pages of someone signed in (base.html gives them the CSRF header).
    make.company("Acme", owner_email="boss@example.com")
    log_in(page, "boss@example.com")
    page.goto("/_test/htmx")
    with page.expect_response("**/_test/fail/500") as failed:
        page.click("#fails")
    assert failed.value.status == 500
    flashes = page.locator("#flashes")
    expect(flashes).to_have_text("Something went wrong. Reload the page and try again.")
    assert page.inner_text("#result") == ""  # the error page was not swapped in
    with page.expect_response("**/_test/fail/429") as limited:
        page.click("#limited")
    assert limited.value.status == 429
    expect(flashes).to_have_text("Too many requests. Try again in 42 seconds.")
    assert page.get_attribute("#flashes .flash-error", "role") == "alert"
    assert violations(page) == []
