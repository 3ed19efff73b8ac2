"""The JSON API: login, each endpoint's answers, bad input, cross-site refusals, the description."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
import sqlalchemy as sa

from invites.extensions import db
from invites.invitations import Refusal
from invites.models import AuditEvent, Invitation, Membership, Redemption, Role, User, utcnow
from invites.web import REFUSAL_STATUS

from .api_helpers import (
    ACCEPT,
    CREATE,
    LIST,
    LOGIN,
    LOGOUT,
    VALIDATE,
    api_login,
    invitation_row,
    revoke_path,
    toggle_path,
)
from .conftest import PASSWORD, base_config, fresh_app
from .factories import count

PROTECTED = [
    ("get", LIST),
    ("post", CREATE),
    ("post", VALIDATE),
    ("post", ACCEPT),
    ("post", toggle_path(1)),
    ("post", revoke_path(1)),
]


@pytest.fixture
def acme(make):
    """Acme with its owner signed in nowhere yet."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    return company, owner


@pytest.fixture
def owner_client(client, acme):
    api_login(client, "boss@example.com")
    return client


def create(client, **body):
    response = client.post(CREATE, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["invitation"]


def expire(app, invitation_id: int) -> None:
    """Move an invitation's expiry into the past (test setup only)."""
    with app.app_context():
        db.session.execute(
            sa.update(Invitation)
            .where(Invitation.id == invitation_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()


# --- login and logout ---------------------------------------------------------


def test_login_answers_user_and_companies(client, make, acme):
    company, _ = acme
    other, _ = make.company("Globex")
    make.user("ann@example.com", company=company, role=Role.ADMIN, name="Ann")
    with client.application.app_context():
        ann_id = db.session.scalar(sa.select(User.id).where(User.email == "ann@example.com"))
        db.session.add(Membership(user_id=ann_id, company_id=other.id, role="MEMBER"))
        db.session.commit()
    assert client.get(LIST).status_code == 401
    response = client.post(LOGIN, json={"email": " Ann@Example.com ", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"] == {"id": ann_id, "email": "ann@example.com", "name": "Ann"}
    assert body["companies"] == [
        {"id": company.id, "name": "Acme", "role": "ADMIN", "current": True},
        {"id": other.id, "name": "Globex", "role": "MEMBER", "current": False},
    ]
    assert client.get(LIST).status_code == 200


@pytest.mark.parametrize("env, secure", [("development", False), ("production", True)])
def test_login_cookie_is_httponly_lax_and_secure_outside_development(database_url, monkeypatch, env, secure):
    """The cookie as configured from the environment (the test config leaves these out)."""
    from invites import create_app

    from .conftest import Factory, _empty_all_tables

    monkeypatch.setenv("INVITES_ENV", env)
    monkeypatch.setenv("SECRET_KEY", "cookie-test-secret")
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("PUBLIC_URL", "http://localhost")  # production requires it; the test client's host
    config = {
        k: v for k, v in base_config(database_url).items() if not k.startswith(("SECRET_KEY", "SESSION_", "REMEMBER_"))
    }
    app = create_app(config)
    try:
        Factory(app).company("Acme", owner_email="boss@example.com")
        response = app.test_client().post(LOGIN, json={"email": "boss@example.com", "password": PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure
    finally:
        with app.app_context():
            db.session.remove()
            _empty_all_tables()
            db.engine.dispose()


@pytest.mark.parametrize(
    "email, password",
    [("boss@example.com", "wrong password"), ("nobody@example.com", PASSWORD), ("boss\x00@example.com", PASSWORD)],
)
def test_wrong_credentials_answer_401_with_one_message(client, acme, email, password):
    response = client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.get_json() == {"error": "Invalid email or password."}
    assert "Set-Cookie" not in response.headers
    assert client.get(LIST).status_code == 401


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"email": "Enter your email.", "password": "Enter your password."}),
        ({"email": "boss@example.com"}, {"password": "Enter your password."}),
        ({"email": 42, "password": PASSWORD}, {"email": "Enter your email."}),
        ({"email": "boss@example.com", "password": ["x"]}, {"password": "Enter your password."}),
    ],
)
def test_login_without_email_or_password_is_400_with_fields(client, acme, body, fields):
    response = client.post(LOGIN, json=body)
    assert response.status_code == 400
    assert response.get_json() == {"error": "Some fields need fixing.", "fields": fields}


def test_logout_ends_the_session(owner_client):
    assert owner_client.post(LOGOUT).get_json() == {"success": True}
    assert owner_client.get(LIST).status_code == 401
    # Signing out twice is not an error.
    assert owner_client.post(LOGOUT).status_code == 200


@pytest.mark.parametrize("method, path", PROTECTED)
def test_anonymous_gets_json_401_not_a_login_redirect(client, acme, method, path):
    response = getattr(client, method)(path, json={"code": "x"} if method == "post" else None)
    assert response.status_code == 401
    assert response.is_json and response.get_json() == {"error": "Log in to continue."}
    assert "Location" not in response.headers


def test_html_pages_still_redirect_anonymous_visitors_to_login(client):
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_unknown_api_path_and_wrong_method_answer_json(owner_client):
    missing = owner_client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.is_json
    wrong = owner_client.get(CREATE)
    assert wrong.status_code == 405 and wrong.is_json
    assert "POST" in wrong.headers["Allow"]


# --- create ---------------------------------------------------------------------


def test_create_with_defaults(owner_client, app, acme):
    company, _ = acme
    before = utcnow()
    response = owner_client.post(CREATE, json={})
    assert response.status_code == 201
    invitation = response.get_json()["invitation"]
    assert invitation["email"] is None
    assert (invitation["maxUses"], invitation["usedCount"], invitation["remainingUses"]) == (1, 0, 1)
    assert invitation["isActive"] is True and invitation["status"] == "PENDING"
    assert invitation["revokedAt"] is None
    assert invitation["url"] == f"http://localhost/invite/{invitation['code']}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", invitation["code"])
    with app.app_context():
        row = db.session.get(Invitation, invitation["id"])
        assert row.company_id == company.id
        assert timedelta(days=7) - timedelta(minutes=1) < row.expires_at - before < timedelta(days=7, minutes=1)
        assert row.expires_at.isoformat(timespec="seconds").replace("+00:00", "Z") == invitation["expiresAt"]
    assert count(app, AuditEvent) == 1


def test_create_with_email_uses_and_days_as_the_seed_shows(owner_client, app):
    invitation = create(owner_client, email="Team@Company.com", expiresInDays=30, maxUses=100)
    assert invitation["email"] == "team@company.com"
    assert invitation["maxUses"] == 100
    assert count(app, Invitation) == 1


def test_whole_numbers_written_as_json_floats_are_whole_numbers(owner_client):
    invitation = create(owner_client, maxUses=5.0, expiresInDays=2.0)
    assert invitation["maxUses"] == 5


def test_null_fields_take_the_defaults(owner_client):
    invitation = create(owner_client, email=None, maxUses=None, expiresInDays=None)
    assert (invitation["email"], invitation["maxUses"]) == (None, 1)


def test_an_empty_body_without_content_type_creates_a_default_invitation(owner_client, app):
    response = owner_client.post(CREATE)
    assert response.status_code == 201
    assert response.get_json()["invitation"]["maxUses"] == 1


def test_create_link_uses_public_url_when_set(owner_client, app):
    app.config["PUBLIC_URL"] = "https://invites.example.com"
    invitation = create(owner_client)
    assert invitation["url"] == f"https://invites.example.com/invite/{invitation['code']}"


MAX_USES_ERROR = "Maximum uses must be a whole number from 1 to 100."
EXPIRES_ERROR = "Expiry must be a whole number of days from 1 to 30."
EMAIL_ERROR = "Enter a valid email address, or leave it empty."


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"maxUses": 0}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": 101}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": 5.5}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": 1.5e2}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": float("nan")}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": True}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": -1}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": 10**40}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": "1" * 300}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": [5]}, {"maxUses": MAX_USES_ERROR}),
        ({"maxUses": "5"}, {"maxUses": MAX_USES_ERROR}),
        ({"expiresInDays": "7"}, {"expiresInDays": EXPIRES_ERROR}),
        ({"maxUses": {"n": 5}}, {"maxUses": MAX_USES_ERROR}),
        ({"expiresInDays": 0}, {"expiresInDays": EXPIRES_ERROR}),
        ({"expiresInDays": 31}, {"expiresInDays": EXPIRES_ERROR}),
        ({"expiresInDays": 1e308}, {"expiresInDays": EXPIRES_ERROR}),
        ({"email": "not an email"}, {"email": EMAIL_ERROR}),
        ({"email": 12}, {"email": EMAIL_ERROR}),
        ({"email": "a\x00@example.com"}, {"email": EMAIL_ERROR}),
        ({"email": "x" * 300 + "@example.com"}, {"email": EMAIL_ERROR}),
        (
            {"email": "nope", "maxUses": 0, "expiresInDays": 99},
            {"email": EMAIL_ERROR, "maxUses": MAX_USES_ERROR, "expiresInDays": EXPIRES_ERROR},
        ),
    ],
)
def test_create_field_errors_use_the_forms_wording_in_camel_case(owner_client, app, body, fields):
    response = owner_client.post(CREATE, json=body)
    assert response.status_code == 400
    assert response.get_json() == {"error": "Some fields need fixing.", "fields": fields}
    assert count(app, Invitation) == 0 and count(app, AuditEvent) == 0


