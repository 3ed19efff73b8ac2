"""No dead ends: someone in no company, an unknown code and an error page all offer a way on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from invites import accounts
from invites.extensions import db
from invites.invite_links.routes import OPEN_ERROR, code_from
from invites.models import Company, Membership

from .invitation_helpers import new_invitation


def text(response) -> str:
    return response.get_data(as_text=True)


def companies_of(app, email: str) -> list[tuple[str, str]]:
    with app.app_context():
        return db.session.execute(
            sa.text(
                "SELECT c.name, m.role FROM memberships m JOIN companies c ON c.id = m.company_id "
                "JOIN users u ON u.id = m.user_id WHERE u.email = :email ORDER BY c.name"
            ),
            {"email": email},
        ).all()


def test_someone_in_no_company_gets_a_field_for_a_link_and_a_way_to_create_a_company(client, make, auth):
    make.user("nora@example.com")
    auth.login("nora@example.com")
    page = text(client.get("/dashboard"))
    assert "You are not in a company yet" in page
    assert '<form action="/invite" method="get"' in page and 'name="code"' in page
    assert '<label for="invitation-code">Invitation link or code</label>' in page
    assert '<form action="/company/new" method="post"' in page and "Create company" in page


@pytest.mark.parametrize(
    "pasted",
    [
        "{code}",
        "  {code} ",
        "http://localhost/invite/{code}",
        "https://invites.example.com/invite/{code}?utm_source=mail#top",
        "invites.example.com/invite/{code}/",
    ],
)
def test_a_pasted_link_or_code_opens_the_invite_page(client, app, make, pasted):
    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner)
    response = client.get("/invite", query_string={"code": pasted.format(code=code)})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/invite/{code}"
    assert "Join Acme" in text(client.get(response.headers["Location"]))


@pytest.mark.parametrize("pasted", ["", "   ", "not a code!", "https://example.com/elsewhere", "x" * 65])
def test_something_else_shows_the_field_again_with_why(client, pasted):
    response = client.get("/invite", query_string={"code": pasted})
    page = text(response)
    assert response.status_code == 422
    assert OPEN_ERROR.replace("…", "…") in page
    assert 'aria-invalid="true"' in page and 'href="#invitation-code"' in page


def test_the_field_alone(client):
    response = client.get("/invite")
    assert response.status_code == 200 and 'name="code"' in text(response)
    assert code_from("https://h/invite/abc_DEF-1") == "abc_DEF-1"


def test_the_unknown_code_page_offers_the_field(client):
    response = client.get("/invite/no-such-code")
    page = text(response)
    assert response.status_code == 404
    assert "Invitation not found" in page
    assert '<form action="/invite" method="get"' in page and 'name="code"' in page


def test_creating_a_company_makes_the_user_its_owner_and_opens_its_dashboard(client, app, make, auth):
    make.user("nora@example.com")
    auth.login("nora@example.com")
    response = client.post("/company/new", data={"name": "  Nora's Bakery "})
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert companies_of(app, "nora@example.com") == [("Nora's Bakery", "OWNER")]
    page = text(client.get("/dashboard", follow_redirects=True))
    assert "Invitations of Nora&#39;s Bakery" in page
    assert "You created Nora&#39;s Bakery." in page


@pytest.mark.parametrize(
    "name, message",
    [
        ("", accounts.COMPANY_NAME_REQUIRED),
        ("x" * 101, accounts.COMPANY_NAME_INVALID),
        ("Ac\x00me", accounts.CONTROL_CHARACTERS),
    ],
)
def test_a_bad_company_name_is_422_and_stores_nothing(client, app, make, auth, name, message):
    make.user("nora@example.com")
    auth.login("nora@example.com")
    response = client.post("/company/new", data={"name": name})
    assert response.status_code == 422
    assert message.replace("'", "&#39;") in text(response)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Company)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Membership)) == 0


def test_creating_a_company_needs_a_sign_in(client, app):
    response = client.post("/company/new", data={"name": "Acme"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_error_pages_offer_a_way_on(client, make, auth):
    page = text(client.get("/no/such/page"))
    assert 'href="/login"' in page and 'href="/"' in page
    make.user("nora@example.com")
    auth.login("nora@example.com")
    page = text(client.get("/no/such/page"))
    assert '<a href="/dashboard">Go to your dashboard</a>' in page
