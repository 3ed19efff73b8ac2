"""Issue 13's invitation controls: the role an invitation grants, an allowed email domain,
a label with the list's search, and a company that paused all its invitations.

Each rule is checked where users meet it: the dashboard (with and without htmx), the
invite page, the JSON API and the CSV exports, and in what the database holds after.
"""

from __future__ import annotations

import csv
import io
import re
import secrets

import pytest
import sqlalchemy as sa

from invites import invitations
from invites.extensions import db
from invites.invitations import Refusal
from invites.models import AuditEvent, Company, Invitation, Membership, Redemption, Role, utcnow

from .api_helpers import ACCEPT, CREATE, LIST, VALIDATE
from .factories import count, create_invitation
from .invitation_helpers import alert, api_client, invitation_row, signed_in, snapshot

DASHBOARD = "/dashboard/company"
CREATE_FORM = "/dashboard/company/invitations"
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"}
WRONG_DOMAIN = "This invitation is limited to @acme.com addresses"
UNVERIFIED = "Confirm your email address to use this invitation"
PAUSED = "This invitation has been paused"


@pytest.fixture
def acme(make):
    """Acme, its owner (boss@example.com) and an admin (admin@example.com); nobody signed in."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    admin = make.user("admin@example.com", company=company, role=Role.ADMIN)
    return company, owner, admin


def text(response) -> str:
    return response.get_data(as_text=True)


def form(**fields):
    return {"email": "", "max_uses": "1", "expires_in_days": "7", "role": "MEMBER", **fields}


def membership_role(app, company_id, user_id) -> str | None:
    with app.app_context():
        return db.session.scalar(
            sa.select(Membership.role).where(Membership.company_id == company_id, Membership.user_id == user_id)
        )


def set_company_paused(app, company_id, paused: bool) -> None:
    """What "Pause all" (and "Resume all") sets, written directly."""
    with app.app_context():
        db.session.execute(
            sa.update(Company)
            .where(Company.id == company_id)
            .values(invitations_paused_at=utcnow() if paused else None)
        )
        db.session.commit()


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article id="invitation-(\d+)"', html)]


# --- 1. the role an invitation grants --------------------------------------------------


def test_only_an_owner_may_grant_admin():
    assert invitations.may_grant(Role.ADMIN, Role.OWNER)
    assert invitations.may_grant(Role.MEMBER, Role.ADMIN)
    assert not invitations.may_grant(Role.ADMIN, Role.ADMIN)
    assert not invitations.may_grant(Role.MEMBER, Role.MEMBER)
    with pytest.raises(invitations.GrantRefused, match=invitations.ADMIN_ROLE_ERROR):
        invitations.check_grant(Role.ADMIN, Role.ADMIN)
    invitations.check_grant(Role.ADMIN, Role.OWNER)


def test_the_domain_refuses_an_admin_invitation_from_an_admin_before_storing_anything(app, acme):
    company, _, admin = acme
    with app.app_context():
        new = invitations.parse_new_invitation(None, 1, 7, role="ADMIN")
        # Whether the caller says who it is or not, the domain asks.
        for role in (Role.ADMIN, None):
            with pytest.raises(invitations.GrantRefused):
                invitations.create(company.id, db.session.merge(admin), new, creator_role=role)
    assert count(app, Invitation) == 0
    assert count(app, AuditEvent, AuditEvent.action == "invitation.create") == 0


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_admin_asking_for_an_admin_invitation_gets_the_roles_field_error(app, acme, htmx):
    client = signed_in(app, "admin@example.com")
    response = client.post(CREATE_FORM, data=form(role="ADMIN"), headers=HX if htmx else {})
    assert response.status_code == 422
    body = text(response)
    assert ("<html" in body) is not htmx
    assert f'<small id="role-error" class="field-error">{invitations.ADMIN_ROLE_ERROR}</small>' in body
    assert count(app, Invitation) == 0


def test_an_admin_may_still_create_member_invitations(app, acme):
    client = signed_in(app, "admin@example.com")
    assert client.post(CREATE_FORM, data=form()).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(Invitation.role)) == "MEMBER"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_owner_creates_an_admin_invitation_whose_card_says_admin(app, acme, htmx):
    client = signed_in(app, "boss@example.com")
    response = client.post(CREATE_FORM, data=form(role="ADMIN"), headers=HX if htmx else {})
    assert response.status_code == (200 if htmx else 302)
    with app.app_context():
        invitation = db.session.execute(sa.select(Invitation)).scalar_one()
        assert invitation.role == "ADMIN"
        detail = db.session.scalar(sa.select(AuditEvent.detail).where(AuditEvent.action == "invitation.create"))
    assert detail == "max uses 1, expires in 7 days, joins as Admin"
    page = text(client.get(DASHBOARD))
    card = re.search(rf'<article id="invitation-{invitation.id}".*?</article>', page, re.S).group(0)
    assert '<span class="badge badge-admin"' in card and ">ADMIN</span>" in card


def test_a_member_invitations_card_has_no_admin_badge(app, acme):
    company, owner, _ = acme
    create_invitation(app, company, owner)
    page = text(signed_in(app, "boss@example.com").get(DASHBOARD))
    assert "badge-admin" not in page


def test_the_api_refuses_an_admin_invitation_from_an_admin_with_403(app, acme):
    client = api_client(app, "admin@example.com")
    response = client.post(CREATE, json={"role": "ADMIN"})
    assert response.status_code == 403
    assert response.get_json() == {
        "error": invitations.ADMIN_ROLE_ERROR,
        "fields": {"role": invitations.ADMIN_ROLE_ERROR},
    }
    assert count(app, Invitation) == 0


def test_the_api_creates_an_admin_invitation_for_an_owner_and_lists_its_role(app, acme):
    client = api_client(app, "boss@example.com")
    response = client.post(CREATE, json={"role": "admin"})
    assert response.status_code == 201
    assert response.get_json()["invitation"]["role"] == "ADMIN"
    listed = client.get(LIST).get_json()["invitations"]
    assert [i["role"] for i in listed] == ["ADMIN"]


@pytest.mark.parametrize("role", ["OWNER", "boss", 5, True, ["ADMIN"]])
def test_the_api_refuses_a_role_that_is_neither_member_nor_admin(app, acme, role):
    client = api_client(app, "boss@example.com")
    response = client.post(CREATE, json={"role": role})
    assert response.status_code == 400
    assert response.get_json()["fields"] == {"role": invitations.ROLE_ERROR}
    assert count(app, Invitation) == 0


def test_accepting_an_admin_invitation_makes_an_admin_and_the_page_says_so(app, acme, make):
    company, owner, _ = acme
    code = create_invitation(app, company, owner, role="ADMIN", max_uses=2).code
    user = make.user("new@example.com")
    client = signed_in(app, "new@example.com")
    page = text(client.get(f"/invite/{code}"))
    assert "You will join as Admin" in page
    assert client.post(f"/invite/{code}/accept").status_code == 302
    assert membership_role(app, company.id, user.id) == "ADMIN"
    assert count(app, AuditEvent, AuditEvent.action == "invitation.accept") == 1
    # The same through the API: the answer says the role too.
    other = make.user("other@example.com")
    response = api_client(app, "other@example.com").post(ACCEPT, json={"code": code})
    assert response.status_code == 200 and response.get_json()["role"] == "ADMIN"
    assert membership_role(app, company.id, other.id) == "ADMIN"


def test_accepting_a_member_invitation_makes_a_member_and_says_nothing_of_admin(app, acme, make):
    company, owner, _ = acme
    code = create_invitation(app, company, owner).code
    user = make.user("new@example.com")
    client = signed_in(app, "new@example.com")
    assert "You will join as Admin" not in text(client.get(f"/invite/{code}"))
    client.post(f"/invite/{code}/accept")
    assert membership_role(app, company.id, user.id) == "MEMBER"


def test_the_accept_grants_the_role_the_row_holds_when_it_is_written(app, acme, make, monkeypatch):
    """The membership's role comes from the UPDATE's row, not from what was read before it."""
    company, owner, _ = acme
    code = create_invitation(app, company, owner).code
    user = make.user("new@example.com")
    real_check = invitations.check

    def check_then_promote(code, user=None):
        invitation = real_check(code, user)
        with db.engine.begin() as connection:  # another request's commit, in between
            connection.execute(sa.update(Invitation).where(Invitation.code == code).values(role="ADMIN"))
        return invitation

    monkeypatch.setattr(invitations, "check", check_then_promote)
    with app.app_context():
        acceptance = invitations.accept(code, db.session.merge(user))
        assert acceptance.membership.role == "ADMIN"
    assert membership_role(app, company.id, user.id) == "ADMIN"


# --- 2. the allowed email domain -------------------------------------------------------


def test_the_form_stores_the_domain_lower_cased_and_the_card_and_page_show_it(app, acme, make):
    client = signed_in(app, "boss@example.com")
    assert client.post(CREATE_FORM, data=form(allowed_domain=" Acme.COM ")).status_code == 302
    with app.app_context():
        invitation = db.session.execute(sa.select(Invitation)).scalar_one()
    assert invitation.allowed_domain == "acme.com"
    assert "For @acme.com addresses" in text(client.get(DASHBOARD))
    assert "For @acme.com addresses" in text(app.test_client().get(f"/invite/{invitation.code}"))


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_domain_with_a_target_email_is_refused_on_the_form(app, acme, htmx):
    client = signed_in(app, "boss@example.com")
    response = client.post(
        CREATE_FORM, data=form(email="ann@acme.com", allowed_domain="acme.com"), headers=HX if htmx else {}
    )
    assert response.status_code == 422
    assert invitations.DOMAIN_WITH_EMAIL_ERROR in text(response)
    assert count(app, Invitation) == 0


@pytest.mark.parametrize("domain", ["@acme.com", "acme", "acme..com", "ann@acme.com", "-acme.com"])
def test_what_is_no_domain_is_refused_on_the_form_and_in_the_api(app, acme, domain):
    response = signed_in(app, "boss@example.com").post(CREATE_FORM, data=form(allowed_domain=domain))
    assert response.status_code == 422 and invitations.DOMAIN_ERROR in text(response)
    response = api_client(app, "boss@example.com").post(CREATE, json={"allowedDomain": domain})
    assert response.status_code == 400
    assert response.get_json()["fields"] == {"allowedDomain": invitations.DOMAIN_ERROR}
    assert count(app, Invitation) == 0


def test_the_api_creates_lists_and_validates_the_allowed_domain(app, acme, make):
    client = api_client(app, "boss@example.com")
    response = client.post(CREATE, json={"allowedDomain": "ACME.com", "maxUses": 3})
    assert response.status_code == 201
    created = response.get_json()["invitation"]
    assert created["allowedDomain"] == "acme.com"
    assert client.get(LIST).get_json()["invitations"][0]["allowedDomain"] == "acme.com"
    make.user("ann@acme.com")
    preview = api_client(app, "ann@acme.com").post(VALIDATE, json={"code": created["code"]}).get_json()
    assert preview["invitation"]["allowedDomain"] == "acme.com" and preview["invitation"]["role"] == "MEMBER"
    response = client.post(CREATE, json={"allowedDomain": "acme.com", "email": "bob@acme.com"})
    assert response.status_code == 400
    assert response.get_json()["fields"] == {"allowedDomain": invitations.DOMAIN_WITH_EMAIL_ERROR}


@pytest.mark.parametrize(
    "email, verified, message",
    [
        ("ann@acme.com", True, None),
        ("Ann@ACME.com", True, None),
        ("bob@other.com", True, WRONG_DOMAIN),
        ("bob@sales.acme.com", True, WRONG_DOMAIN),
        ("bob@acme.com.evil.example", True, WRONG_DOMAIN),
        ("carol@acme.com", False, UNVERIFIED),
        ("carol@other.com", False, WRONG_DOMAIN),
    ],
)
def test_only_a_verified_address_at_exactly_the_domain_accepts(app, acme, make, email, verified, message):
    company, owner, _ = acme
    code = create_invitation(app, company, owner, allowed_domain="acme.com", max_uses=5).code
    user = make.user(email, verified=verified)
    client = signed_in(app, email)
    page = client.get(f"/invite/{code}")
    assert alert(text(page)) == message
    before = snapshot(app, code)
    response = client.post(f"/invite/{code}/accept")
    if message is None:
        assert response.status_code == 302
        assert membership_role(app, company.id, user.id) == "MEMBER"
        assert invitation_row(app, code)["used_count"] == 1
    else:
        assert response.status_code == 403 and page.status_code == 403
        assert alert(text(response)) == message
        assert snapshot(app, code) == before
        api = api_client(app, email).post(ACCEPT, json={"code": code})
        assert (api.status_code, api.get_json()) == (403, {"error": message})
        assert snapshot(app, code) == before


def test_validate_tells_an_unverified_account_at_the_domain_to_confirm_first(app, acme, make):
    company, owner, _ = acme
    code = create_invitation(app, company, owner, allowed_domain="acme.com").code
    make.user("carol@acme.com", verified=False)
    response = api_client(app, "carol@acme.com").post(VALIDATE, json={"code": code})
    assert (response.status_code, response.get_json()) == (403, {"error": UNVERIFIED})


def test_a_domain_set_between_the_check_and_the_write_refuses_the_accept(app, acme, make, monkeypatch):
    """The accept's UPDATE requires the domain itself: an edit racing it cannot let the wrong domain in."""
    company, owner, _ = acme
    code = create_invitation(app, company, owner, max_uses=3).code
    user = make.user("bob@other.com")
    real_check = invitations.check

    def check_then_limit(code, user=None):
        invitation = real_check(code, user)
        with db.engine.begin() as connection:
            connection.execute(sa.update(Invitation).where(Invitation.code == code).values(allowed_domain="acme.com"))
        return invitation

    before = snapshot(app, code)
    monkeypatch.setattr(invitations, "check", check_then_limit)
    with app.app_context():
        with pytest.raises(invitations.InvitationRefused) as refused:
            invitations.accept(code, db.session.merge(user))
        assert refused.value.reason is Refusal.WRONG_DOMAIN and refused.value.message == WRONG_DOMAIN
    after = snapshot(app, code)
    assert after["invitation"]["used_count"] == 0
    assert {k: after[k] for k in ("redemptions", "memberships", "audit_events")} == {
        k: before[k] for k in ("redemptions", "memberships", "audit_events")
    }