NOT_JSON = "Send the body as JSON, with Content-Type: application/json."


@pytest.mark.parametrize(
    "data, content_type, status, message",
    [
        ("{", "application/json", 400, "The body is not valid JSON."),
        ('{"maxUses": 5,}', "application/json", 400, "The body is not valid JSON."),
        (b"\xff\xfe\xfa", "application/json", 400, "The body is not valid JSON."),
        ("[" * 5000 + "]" * 5000, "application/json", 400, "The body is not valid JSON."),
        ('{"maxUses": ' + "9" * 5000 + "}", "application/json", 400, "The body is not valid JSON."),
        ('{"email": "\\ud800@example.com"}', "application/json", 400, "The body is not valid JSON."),
        ("[1, 2]", "application/json", 400, "The body must be a JSON object."),
        ('"text"', "application/json", 400, "The body must be a JSON object."),
        ("5", "application/json", 400, "The body must be a JSON object."),
        ("null", "application/json", 400, "The body must be a JSON object."),
        ("true", "application/json", 400, "The body must be a JSON object."),
        ("maxUses=5", "application/x-www-form-urlencoded", 415, NOT_JSON),
        ('{"maxUses": 5}', "text/plain", 415, NOT_JSON),
        ('{"email": "' + "x" * 20_000 + '"}', "application/json", 413, "The request is too large."),
    ],
)
def test_malformed_bodies_are_4xx_and_store_nothing(owner_client, app, data, content_type, status, message):
    response = owner_client.post(CREATE, data=data, content_type=content_type)
    assert response.status_code == status
    assert response.get_json() == {"error": message}
    assert count(app, Invitation) == 0


