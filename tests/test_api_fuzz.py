"""Property-based fuzzing of the API against its own OpenAPI description (schemathesis).

Every operation in ``/api/openapi.json`` gets generated requests, valid and
invalid, sent straight to the WSGI app with a signed-in OWNER's session cookie.
No answer may be a 5xx, and every answer must be one the description lists,
with a body its schema allows; schemathesis's other default checks run too
(schema-invalid input refused, authentication enforced, 405 for other methods). Examples are derandomised so
that CI sends the same requests on every run.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from invites import create_app, invitations
from invites.extensions import db
from invites.models import User

from .api_helpers import api_login
from .conftest import base_config

OWNER = "boss@example.com"

# The description as the app serves it. Serving it needs no database, so it is loaded once,
# at collection, from an app of its own; the requests go to each test's app.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", create_app(base_config("sqlite://")))


# Schemathesis builds some cases (its "coverage" and "examples" phases) at collection, before
# any test has a database to sign in to; those carry this stand-in, swapped for the OWNER's real
# cookie when the request is sent. Cases meant to go without (or with broken) credentials keep
# whatever schemathesis gave them.
OWNER_COOKIE = "owner-session-cookie"


@schema.auth(refresh_interval=None)
class OwnerSession:
    """Marks a case as authenticated, so schemathesis knows which requests should pass."""

    def get(self, case, context):
        return OWNER_COOKIE

    def set(self, case, data, context):
        case.cookies = {**(case.cookies or {}), "session": data}


@pytest.fixture
def owned_app(app, make):
    """Acme, its OWNER signed in, and a few invitations for generated ids to hit."""
    company, owner = make.company("Acme", owner_email=OWNER)
    make.company("Globex", owner_email="g@example.com")
    with app.app_context():
        creator = db.session.get(User, owner.id)
        for uses in (1, 2, 5):
            invitations.create(company.id, creator, invitations.parse_new_invitation(None, uses, 7))
    app.config["OWNER_COOKIE"] = SimpleCookie(api_login(app.test_client(), OWNER).headers["Set-Cookie"])[
        "session"
    ].value
    return app


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_within_its_description(case, owned_app):
    if case.cookies and case.cookies.get("session") == OWNER_COOKIE:
        case.cookies["session"] = owned_app.config["OWNER_COOKIE"]
    # Not positive_data_acceptance: a schema cannot say which well-formed addresses
    # email_validator refuses (special-use domains such as .test), and such a refusal is
    # a documented 400, not an answer outside the description.
    case.call_and_validate(app=owned_app, excluded_checks=[positive_data_acceptance])