# --- 3. the label and the search -------------------------------------------------------


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"], ids=["line-separator", "paragraph-separator"])
def test_a_label_broken_by_a_unicode_line_or_paragraph_separator_is_refused(app, acme, separator):
    """ "On one line": U+2028 and U+2029 break a line as a newline does (a card shows two lines)."""
    company, owner, _ = acme
    label = f"Sales{separator}team"
    client = signed_in(app, "boss@example.com")
    response = client.post(CREATE_FORM, data=form(label=label))
    assert response.status_code == 422
    assert f'<small id="label-error" class="field-error">{invitations.LABEL_ERROR}</small>' in text(response)
    api = api_client(app, "boss@example.com")
    response = api.post(CREATE, json={"label": label})
    assert response.status_code == 400 and response.get_json()["fields"] == {"label": invitations.LABEL_ERROR}
    assert count(app, Invitation) == 0
    inv = create_invitation(app, company, owner, label="Sales")
    response = api.patch(f"/api/companies/invitations/{inv.id}", json={"label": label})
    assert response.status_code == 400 and response.get_json()["fields"] == {"label": invitations.LABEL_ERROR}
    assert invitation_row(app, inv.code)["label"] == "Sales"


def test_a_label_is_shown_on_the_card_escaped_and_listed_by_the_api(app, acme):
    client = signed_in(app, "boss@example.com")
    label = "<b>Sales</b> & co"
    assert client.post(CREATE_FORM, data=form(label=f"  {label}  ")).status_code == 302
    page = text(client.get(DASHBOARD))
    assert "&lt;b&gt;Sales&lt;/b&gt; &amp; co" in page and "<b>Sales</b>" not in page
    listed = api_client(app, "boss@example.com").get(LIST).get_json()["invitations"]
    assert [i["label"] for i in listed] == [label]