@pytest.mark.parametrize("path", [LOGIN, VALIDATE, ACCEPT])
@pytest.mark.parametrize("data", ["[]", "{", "[" * 3000, '{"code": "\\udfff"}', "0" * 20_000])
def test_every_body_endpoint_survives_malformed_bodies(owner_client, path, data):
    response = owner_client.post(path, data=data, content_type="application/json")
    assert response.status_code in (400, 413)
    assert response.is_json and "error" in response.get_json()


# --- validate ----------------------------------------------------------------------


def test_validate_answers_remaining_uses_and_company_with_email_masked(owner_client, client, make, acme):
    company, _ = acme
    code = create(owner_client, email="john@example.com", maxUses=5)["code"]
    make.user("visitor@example.com")
    api_login(client, "visitor@example.com")
    response = client.post(VALIDATE, json={"code": code})
    assert response.status_code == 200
    body = response.get_json()
    assert body["valid"] is True
    assert body["invitation"]["company"] == {"id": company.id, "name": "Acme"}
    assert body["invitation"]["email"] == "j***@example.com"
    assert (body["invitation"]["maxUses"], body["invitation"]["usedCount"], body["invitation"]["remainingUses"]) == (
        5,
        0,
        5,
    )
    assert "id" not in body["invitation"]


@pytest.mark.parametrize(
    "body, status, expected",
    [
        ({"code": "no-such-code"}, 404, {"error": "Invitation not found"}),
        ({"code": "../../etc/passwd"}, 404, {"error": "Invitation not found"}),
        ({"code": "x" * 65}, 404, {"error": "Invitation not found"}),
        ({}, 400, {"error": "Some fields need fixing.", "fields": {"code": "Enter an invitation code."}}),
        ({"code": 12345}, 400, {"error": "Some fields need fixing.", "fields": {"code": "Enter an invitation code."}}),
        ({"code": ""}, 400, {"error": "Some fields need fixing.", "fields": {"code": "Enter an invitation code."}}),
        ({"code": "  "}, 404, {"error": "Invitation not found"}),
    ],
)
@pytest.mark.parametrize("path", [VALIDATE, ACCEPT])
def test_unknown_or_missing_code(owner_client, app, path, body, status, expected):
    response = owner_client.post(path, json=body)
    assert response.status_code == status
    assert response.get_json() == expected
    assert count(app, Membership) == 1


