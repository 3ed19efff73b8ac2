"""Links built once per page (``links.url_pattern``) are exactly what ``url_for`` builds."""

from __future__ import annotations

import re

import pytest
from flask import url_for

from invites import links
from invites.security import csrf_token


@pytest.mark.parametrize(
    "endpoint, name, value",
    [
        ("dashboard.set_active", "invitation_id", 7),
        ("dashboard.revoke", "invitation_id", 2**63 - 1),
        ("dashboard.redemptions", "invitation_id", 918_273_645),
        ("dashboard.activity", "invitation_id", 42),
        ("invite.show", "code", "Zx81kQ-_aB3"),
        # Not a code the app makes, but a pattern must quote like the route would.
        ("invite.show", "code", "a b/é?#%"),
    ],
)
def test_a_pattern_gives_what_url_for_gives(app, endpoint, name, value):
    with app.test_request_context("/", base_url="https://invites.example.com/prefix"):
        pattern = links.url_pattern(endpoint, name)
        external = links.url_pattern(endpoint, name, _external=True)
        assert pattern(value) == url_for(endpoint, **{name: value})
        assert external(value) == url_for(endpoint, **{name: value}, _external=True)
        assert links.url_pattern(endpoint, name) is pattern  # built once per request


def test_patterns_belong_to_their_request(app):
    """A request to another host never gets the links built for the one before."""
    with app.test_request_context("/", base_url="http://localhost:5000"):
        assert links.invite_url("abc") == "http://localhost:5000/invite/abc"
    with app.test_request_context("/", base_url="https://127.0.0.1:8443"):
        assert links.invite_url("abc") == "https://127.0.0.1:8443/invite/abc"


def test_a_value_that_is_not_one_path_segment_is_refused(app):
    with app.test_request_context("/"), pytest.raises(ValueError, match="not one path segment"):
        links.url_pattern("dashboard.company", "page")  # a query parameter, not in the path


def test_templates_get_one_csrf_token_per_request_the_one_flask_wtf_checks(app, client, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    with app.test_request_context("/"):
        first = csrf_token()
        assert csrf_token() is first
        assert app.jinja_env.globals["csrf_token"] is csrf_token
    page = client.get("/company/members").get_data(as_text=True)
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    assert len(tokens) == 1
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/logout", data={"csrf_token": tokens.pop()}).status_code == 302