def test_a_label_too_long_or_on_two_lines_is_refused(app, acme):
    client = signed_in(app, "boss@example.com")
    for label in ("x" * 81, "one\ntwo"):
        response = client.post(CREATE_FORM, data=form(label=label))
        assert response.status_code == 422
        assert f'<small id="label-error" class="field-error">{invitations.LABEL_ERROR}</small>' in text(response)
        response = api_client(app, "boss@example.com").post(CREATE, json={"label": label})
        assert response.status_code == 400 and response.get_json()["fields"] == {"label": invitations.LABEL_ERROR}
    assert client.post(CREATE_FORM, data=form(label="x" * 80)).status_code == 302
    assert count(app, Invitation) == 1


@pytest.fixture
def labelled(app, acme):
    """Acme's invitations with labels that wildcards would confuse, newest last."""
    company, owner, _ = acme
    made = {}
    for name, label, state in [
        ("sales", "Sales team", {}),
        ("percent", "100% done", {}),
        ("hundred", "100 percent", {}),
        ("underscore", "a_b", {}),
        ("axb", "axb", {}),
        ("paused_sales", "Sales paused", {"paused": True}),
        ("targeted", None, {"email": "ann@globex.example.com"}),
    ]:
        made[name] = create_invitation(app, company, owner, label=label, **state)
    # Codes are random and may start with "_" or "1": give them a start no search below
    # begins with, so that only labels and addresses can match those searches.
    with app.app_context():
        for invitation in made.values():
            code = f"Zq{secrets.token_hex(15)}"
            db.session.execute(sa.update(Invitation).where(Invitation.id == invitation.id).values(code=code))
            invitation.code = code  # the detached copy the tests read
        db.session.commit()
    return made