STATE_REFUSALS = [
    pytest.param(lambda c, app, inv: c.post(toggle_path(inv["id"])), "This invitation has been paused", id="paused"),
    pytest.param(lambda c, app, inv: c.post(revoke_path(inv["id"])), "This invitation has been revoked", id="revoked"),
    pytest.param(lambda c, app, inv: expire(app, inv["id"]), "This invitation has expired", id="expired"),
]


@pytest.mark.parametrize("setup, message", STATE_REFUSALS)
@pytest.mark.parametrize("path", [VALIDATE, ACCEPT])
def test_state_refusals_are_409_with_the_exact_message(owner_client, app, make, path, setup, message):
    invitation = create(owner_client, maxUses=2)
    setup(owner_client, app, invitation)
    make.user("visitor@example.com")
    visitor = app.test_client()
    api_login(visitor, "visitor@example.com")
    before = invitation_row(app, invitation["id"])
    response = visitor.post(path, json={"code": invitation["code"]})
    assert response.status_code == 409
    assert response.get_json() == {"error": message}
    assert invitation_row(app, invitation["id"]) == before
    assert count(app, Redemption) == 0


# --- accept --------------------------------------------------------------------------


def test_accept_joins_as_member_and_counts_the_use(owner_client, app, make, acme):
    company, _ = acme
    invitation = create(owner_client, maxUses=2)
    user = make.user("new@example.com")
    joiner = app.test_client()
    api_login(joiner, "new@example.com")
    response = joiner.post(ACCEPT, json={"code": invitation["code"]})
    assert response.status_code == 200
    assert response.get_json() == {
        "success": True,
        "company": {"id": company.id, "name": "Acme"},
        "role": "MEMBER",
        "invitation": {"usedCount": 1, "maxUses": 2, "remainingUses": 1, "status": "PENDING"},
    }
    with app.app_context():
        membership = db.session.execute(sa.select(Membership).where(Membership.user_id == user.id)).scalar_one()
        assert (membership.company_id, membership.role) == (company.id, "MEMBER")
    assert count(app, Redemption) == 1


def test_accept_for_another_email_is_403_wrong_account(owner_client, app, make):
    invitation = create(owner_client, email="right@example.com")
    make.user("wrong@example.com")
    joiner = app.test_client()
    api_login(joiner, "wrong@example.com")
    response = joiner.post(ACCEPT, json={"code": invitation["code"]})
    assert response.status_code == 403
    assert response.get_json() == {"error": "This invitation was sent to a different email address"}
    assert invitation_row(app, invitation["id"]).used_count == 0
    # Validate answers for the code, whoever asks.
    assert joiner.post(VALIDATE, json={"code": invitation["code"]}).status_code == 200


def test_accept_twice_is_409_already_member_and_gives_nothing_twice(owner_client, app, make):
    invitation = create(owner_client, maxUses=3)
    make.user("new@example.com")
    joiner = app.test_client()
    api_login(joiner, "new@example.com")
    assert joiner.post(ACCEPT, json={"code": invitation["code"]}).status_code == 200
    again = joiner.post(ACCEPT, json={"code": invitation["code"]})
    assert again.status_code == 409
    assert again.get_json() == {"error": "You are already a member of Acme"}
    assert invitation_row(app, invitation["id"]).used_count == 1
    assert count(app, Redemption) == 1


