"""One email validator: addresses stored as email_validator normalises them, look-alikes refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from invites import accounts, invitations
from invites.extensions import db
from invites.models import Invitation, User

from .conftest import PASSWORD


def register(client, email):
    return client.post(
        "/register",
        data={"email": email, "password": PASSWORD, "confirm": PASSWORD, "name": "Someone", "company_name": ""},
    )


def stored_emails(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(User.email).order_by(User.id)))


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("owner1@a-corp\uff0ecom", "owner1@a-corp.com"),  # a full-width dot
        ("\uff4fwner1@a-corp.com", "owner1@a-corp.com"),  # a full-width o
        ("Owner1@A-CORP.com", "owner1@a-corp.com"),
        ("x@xn--fsqu00a.xn--4rr70v", "x@\u4f8b\u5b50.\u5e7f\u544a"),  # IDNA, as Unicode
    ],
)
def test_an_account_is_stored_as_email_validator_normalises_it(app, client, typed, stored):
    assert register(client, typed).status_code == 302
    assert stored_emails(app) == [stored]


def test_a_look_alike_of_an_existing_account_is_that_account(app, client, make):
    make.user("owner1@a-corp.com")
    response = register(client, "owner1@a-corp\uff0ecom")
    assert response.status_code == 422
    assert accounts.EMAIL_TAKEN in response.get_data(as_text=True)
    assert stored_emails(app) == ["owner1@a-corp.com"]
    # ...and logs in as itself.
    other = app.test_client()
    login = other.post("/login", data={"email": "OWNER1@a-corp\uff0ecom", "password": PASSWORD})
    assert login.status_code == 302


@pytest.mark.parametrize(
    "email",
    ["a\u200b@example.com", "a@exa\u202emple.com", "a\u2066b@example.com", "a\u00adb@example.com"],
    ids=["zero-width space", "right-to-left override", "left-to-right isolate", "soft hyphen"],
)
def test_invisible_and_bidirectional_characters_are_refused_everywhere(app, client, make, email):
    response = register(client, email)
    assert response.status_code == 422
    assert accounts.EMAIL_INVALID in response.get_data(as_text=True)
    assert stored_emails(app) == []
    with pytest.raises(ValueError):
        invitations.check_email(email)


def test_an_invitation_target_is_stored_and_compared_in_the_same_form(app, client, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("john@example.com")
    auth.login("boss@example.com")
    response = client.post(
        "/dashboard/company/invitations",
        data={"email": "JOHN@example\uff0ecom", "max_uses": "1", "expires_in_days": "7"},
    )
    assert response.status_code == 302
    with app.app_context():
        invitation = db.session.scalars(sa.select(Invitation)).one()
        assert invitation.email == "john@example.com"
        code = invitation.code
    auth.logout()
    auth.login("john@example.com")
    assert client.get(f"/invite/{code}").status_code == 200