def search_ids(client, query: str, headers=None) -> list[int]:
    response = client.get(f"{DASHBOARD}?{query}", headers=headers or {})
    assert response.status_code == 200
    return sorted(card_ids(text(response)))


def ids(labelled, *names) -> list[int]:
    return sorted(labelled[n].id for n in names)


def test_search_without_javascript_answers_the_page_with_the_matching_cards(app, labelled):
    client = signed_in(app, "boss@example.com")
    response = client.get(f"{DASHBOARD}?q=SALES")
    body = text(response)
    assert "<html" in body and 'id="create-invitation"' in body
    assert sorted(card_ids(body)) == ids(labelled, "sales", "paused_sales")
    # The search box is a real form, filled in with what was searched.
    assert re.search(r'<form id="invitation-search"[^>]*method="get"', body)
    assert 'name="q" value="SALES"' in body


def test_active_search_answers_only_the_list(app, labelled):
    client = signed_in(app, "boss@example.com")
    response = client.get(f"{DASHBOARD}?q=sales", headers=HX)
    body = text(response)
    assert "<html" not in body and 'id="create-invitation"' not in body
    assert body.lstrip().startswith('<div id="invitation-results"')
    assert sorted(card_ids(body)) == ids(labelled, "sales", "paused_sales")
    assert "HX-Request" in response.headers["Vary"]
    # Links in the list keep the search.
    assert 'href="/dashboard/company?filter=paused&amp;q=sales"' in body
    assert 'href="/dashboard/company/invitations.csv?q=sales"' in body


