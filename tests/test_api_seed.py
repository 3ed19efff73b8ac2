"""Seed 003's "Testing" section, run as written, after signing in with POST /api/auth/login."""

from __future__ import annotations

from http.cookies import SimpleCookie

from .api_helpers import ACCEPT, CREATE, LIST, LOGIN, VALIDATE, api_login, invitation_row, toggle_path
from .conftest import PASSWORD


def session_cookie(client, email: str) -> str:
    """Sign in through the API and return the ``session=...`` value a curl user would paste."""
    response = client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    cookie = SimpleCookie(response.headers["Set-Cookie"])
    return f"session={cookie['session'].value}"


def curl(app, method: str, path: str, cookie: str, json=None):
    """A request the way the seed's curl examples make it: only the Cookie header, no browser headers."""
    client = app.test_client(use_cookies=False)
    kwargs = {"headers": {"Cookie": cookie}}
    if json is not None:
        kwargs["json"] = json
    return client.open(path, method=method, **kwargs)


def test_create_with_max_uses_toggle_and_validate_while_paused(app, make):
    make.company("Company", owner_email="owner@company.com")
    cookie = session_cookie(app.test_client(), "owner@company.com")

    # Test Create with Max Uses
    created = curl(app, "POST", CREATE, cookie, json={"email": "team@company.com", "expiresInDays": 7, "maxUses": 5})
    assert created.status_code == 201
    invitation = created.get_json()["invitation"]
    assert invitation["code"]
    assert (invitation["maxUses"], invitation["usedCount"], invitation["isActive"]) == (5, 0, True)

    # Test Toggle Invitation
    toggled = curl(app, "POST", toggle_path(invitation["id"]), cookie)
    assert toggled.status_code == 200
    assert toggled.get_json() == {"success": True, "isActive": False}

    # Test Validation with Paused: validate and accept both say so.
    make.user("team@company.com")
    teammate = session_cookie(app.test_client(), "team@company.com")
    for path in (VALIDATE, ACCEPT):
        response = curl(app, "POST", path, teammate, json={"code": invitation["code"]})
        assert response.status_code == 409
        assert response.get_json() == {"error": "This invitation has been paused"}
    assert invitation_row(app, invitation["id"]).used_count == 0


def test_max_uses_walk_through_with_users_one_to_four(app, make):
    make.company("Company", owner_email="owner@company.com")
    owner = app.test_client()
    api_login(owner, "owner@company.com")
    invitation = owner.post(CREATE, json={"maxUses": 3}).get_json()["invitation"]

    expected = {1: (1, "PENDING"), 2: (2, "PENDING"), 3: (3, "ACCEPTED")}
    for n in (1, 2, 3):
        make.user(f"user{n}@example.com")
        user = app.test_client()
        api_login(user, f"user{n}@example.com")
        response = user.post(ACCEPT, json={"code": invitation["code"]})
        assert response.status_code == 200
        usage = response.get_json()["invitation"]
        assert (usage["usedCount"], usage["status"]) == expected[n]
        assert usage["maxUses"] == 3 and usage["remainingUses"] == 3 - n

    make.user("user4@example.com")
    user4 = app.test_client()
    api_login(user4, "user4@example.com")
    for path in (VALIDATE, ACCEPT):
        refused = user4.post(path, json={"code": invitation["code"]})
        assert refused.status_code == 409
        assert "maximum number of uses" in refused.get_json()["error"]
    row = invitation_row(app, invitation["id"])
    assert (row.used_count, row.status) == (3, "ACCEPTED")

    listed = owner.get(LIST).get_json()["invitations"][0]
    assert (listed["usedCount"], listed["maxUses"], listed["status"]) == (3, 3, "ACCEPTED")
