"""Register, log in, log out, and where ``next`` may send a user."""

import pytest
import sqlalchemy as sa

from invites.extensions import db
from invites.models import Company, Membership, User

from .conftest import PASSWORD
from .factories import count


def register(client, **overrides):
    data = {
        "name": "Jo Smith",
        "email": "jo@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
        "company_name": "Acme",
    }
    data.update(overrides)
    return client.post("/register", data=data)


def test_register_with_company_makes_owner_and_lands_on_dashboard(client, app):
    response = register(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    page = client.get("/dashboard", follow_redirects=True)
    assert page.request.path == "/dashboard/company"
    assert b"Invitations of Acme" in page.data
    with app.app_context():
        membership = db.session.execute(sa.select(Membership)).scalar_one()
        assert membership.role == "OWNER"
        assert membership.company.name == "Acme"


def test_register_without_company_joins_none(client, app):
    response = register(client, company_name="")
    assert response.status_code == 302
    page = client.get("/dashboard")
    assert b"You are not in a company yet" in page.data
    assert count(app, Company) == 0 and count(app, Membership) == 0


def test_email_is_stored_lowercase_and_unique_regardless_of_case(client, app):
    register(client, email="Jo@Example.COM")
    client.post("/logout")
    response = register(client, email="  JO@example.com ", company_name="Other")
    assert response.status_code == 422
    assert b"An account with this email already exists" in response.data
    with app.app_context():
        assert db.session.scalars(sa.select(User.email)).all() == ["jo@example.com"]
    assert count(app, Company) == 1


@pytest.mark.parametrize(
    "overrides, field_message",
    [
        ({"email": "not-an-email"}, b"Enter a valid email address."),
        ({"email": "jo@acme.test"}, b"Email cannot be delivered to reserved domains such as .test"),
        ({"email": ""}, b"Enter your email."),
        ({"name": ""}, b"Enter your name."),
        ({"password": "short", "confirm": "short"}, b"Use a password of 8 to 200 characters."),
        ({"confirm": "something else"}, b"The passwords do not match."),
        ({"company_name": "x" * 101}, b"Company names are at most 100 characters."),
        ({"name": "x" * 101}, b"Enter your name (at most 100 characters)."),
    ],
)
def test_register_bad_input_is_422_with_message_next_to_field_and_stores_nothing(client, app, overrides, field_message):
    response = register(client, **overrides)
    assert response.status_code == 422
    assert field_message in response.data
    assert b'aria-invalid="true"' in response.data
    assert b'<h2 id="register-errors-title">There is a problem</h2>' in response.data
    assert count(app, User) == 0 and count(app, Company) == 0


@pytest.mark.parametrize("field", ["name", "company_name"])
@pytest.mark.parametrize("bad", ["Jo\x00Smith", "Jo\nSmith", "\x1b[31mJo", "Jo\u2028Smith", "Jo\u2029Smith"])
def test_names_with_control_characters_are_refused_and_nothing_is_stored(client, app, field, bad):
    """PostgreSQL refuses NUL in text: this was a 500 there, and SQLite stored it."""
    response = register(client, **{field: bad})
    assert response.status_code == 422
    assert "Names cannot contain control characters." in response.get_data(as_text=True)
    assert count(app, User) == 0 and count(app, Company) == 0


def test_login_and_logout(client, make, auth):
    make.company("Acme", owner_email="boss@example.com")
    response = auth.login("BOSS@example.com ")
    assert response.status_code == 302
    assert client.get("/dashboard/company").status_code == 200
    response = auth.logout()
    assert response.status_code == 302
    assert client.get("/dashboard/company").status_code == 302


@pytest.mark.parametrize(
    "email, password",
    [("boss@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
)
def test_wrong_credentials_get_one_generic_message(client, make, auth, email, password):
    make.company("Acme", owner_email="boss@example.com")
    response = auth.login(email, password)
    assert response.status_code == 422
    assert b"Invalid email or password." in response.data
    assert client.get("/dashboard/company").status_code == 302


@pytest.mark.parametrize("email", ["boss\x00@example.com", "\x00", "boss@example.com\x00"])
def test_nul_bytes_in_login_are_wrong_credentials_not_errors(client, make, auth, email):
    make.company("Acme", owner_email="boss@example.com")
    response = auth.login(email)
    assert response.status_code == 422
    assert b"Invalid email or password." in response.data


def test_logout_is_post_only(client, make, auth):
    make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    assert client.get("/logout").status_code == 405
    assert client.get("/dashboard/company").status_code == 200


def test_anonymous_is_sent_to_login_and_back(client, make):
    make.company("Acme", owner_email="boss@example.com")
    response = client.get("/company/members")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    login_page = client.get(response.headers["Location"])
    assert b'value="/company/members"' in login_page.data
    response = client.post(
        "/login", data={"email": "boss@example.com", "password": PASSWORD, "next": "/company/members"}
    )
    assert response.headers["Location"] == "/company/members"


@pytest.mark.parametrize(
    "payload",
    [
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "https://evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        " //evil.example",
        "/\t/evil.example",
        "\t//evil.example",
        "/\r\n/evil.example",
        "evil.example",
        "",
    ],
)
def test_next_only_redirects_on_site(client, make, payload):
    make.company("Acme", owner_email="boss@example.com")
    response = client.post("/login", data={"email": "boss@example.com", "password": PASSWORD, "next": payload})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


def test_csrf_token_is_required_when_enabled(app, make):
    make.company("Acme", owner_email="boss@example.com")
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    response = client.post("/login", data={"email": "boss@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert b"This form has expired or did not come from this site." in response.data
    assert client.get("/dashboard/company").status_code == 302


def test_htmx_request_without_session_gets_hx_redirect_to_login_and_back(client, make):
    make.company("Acme", owner_email="boss@example.com")
    response = client.get(
        "/dashboard/company/changes?after=0",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company?filter=paused"},
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/dashboard/company?filter%3Dpaused"
    assert b"<html" not in response.data


def test_htmx_redirect_ignores_an_unsafe_current_url(client, make):
    make.company("Acme", owner_email="boss@example.com")
    response = client.get(
        "/dashboard/company", headers={"HX-Request": "true", "HX-Current-URL": "http://localhost//evil.example"}
    )
    assert response.headers["HX-Redirect"] == "/login?next=/dashboard/company"


def test_api_without_session_is_a_json_401_not_a_redirect(client):
    response = client.get("/api/companies/invitations", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert "HX-Redirect" not in response.headers
    assert response.get_json() == {"error": "Log in to continue."}


@pytest.mark.parametrize("current_url", ["http://[", "http://[::1", "not a url at all", ""])
def test_malformed_current_url_header_is_ignored_not_an_error(client, make, current_url):
    make.company("Acme", owner_email="boss@example.com")
    response = client.get("/dashboard/company", headers={"HX-Request": "true", "HX-Current-URL": current_url})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/dashboard/company"


def test_the_user_loader_reads_one_row_and_keeps_nothing_in_the_session(app, make):
    """Flask-Login's loader: one Core statement, the columns a request needs, no ORM object."""
    from invites.auth.routes import load_user

    from .statements import StatementLog

    _, owner = make.company("Acme")
    owner_id, owner_email, session_id = owner.id, owner.email, owner.get_id()
    with app.app_context():
        with StatementLog(db.engine) as log:
            user = load_user(session_id)
        assert len(log) == 1 and log.statements[0][0].lstrip().upper().startswith("SELECT")
        assert (user.id, user.email, user.is_authenticated, user.get_id()) == (owner_id, owner_email, True, session_id)
        assert not [obj for obj in db.session.identity_map.values() if isinstance(obj, User)]
        token = session_id.partition(":")[2]
        for unknown in (
            "999999",
            "0",
            "-1",
            "abc",
            "1e3",
            str(2**40),
            str(owner_id),
            f"{owner_id}:",
            f"{owner_id}:x",
            f"999999:{token}",
            f"{owner_id}:{token}x",
        ):
            assert load_user(unknown) is None, unknown


def test_forms_reached_from_an_invite_page_name_the_company(client, app, make):
    from .invitation_helpers import new_invitation

    company, owner = make.company("Acme")
    code = new_invitation(app, company, owner)
    register_page = client.get(f"/register?next=/invite/{code}").get_data(as_text=True)
    assert "<h1>Create an account to join Acme</h1>" in register_page
    login_page = client.get(f"/login?next=/invite/{code}").get_data(as_text=True)
    assert "<h1>Log in to join Acme</h1>" in login_page
    # Anything else, an unknown code included: the plain headings.
    assert "<h1>Create an account</h1>" in client.get("/register?next=/invite/nope").get_data(as_text=True)
    assert "<h1>Log in</h1>" in client.get("/login?next=/dashboard").get_data(as_text=True)