def test_the_search_box_does_active_search_within_its_form(app, labelled):
    body = text(signed_in(app, "boss@example.com").get(DASHBOARD))
    box = re.search(r'<input type="search"[^>]*>', body).group(0)
    assert 'hx-trigger="input changed delay:300ms, search"' in box
    assert 'hx-target="#invitation-results"' in box and 'hx-push-url="true"' in box
    assert 'hx-include="closest form"' in box


@pytest.mark.parametrize(
    "query, expected",
    [
        ("q=100%25", ["percent"]),
        ("q=a_b", ["underscore"]),
        ("q=%25", ["percent"]),
        ("q=_", ["underscore"]),
        ("q=100", ["percent", "hundred"]),
        ("q=globex", ["targeted"]),
        ("q=nothing+like+it", []),
        ("q=", ["sales", "percent", "hundred", "underscore", "axb", "paused_sales", "targeted"]),
        ("q=sales&filter=paused", ["paused_sales"]),
        ("q=sales&filter=active", ["sales"]),
        ("q=100&filter=paused", []),
    ],
)
def test_search_matches_labels_and_addresses_literally_within_the_filter(app, labelled, query, expected):
    client = signed_in(app, "boss@example.com")
    assert search_ids(client, query) == ids(labelled, *expected)
    assert search_ids(client, query, headers=HX) == ids(labelled, *expected)
    listed = api_client(app, "boss@example.com").get(f"{LIST}?{query}").get_json()
    assert sorted(i["id"] for i in listed["invitations"]) == ids(labelled, *expected)


