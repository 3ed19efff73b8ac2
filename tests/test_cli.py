"""``flask create-user``: creates what it says, or nothing with a clear error."""

import pytest
import sqlalchemy as sa

from invites.extensions import db
from invites.models import Company, Membership, User

from .factories import count


def rows(app, model) -> int:
    return count(app, model)


def test_creates_user_and_company_as_owner(runner, app):
    result = runner.invoke(args=["create-user", "Boss@Example.com", "--password", "long enough", "--company", "Acme"])
    assert result.exit_code == 0, result.output
    assert "Created boss@example.com as OWNER of Acme." in result.output
    with app.app_context():
        membership = db.session.execute(sa.select(Membership)).scalar_one()
        assert (membership.user.email, membership.company.name, membership.role) == (
            "boss@example.com",
            "Acme",
            "OWNER",
        )


def test_joins_existing_company_with_role(runner, app):
    runner.invoke(args=["create-user", "boss@example.com", "--password", "long enough", "--company", "Acme"])
    result = runner.invoke(
        args=["create-user", "ann@example.com", "--password", "long enough", "--company", "Acme", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    assert rows(app, Company) == 1
    with app.app_context():
        roles = dict(db.session.execute(sa.select(User.email, Membership.role).join(Membership.user)).all())
    assert roles == {"boss@example.com": "OWNER", "ann@example.com": "ADMIN"}


def test_joining_an_existing_company_without_role_makes_a_member(runner, app):
    runner.invoke(args=["create-user", "boss@example.com", "--password", "long enough", "--company", "Acme"])
    result = runner.invoke(args=["create-user", "mia@example.com", "--password", "long enough", "--company", "Acme"])
    assert result.exit_code == 0, result.output
    assert "Created mia@example.com as MEMBER of Acme." in result.output
    with app.app_context():
        roles = dict(db.session.execute(sa.select(User.email, Membership.role).join(Membership.user)).all())
    assert roles == {"boss@example.com": "OWNER", "mia@example.com": "MEMBER"}


def test_user_without_company(runner, app):
    result = runner.invoke(args=["create-user", "solo@example.com", "--password", "long enough"])
    assert result.exit_code == 0
    assert rows(app, User) == 1 and rows(app, Membership) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["create-user", "not-an-email", "--password", "long enough", "--company", "Acme"],
            "Enter a valid email address.",
        ),
        (
            ["create-user", "a@example.com", "--password", "short", "--company", "Acme"],
            "Use a password of 8 to 200 characters.",
        ),
        (["create-user", "a@example.com", "--password", "long enough", "--role", "ADMIN"], "--role needs --company."),
        (
            ["create-user", "a@example.com", "--password", "long enough", "--company", "Acme", "--role", "KING"],
            "Invalid value for '--role'",
        ),
        (["create-user", "a@example.com"], "Missing option '--password'"),
        (["create-user", "a@example.com", "--password", "long enough", "--company", "  "], "--company needs a name."),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(runner, app, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert rows(app, User) == 0 and rows(app, Company) == 0


def test_existing_email_fails_and_writes_nothing(runner, app):
    runner.invoke(args=["create-user", "boss@example.com", "--password", "long enough", "--company", "Acme"])
    result = runner.invoke(args=["create-user", "BOSS@example.com", "--password", "long enough", "--company", "Other"])
    assert result.exit_code == 1
    assert "An account with this email already exists" in result.output
    assert rows(app, User) == 1 and rows(app, Company) == 1


def test_seed_demo_is_refused_in_production(database_url):
    from invites.models import Invitation

    from .conftest import fresh_app

    with fresh_app(database_url, INVITES_ENV="production") as app:
        result = app.test_cli_runner().invoke(
            args=["seed-demo", "--invitations", "5", "--users", "1", "--email-domain", "prod.example.com"]
        )
        assert result.exit_code != 0
        assert "seed-demo is refused in production" in result.output
        assert rows(app, User) == 0 and rows(app, Invitation) == 0