def test_member_removed_since_cannot_use_the_same_invitation_again(owner_client, app, make):
    invitation = create(owner_client, maxUses=3)
    user = make.user("new@example.com")
    joiner = app.test_client()
    api_login(joiner, "new@example.com")
    assert joiner.post(ACCEPT, json={"code": invitation["code"]}).status_code == 200
    with app.app_context():
        db.session.execute(sa.delete(Membership).where(Membership.user_id == user.id))
        db.session.commit()
    again = joiner.post(ACCEPT, json={"code": invitation["code"]})
    assert again.status_code == 409
    assert again.get_json() == {"error": "You have already used this invitation"}
    assert invitation_row(app, invitation["id"]).used_count == 1
    assert count(app, Redemption) == 1


# --- toggle and revoke ------------------------------------------------------------------


def test_toggle_pauses_and_starts(owner_client, app):
    invitation = create(owner_client)
    assert owner_client.post(toggle_path(invitation["id"])).get_json() == {"success": True, "isActive": False}
    assert invitation_row(app, invitation["id"]).is_active is False
    assert owner_client.post(toggle_path(invitation["id"])).get_json() == {"success": True, "isActive": True}
    assert invitation_row(app, invitation["id"]).is_active is True
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["invitation.create", "invitation.pause", "invitation.start"]