def test_search_finds_an_invitation_by_its_short_code(app, labelled):
    client = signed_in(app, "boss@example.com")
    code = labelled["axb"].code
    assert labelled["axb"].id in search_ids(client, f"q={code[:12]}%E2%80%A6")


def test_an_empty_search_says_so(app, labelled):
    body = text(signed_in(app, "boss@example.com").get(f"{DASHBOARD}?q=zzz"))
    assert "No invitations match “zzz”." in body


def test_a_searched_list_pages_and_its_links_keep_the_search(app, acme):
    company, owner, _ = acme
    app.config["INVITATIONS_PER_PAGE"] = 2
    made = [create_invitation(app, company, owner, label=f"Meetup {n}") for n in range(3)]
    create_invitation(app, company, owner, label="Other")
    client = signed_in(app, "boss@example.com")
    first = text(client.get(f"{DASHBOARD}?q=meetup", headers=HX))
    assert card_ids(first) == [made[2].id, made[1].id]
    assert 'href="/dashboard/company?q=meetup&amp;page=2"' in first
    second = text(client.get(f"{DASHBOARD}?q=meetup&page=2"))
    assert card_ids(second) == [made[0].id]


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text(response))))


def test_the_invitations_csv_has_the_label_and_honours_the_search(app, labelled):
    client = signed_in(app, "boss@example.com")
    table = csv_rows(client.get("/dashboard/company/invitations.csv?q=sales"))
    label = table[0].index("label")
    assert sorted(row[label] for row in table[1:]) == ["Sales paused", "Sales team"]
    table = csv_rows(client.get("/dashboard/company/invitations.csv?q=sales&filter=paused"))
    assert [row[label] for row in table[1:]] == ["Sales paused"]


def test_the_redemptions_csv_says_by_which_label(app, acme, make):
    company, owner, _ = acme
    code = create_invitation(app, company, owner, label="Meetup 12 May").code
    make.user("ann@example.com")
    signed_in(app, "ann@example.com").post(f"/invite/{code}/accept")
    table = csv_rows(signed_in(app, "boss@example.com").get("/dashboard/company/redemptions.csv"))
    assert table[0][-1] == "invitation label"
    assert [row[-1] for row in table[1:]] == ["Meetup 12 May"]


def test_like_wildcards_are_escaped():
    assert invitations.escape_like("100%_\\") == "100\\%\\_\\\\"
    assert invitations.search_parameters("a%") == {"pattern": "%a\\%%", "prefix": "a%", "prefix_length": 2}


def test_a_code_is_found_by_its_exact_start_only_on_both_databases(app, labelled):
    """Codes are case-sensitive: the same answer on SQLite (whose LIKE ignores case) and
    PostgreSQL; "…" alone (a short code's ellipsis without its start) matches no code."""
    client = signed_in(app, "boss@example.com")
    code = labelled["axb"].code
    assert search_ids(client, f"q={code[:8]}") == ids(labelled, "axb")
    assert search_ids(client, f"q={code[:8].swapcase()}") == []
    assert search_ids(client, "q=%E2%80%A6") == []


