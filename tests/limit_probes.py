"""Test-only views wearing the limits of ``invites/limits.py``.

They stand in for the invite page, validate, accept, create and the API
log-in until those routes exist and wear the limits themselves: each answers
the way the real route must (404 for an unknown code, 201 for a created
invitation, 401 for a failed API log-in), which is what the limits count.
"""
from __future__ import annotations

from flask import Flask, jsonify, request
from flask_login import login_required

from invites import accounts, limits

GOOD_CODE = "GoodCodeForTheWholeTeam0123456789"


@limits.code_guessing
def invite_page(code: str):
    """Like ``GET /invite/<code>``: the company for a good code, 404 otherwise."""
    if code == GOOD_CODE:
        return "Join Acme"
    return "Invitation not found", 404


@limits.code_guessing
def api_validate():
    """Like ``POST /api/companies/invitations/validate``."""
    body = request.get_json(silent=True) or {}
    if body.get("code") == GOOD_CODE:
        return jsonify(valid=True)
    return jsonify(error="Invitation not found"), 404


@limits.invitation_creation
@login_required
def create_invitation():
    """Like the create form: 201 when the input is good, 422 otherwise (nothing stored)."""
    if request.form.get("max_uses") == "5":
        return "created", 201
    return "Maximum uses must be a whole number from 1 to 100.", 422


@limits.login_attempts
def api_login():
    """Like ``POST /api/auth/login``: 200 or 401 with a JSON error."""
    body = request.get_json(silent=True) or {}
    if accounts.authenticate(body.get("email"), body.get("password")) is None:
        return jsonify(error="Invalid email or password."), 401
    return jsonify(ok=True)


def register(app: Flask) -> None:
    """Add the probes to a test app (paths apart from the real routes)."""
    app.add_url_rule("/_probe/invite/<code>", "probe_invite", invite_page, methods=["GET", "POST"])
    app.add_url_rule("/api/_probe/validate", "probe_validate", api_validate, methods=["POST"])
    app.add_url_rule("/_probe/create", "probe_create", create_invitation, methods=["POST"])
    app.add_url_rule("/api/_probe/login", "probe_api_login", api_login, methods=["POST"])