def test_revoke_answers_revoked_at_and_cannot_be_repeated_or_toggled(owner_client, app):
    invitation = create(owner_client)
    response = owner_client.post(revoke_path(invitation["id"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["revokedAt"])
    assert invitation_row(app, invitation["id"]).revoked
    for path in (revoke_path(invitation["id"]), toggle_path(invitation["id"])):
        again = owner_client.post(path)
        assert again.status_code == 409
        assert again.get_json() == {"error": "This invitation has been revoked"}
    listed = owner_client.get(LIST).get_json()["invitations"][0]
    assert listed["status"] == "REVOKED" and listed["revokedAt"] == body["revokedAt"]


def test_toggle_of_an_expired_or_fully_used_invitation_is_409(owner_client, app, make):
    expired = create(owner_client)
    expire(app, expired["id"])
    response = owner_client.post(toggle_path(expired["id"]))
    assert (response.status_code, response.get_json()) == (409, {"error": "This invitation has expired"})
    full = create(owner_client)
    make.user("new@example.com")
    joiner = app.test_client()
    api_login(joiner, "new@example.com")
    assert joiner.post(ACCEPT, json={"code": full["code"]}).status_code == 200
    for path in (toggle_path(full["id"]), revoke_path(full["id"])):
        response = owner_client.post(path)
        assert response.status_code == 409
        assert response.get_json() == {"error": "This invitation has reached its maximum number of uses"}
    row = invitation_row(app, full["id"])
    assert (row.used_count, row.is_active, row.revoked, row.status) == (1, True, False, "ACCEPTED")


# 2**31 and 2**40: INTEGER ids end at 2**31 - 1, and PostgreSQL refused to compare (a 500).
@pytest.mark.parametrize("invitation_id", ["999", "0", str(2**31), str(2**40), str(2**63), "9" * 40])
@pytest.mark.parametrize("action", ["toggle", "revoke"])
def test_unknown_invitation_id_is_404(owner_client, invitation_id, action):
    response = owner_client.post(f"/api/companies/invitations/{invitation_id}/{action}")
    assert response.status_code == 404
    assert response.is_json


def test_another_companys_invitation_is_404_as_if_it_did_not_exist(owner_client, app, make):
    _, globex_owner = make.company("Globex", owner_email="g@example.com")
    theirs = app.test_client()
    api_login(theirs, "g@example.com")
    invitation = create(theirs)
    for path in (toggle_path(invitation["id"]), revoke_path(invitation["id"])):
        response = owner_client.post(path)
        assert response.status_code == 404
        assert response.get_json() == {"error": "Invitation not found"}
    row = invitation_row(app, invitation["id"])
    assert row.is_active and not row.revoked


# --- list ------------------------------------------------------------------------------


def test_list_pages_and_filters_like_the_dashboard(owner_client, app, make):
    app.config["INVITATIONS_PER_PAGE"] = 2
    first, second, third = (create(owner_client, maxUses=n) for n in (1, 2, 3))
    owner_client.post(toggle_path(second["id"]))
    _, _ = make.company("Globex", owner_email="g@example.com")
    theirs = app.test_client()
    api_login(theirs, "g@example.com")
    create(theirs)

    page1 = owner_client.get(LIST).get_json()
    assert [i["id"] for i in page1["invitations"]] == [third["id"], second["id"]]
    assert (page1["page"], page1["hasNext"], page1["hasPrev"], page1["filter"]) == (1, True, False, "all")
    page2 = owner_client.get(LIST, query_string={"page": 2}).get_json()
    assert [i["id"] for i in page2["invitations"]] == [first["id"]]
    assert (page2["hasNext"], page2["hasPrev"]) == (False, True)

    paused = owner_client.get(LIST, query_string={"filter": "paused"}).get_json()
    assert [i["id"] for i in paused["invitations"]] == [second["id"]]
    assert paused["filter"] == "paused"
    active = owner_client.get(LIST, query_string={"filter": "active"}).get_json()
    assert [i["id"] for i in active["invitations"]] == [third["id"], first["id"]]

    odd = owner_client.get(LIST, query_string={"filter": "nonsense", "page": "-3"}).get_json()
    assert (odd["filter"], odd["page"]) == ("all", 1)
    assert owner_client.get(LIST, query_string={"page": "9" * 50}).status_code == 200


def test_list_carries_usage_data(owner_client, app, make):
    invitation = create(owner_client, maxUses=5)
    for n in (1, 2):
        make.user(f"u{n}@example.com")
        joiner = app.test_client()
        api_login(joiner, f"u{n}@example.com")
        joiner.post(ACCEPT, json={"code": invitation["code"]})
    listed = owner_client.get(LIST).get_json()["invitations"][0]
    assert (listed["usedCount"], listed["maxUses"], listed["remainingUses"]) == (2, 5, 3)
    assert listed["status"] == "PENDING" and listed["isActive"] is True


def test_endpoints_act_on_the_current_company(client, app, make, acme):
    acme_company, _ = acme
    globex, _ = make.company("Globex", owner_email="g@example.com")
    user = make.user("both@example.com", company=acme_company, role=Role.MEMBER)
    with app.app_context():
        db.session.add(Membership(user_id=user.id, company_id=globex.id, role="ADMIN"))
        db.session.commit()
    body = api_login(client, "both@example.com").get_json()
    assert [c["name"] for c in body["companies"] if c["current"]] == ["Acme"]
    assert client.post(CREATE, json={}).status_code == 403
    # Switching happens in the web app; the API follows the session's choice.
    client.post("/company/switch", data={"company_id": globex.id})
    created = client.post(CREATE, json={})
    assert created.status_code == 201
    with app.app_context():
        assert db.session.get(Invitation, created.get_json()["invitation"]["id"]).company_id == globex.id


# --- refusal table ------------------------------------------------------------------------


def test_every_domain_refusal_has_one_status():
    assert set(REFUSAL_STATUS) == set(Refusal)
    assert {REFUSAL_STATUS[r] for r in (Refusal.REVOKED, Refusal.EXPIRED, Refusal.FULL, Refusal.PAUSED)} == {409}


# --- cross-site protection -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, allowed",
    [
        ({}, True),
        ({"Origin": "http://localhost"}, True),
        ({"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "http://localhost.evil.example"}, False),
        ({"Origin": "https://localhost"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": ""}, False),
        ({"Origin": "http://["}, False),
        ({"Origin": "http://localhost", "Sec-Fetch-Site": "same-site"}, True),
        ({"Origin": "http://sub.localhost", "Sec-Fetch-Site": "same-site"}, False),
    ],
)
def test_state_changing_requests_from_other_sites_are_refused(owner_client, app, headers, allowed):
    response = owner_client.post(CREATE, json={}, headers=headers)
    if allowed:
        assert response.status_code == 201
        assert count(app, Invitation) == 1
    else:
        assert response.status_code == 403
        assert response.get_json() == {"error": "Cross-site requests are not allowed."}
        assert count(app, Invitation) == 0


def test_cross_site_refusal_covers_every_post(owner_client, app):
    invitation = create(owner_client)
    evil = {"Origin": "https://evil.example"}
    for path in (LOGIN, LOGOUT, CREATE, VALIDATE, ACCEPT, toggle_path(invitation["id"]), revoke_path(invitation["id"])):
        assert owner_client.post(path, json={}, headers=evil).status_code == 403, path
    row = invitation_row(app, invitation["id"])
    assert row.is_active and not row.revoked
    # Still signed in: the cross-site logout did nothing.
    assert owner_client.get(LIST, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_public_url_is_an_own_origin(owner_client, app):
    app.config["PUBLIC_URL"] = "https://invites.example.com"
    response = owner_client.post(CREATE, json={}, headers={"Origin": "https://invites.example.com"})
    assert response.status_code == 201


@pytest.fixture
def csrf_app(database_url):
    """An app with Flask-WTF's CSRF protection on, as in production."""
    with fresh_app(database_url, WTF_CSRF_ENABLED=True) as app:
        yield app


def test_api_is_exempt_from_csrf_tokens_but_forms_are_not(csrf_app):
    from .conftest import Factory

    Factory(csrf_app).company("Acme", owner_email="boss@example.com")
    client = csrf_app.test_client()
    form_login = client.post("/login", data={"email": "boss@example.com", "password": PASSWORD})
    assert form_login.status_code == 400
    api_login(client, "boss@example.com")
    assert client.post(CREATE, json={"maxUses": 2}).status_code == 201
    assert count(csrf_app, Invitation) == 1


# --- the description --------------------------------------------------------------------------


def _described_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_every_api_route_is_described_and_nothing_else(client):
    document = client.get("/api/openapi.json").get_json()
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert described == _described_routes(client.application)
    assert len(described) == 14


def test_the_description_is_valid_openapi_3_1(client):
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()


def test_the_description_is_public_and_names_the_status_codes(client):
    document = client.get("/api/openapi.json").get_json()
    statuses = {
        code for item in document["paths"].values() for operation in item.values() for code in operation["responses"]
    }
    assert {"200", "201", "400", "401", "403", "404", "409", "413", "415"} <= statuses
    toggle = document["paths"]["/api/companies/invitations/{invitation_id}/toggle"]["post"]
    assert set(toggle["responses"]) == {"200", "401", "403", "404", "409", "503"}


def test_the_rate_limited_operations_describe_their_429(client):
    """Log-in, create, validate, accept (tests/test_limits.py) and resend email (3 a day,
    tests/test_email.py) are rate limited; their
    descriptions say so, with Retry-After, and no other operation claims a 429."""
    document = client.get("/api/openapi.json").get_json()
    limited = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if "429" in operation["responses"]
    }
    assert limited == {"login", "createInvitation", "validateInvitation", "acceptInvitation", "resendInvitationEmail"}
    answer = document["components"]["responses"]["TooManyRequests"]
    assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "429" in document["info"]["description"]


def test_every_operation_that_reads_the_database_describes_its_503(client):
    """A silent database answers 503 with Retry-After (test_hardening); the description says so."""
    document = client.get("/api/openapi.json").get_json()
    unavailable = document["components"]["responses"]["Unavailable"]
    assert unavailable["content"]["application/json"]["example"] == {"error": "The service is temporarily unavailable"}
    assert "Retry-After" in unavailable["headers"]
    operations = {
        (path, method): operation["responses"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert {key for key, responses in operations.items() if "503" not in responses} == {("/api/openapi.json", "get")}


def test_the_readme_names_every_field_of_an_invitation_the_api_answers(owner_client):
    """PATCH's ``version`` is "the invitation's, as last read": the README's create row must say
    that an invitation carries it, as it names every other field."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `POST /api/companies/invitations/create`"))
    documented = set(re.search(r"201 `\{invitation: \{([^}]*)\}\}`", row).group(1).replace(" ", "").split(","))
    assert documented == set(create(owner_client))