@pytest.mark.parametrize("query", ["équipe", "ÉQUIPE", "Équipe", "ärzte", "ÄRZTE", "МОСКВА", "москва"])
def test_search_ignores_the_case_of_every_letter_on_both_databases(app, acme, query):
    """ "Any case" is any letter's case: SQLite's own lower() folds only A–Z, so a search for
    "équipe" missed "Équipe Paris" there (PostgreSQL found it)."""
    company, owner, _ = acme
    made = {
        "équipe": create_invitation(app, company, owner, label="Équipe Paris"),
        "ärzte": create_invitation(app, company, owner, label="Ärzte Süd"),
        "москва": create_invitation(app, company, owner, label="Офис Москва"),
        "other": create_invitation(app, company, owner, label="Sales team"),
    }
    expected = [made[query.lower()].id]
    client = signed_in(app, "boss@example.com")
    assert search_ids(client, f"q={query}") == expected
    listed = api_client(app, "boss@example.com").get(LIST, query_string={"q": query}).get_json()
    assert [i["id"] for i in listed["invitations"]] == expected
    table = csv_rows(client.get("/dashboard/company/invitations.csv", query_string={"q": query}))
    assert [row[table[0].index("label")] for row in table[1:]] == [made[query.lower()].label]


# --- 5. a company that paused all its invitations -------------------------------------


def test_a_paused_company_refuses_every_invitation_until_it_resumes(app, acme, make):
    company, owner, _ = acme
    open_code = create_invitation(app, company, owner, max_uses=5).code
    own_pause = create_invitation(app, company, owner, max_uses=5, paused=True).code
    user = make.user("ann@example.com")
    set_company_paused(app, company.id, True)
    client = signed_in(app, "ann@example.com")
    api = api_client(app, "ann@example.com")
    for code in (open_code, own_pause):
        before = snapshot(app, code)
        page = client.get(f"/invite/{code}")
        assert (page.status_code, alert(text(page))) == (409, PAUSED)
        response = client.post(f"/invite/{code}/accept")
        assert (response.status_code, alert(text(response))) == (409, PAUSED)
        for path in (VALIDATE, ACCEPT):
            response = api.post(path, json={"code": code})
            assert (response.status_code, response.get_json()) == (409, {"error": PAUSED})
        assert snapshot(app, code) == before
    assert invitation_row(app, open_code)["is_active"] is True  # its own state is untouched

    set_company_paused(app, company.id, False)
    # Each invitation's own state holds again: the open one admits, the paused one stays paused.
    response = api.post(VALIDATE, json={"code": own_pause})
    assert (response.status_code, response.get_json()) == (409, {"error": PAUSED})
    assert api.post(VALIDATE, json={"code": open_code}).status_code == 200
    assert client.post(f"/invite/{open_code}/accept").status_code == 302
    assert membership_role(app, company.id, user.id) == "MEMBER"


def test_a_pause_of_the_company_between_the_check_and_the_write_refuses_the_accept(app, acme, make, monkeypatch):
    """The accept's UPDATE itself requires the company not paused, and the refusal says so."""
    company, owner, _ = acme
    code = create_invitation(app, company, owner, max_uses=3).code
    user = make.user("ann@example.com")
    real_check = invitations.check

    def check_then_pause_all(code, user=None):
        invitation = real_check(code, user)
        with db.engine.begin() as connection:
            connection.execute(
                sa.update(Company).where(Company.id == company.id).values(invitations_paused_at=utcnow())
            )
        return invitation

    monkeypatch.setattr(invitations, "check", check_then_pause_all)
    with app.app_context():
        with pytest.raises(invitations.InvitationRefused) as refused:
            invitations.accept(code, db.session.merge(user))
        assert refused.value.reason is Refusal.PAUSED
    assert invitation_row(app, code)["used_count"] == 0
    assert count(app, Redemption) == 0
    assert membership_role(app, company.id, user.id) is None


def test_creating_while_a_search_hides_the_new_card_says_how_to_see_it(app, labelled):
    client = signed_in(app, "boss@example.com")
    headers = {**HX, "HX-Current-URL": "http://localhost/dashboard/company?q=sales"}
    response = client.post(CREATE_FORM, data=form(label="Support"), headers=headers)
    assert response.status_code == 200
    body = text(response)
    assert "Clear the search to see it." in body
    assert 'hx-swap-oob="afterbegin:#invitation-list"' not in body
