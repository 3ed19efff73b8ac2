"""Error pages: finished HTML for people, JSON under /api, a rolled-back session after a bug."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from flask import abort, request

from invites import create_app
from invites.errors import CSRF_MESSAGE, MESSAGES
from invites.extensions import db
from invites.models import Company, User

from .conftest import base_config


def add_failing_routes(app) -> None:
    """Test-only routes: abort with a code, and bugs that strike after a write."""

    def abort_with(code: int):
        abort(code)

    def write_then_fail():
        db.session.add(Company(name="Half-made company"))
        db.session.flush()
        raise RuntimeError("a bug after a write")

    def duplicate_user_then_fail():
        existing = db.session.scalars(sa.select(User)).first()
        db.session.add(User(email=existing.email, name="Copy", password_hash="x"))
        db.session.flush()  # IntegrityError: the session now needs a rollback

    def companies_seen_at_the_end(response):
        # What the session sees once the error page is made: the half-made
        # company is gone only if the handler rolled back.
        if request.path.endswith("/write-then-fail"):
            seen.append(db.session.scalar(sa.select(sa.func.count()).select_from(Company)))
        return response

    seen = app.extensions["companies_seen_at_the_end"] = []

    app.add_url_rule("/_test/abort/<int:code>", "abort_page", abort_with, methods=["GET", "POST"])
    app.add_url_rule("/api/_test/abort/<int:code>", "abort_api", abort_with, methods=["GET", "POST"])
    app.add_url_rule("/_test/write-then-fail", "write_then_fail", write_then_fail)
    app.add_url_rule("/api/_test/write-then-fail", "api_write_then_fail", write_then_fail)
    app.add_url_rule("/_test/duplicate-user", "duplicate_user", duplicate_user_then_fail)
    app.after_request(companies_seen_at_the_end)


@pytest.fixture
def failing_app(app):
    add_failing_routes(app)
    return app


@pytest.mark.parametrize("code", [400, 403, 404, 405, 413, 422, 429, 500])
def test_every_error_is_a_finished_page(failing_app, client, code):
    response = client.get(f"/_test/abort/{code}")
    assert response.status_code == code
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>")
    assert f"<h1>{code}</h1>" in page
    assert MESSAGES[code].split(".")[0] in page
    assert 'href="/"' in page and "Back to Invites" in page
    assert '<nav aria-label="Main">' in page  # the site's own layout, not a bare page


@pytest.mark.parametrize("code", [400, 403, 404, 405, 413, 422, 429, 500])
def test_every_error_under_api_is_json(failing_app, client, code):
    response = client.get(f"/api/_test/abort/{code}")
    assert response.status_code == code
    assert response.is_json
    assert response.get_json() == {"error": MESSAGES[code]}


def test_unknown_api_path_is_json_404(client):
    response = client.post("/api/companies/nothing", json={})
    assert response.status_code == 404
    assert response.get_json() == {"error": MESSAGES[404]}


def test_405_keeps_the_allow_header(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "<h1>405</h1>" in response.get_data(as_text=True)


def test_stale_csrf_token_is_a_400_page_that_says_why(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400
    assert CSRF_MESSAGE in response.get_data(as_text=True)


def test_a_body_over_the_size_limit_is_413(client):
    response = client.post("/login", data={"email": "a@example.com", "password": "x" * 300_000})
    assert response.status_code == 413
    assert "<h1>413</h1>" in response.get_data(as_text=True)


def test_500_rolls_the_session_back(failing_app, client, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.get("/_test/write-then-fail")
    assert response.status_code == 500
    assert "<h1>500</h1>" in response.get_data(as_text=True)
    assert failing_app.extensions["companies_seen_at_the_end"] == [0], (
        "the error page was made with the half-made company still in the session"
    )
    with failing_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Company)) == 0
    assert "Unhandled error on GET /_test/write-then-fail" in caplog.text
    # The next request on the same app works normally.
    assert client.get("/login").status_code == 200


def test_500_under_api_is_json_and_rolls_back(failing_app, client):
    response = client.get("/api/_test/write-then-fail")
    assert response.status_code == 500
    assert response.get_json() == {"error": MESSAGES[500]}
    with failing_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Company)) == 0


def test_500_after_a_failed_flush_still_shows_the_signed_in_page(failing_app, client, make, auth, caplog):
    """The failed flush leaves the session unusable until rolled back; the error
    page asks the database for the user's companies, so it works only after it."""
    make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    with caplog.at_level(logging.ERROR):
        response = client.get("/_test/duplicate-user")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "<h1>500</h1>" in page
    assert "Acme" in page and "Log out" in page  # base.html's nav, from the database
    # Database errors name no values (hide_parameters): not the email it tried to insert.
    assert "IntegrityError" in caplog.text
    assert "boss@example.com" not in caplog.text


def test_error_page_without_a_database_is_still_a_page(app, database_url):
    """If even error.html cannot be rendered (the database is down and a user is
    signed in), a bare page with the right status, not a crash."""
    config = base_config("sqlite:////nonexistent-directory/invites.sqlite3")
    broken = create_app(config)
    client = broken.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:any-session-token"  # as get_id writes it
        session["_fresh"] = True
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<h1>404</h1>" in page and MESSAGES[404] in page
    assert 'href="/"' in page
