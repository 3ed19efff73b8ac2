"""The members page, roles, removals, and switching between companies."""

import pytest
import sqlalchemy as sa

from invites import accounts
from invites.extensions import db
from invites.models import AuditEvent, Membership, Role


def role_of(app, user) -> str | None:
    with app.app_context():
        return db.session.scalar(sa.select(Membership.role).where(Membership.user_id == user.id))


def membership_id(app, user) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Membership.id).where(Membership.user_id == user.id))


def test_members_page_lists_name_email_role_joined(client, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("ann@example.com", company=company, role=Role.ADMIN, name="Ann Admin")
    auth.login("boss@example.com")
    page = client.get("/company/members").get_data(as_text=True)
    assert "Members of Acme" in page
    assert "Ann Admin" in page and "ann@example.com" in page
    assert "ADMIN" in page and "OWNER" in page
    assert "<time datetime=" in page


def test_members_page_shows_fifty_newest_first_with_page_links_that_need_no_javascript(client, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    for n in range(55):
        make.user(f"m{n:02d}@example.com", company=company, name=f"Member {n:02d}")
    auth.login("boss@example.com")
    first = client.get("/company/members").get_data(as_text=True)
    assert first.count('<li id="member-') == 50
    assert first.index("Member 54") < first.index("Member 53") < first.index("Member 05")
    assert "Member 04" not in first and "Acme Owner" not in first
    assert 'href="/company/members?page=2"' in first and "Older" in first and "Newer" not in first
    # A plain link: the whole page, as a browser without JavaScript asks for it.
    second = client.get("/company/members?page=2").get_data(as_text=True)
    assert "<html" in second and second.count('<li id="member-') == 6
    assert "Member 04" in second and "Member 00" in second
    assert "Acme Owner" in second and 'aria-label="Remove Member 00"' in second
    assert 'href="/company/members?page=1"' in second and "Newer" in second and "Older" not in second
    assert "No members on this page." in client.get("/company/members?page=9").get_data(as_text=True)
    for odd in ("0", "-3", "abc", "99999999999999999999"):
        response = client.get(f"/company/members?page={odd}")
        assert response.status_code == 200 and "Member 54" in response.get_data(as_text=True)


def test_members_pages_swap_only_the_table_for_htmx(client, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    for n in range(51):
        make.user(f"m{n:02d}@example.com", company=company, name=f"Member {n:02d}")
    auth.login("boss@example.com")
    response = client.get("/company/members?page=2", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert "<html" not in fragment and "Members of Acme" not in fragment
    assert fragment.lstrip().startswith('<section id="members"')
    assert fragment.count('<li id="member-') == 2 and "Member 00" in fragment and "Acme Owner" in fragment
    assert 'hx-get="/company/members?page=1"' in fragment


def test_owner_makes_member_admin_and_back(client, app, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    mia = make.user("mia@example.com", company=company, role=Role.MEMBER)
    auth.login("boss@example.com")
    mid = membership_id(app, mia)
    response = client.post(f"/company/members/{mid}/role", data={"role": "ADMIN"}, follow_redirects=True)
    assert "is now admin" in response.get_data(as_text=True)
    assert role_of(app, mia) == "ADMIN"
    client.post(f"/company/members/{mid}/role", data={"role": "MEMBER"})
    assert role_of(app, mia) == "MEMBER"


def test_role_cannot_be_set_to_nonsense(client, app, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    mia = make.user("mia@example.com", company=company)
    auth.login("boss@example.com")
    for role in ("GOD", "owner ", ""):
        response = client.post(f"/company/members/{membership_id(app, mia)}/role", data={"role": role})
        assert response.status_code == 400
        assert "Choose Owner, Admin or Member." in response.get_data(as_text=True)
    assert role_of(app, mia) == "MEMBER"


def test_owner_hands_over_ownership_then_steps_down(client, app, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    mia = make.user("mia@example.com", company=company)
    auth.login("boss@example.com")
    page = client.get("/company/members").get_data(as_text=True)
    assert f'<label for="role-{membership_id(app, mia)}" class="visually-hidden">Role of' in page
    client.post(f"/company/members/{membership_id(app, mia)}/role", data={"role": "OWNER"})
    assert role_of(app, mia) == "OWNER"
    client.post(f"/company/members/{membership_id(app, owner)}/role", data={"role": "MEMBER"})
    assert role_of(app, owner) == "MEMBER"
    # No longer the owner: the members page offers no changes, and they are refused.
    assert 'name="role"' not in client.get("/company/members").get_data(as_text=True)
    assert client.post(f"/company/members/{membership_id(app, mia)}/role", data={"role": "ADMIN"}).status_code == 403


@pytest.mark.parametrize("membership", ["0", "2147483648", "99999999999999999999"])
def test_membership_ids_that_cannot_exist_are_404(client, app, make, auth, membership):
    make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    assert client.post(f"/company/members/{membership}/role", data={"role": "ADMIN"}).status_code == 404
    assert client.post(f"/company/members/{membership}/remove").status_code == 404


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_only_the_owner_changes_roles_or_removes(client, app, make, auth, role):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("actor@example.com", company=company, role=role)
    target = make.user("target@example.com", company=company)
    auth.login("actor@example.com")
    assert client.post(f"/company/members/{membership_id(app, target)}/role", data={"role": "ADMIN"}).status_code == 403
    assert client.post(f"/company/members/{membership_id(app, target)}/remove").status_code == 403
    assert role_of(app, target) == "MEMBER"


def test_owner_removes_member_after_a_confirmation_page_that_names_them(client, app, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    mia = make.user("mia@example.com", company=company, name="Mia Moss")
    auth.login("boss@example.com")
    url = f"/company/members/{membership_id(app, mia)}/remove"
    # The first POST (the members page's button without JavaScript) only asks.
    asked = client.post(url)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert "Remove Mia Moss from Acme?" in page
    assert 'name="confirm" value="yes"' in page and 'href="/company/members"' in page
    assert role_of(app, mia) == "MEMBER"

    response = client.post(url, data={"confirm": "yes"}, follow_redirects=True)
    assert "Mia Moss was removed." in response.get_data(as_text=True)
    assert role_of(app, mia) is None


def test_members_page_asks_before_removing_with_javascript_too(client, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("mia@example.com", company=company, name="Mia Moss")
    auth.login("boss@example.com")
    page = client.get("/company/members").get_data(as_text=True)
    assert 'data-confirm="Remove Mia Moss from Acme? They will lose access to the company."' in page


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_see_every_members_email(client, make, auth, role):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("mia@example.com", company=company, name="Mia Moss")
    make.user("viewer@example.com", company=company, role=role, name="Vic Viewer")
    auth.login("viewer@example.com")
    page = client.get("/company/members").get_data(as_text=True)
    assert "boss@example.com" in page and "mia@example.com" in page and "viewer@example.com" in page


def test_a_member_sees_names_and_roles_but_only_their_own_email(client, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    make.user("mia@example.com", company=company, role=Role.ADMIN, name="Mia Moss")
    make.user("max@example.com", company=company, name="Max Member")
    auth.login("max@example.com")
    page = client.get("/company/members").get_data(as_text=True)
    assert "Mia Moss" in page and "Acme Owner" in page and "ADMIN" in page and "OWNER" in page
    assert "mia@example.com" not in page and "boss@example.com" not in page
    assert "max@example.com" in page


def test_company_always_keeps_an_owner(client, app, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    oid = membership_id(app, owner)
    response = client.post(f"/company/members/{oid}/remove", data={"confirm": "yes"}, follow_redirects=True)
    assert "A company always keeps an owner" in response.get_data(as_text=True)
    client.post(f"/company/members/{oid}/role", data={"role": "MEMBER"})
    assert role_of(app, owner) == "OWNER"


def test_one_of_two_owners_may_step_down(client, app, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    second = make.user("second@example.com", company=company, role=Role.OWNER)
    auth.login("boss@example.com")
    client.post(f"/company/members/{membership_id(app, second)}/role", data={"role": "ADMIN"})
    assert role_of(app, second) == "ADMIN"
    client.post(f"/company/members/{membership_id(app, owner)}/role", data={"role": "ADMIN"})
    assert role_of(app, owner) == "OWNER"


def test_another_companys_member_is_404(client, app, make, auth):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    other, other_owner = make.company("Globex", owner_email="hank@example.com")
    outsider = make.user("out@example.com", company=other)
    auth.login("boss@example.com")
    assert client.post(f"/company/members/{membership_id(app, outsider)}/remove").status_code == 404
    assert role_of(app, outsider) == "MEMBER"


def test_user_in_two_companies_switches_and_it_is_remembered(client, app, make, auth):
    acme, boss = make.company("Acme", owner_email="boss@example.com")
    globex, hank = make.company("Globex", owner_email="hank@example.com")
    make.user("both@example.com", company=acme, role=Role.ADMIN)
    with app.app_context():
        from invites.models import User

        both = db.session.scalar(sa.select(User).where(User.email == "both@example.com"))
        db.session.add(Membership(user_id=both.id, company_id=globex.id, role="MEMBER"))
        db.session.commit()
    auth.login("both@example.com")
    page = client.get("/company/members").get_data(as_text=True)
    assert "Members of Acme" in page
    assert 'name="company_id"' in page  # the switcher shows with two companies
    client.post("/company/switch", data={"company_id": globex.id, "next": "/company/members"})
    assert "Members of Globex" in client.get("/company/members").get_data(as_text=True)
    # A member of Globex does not manage its invitations.
    assert client.get("/dashboard/company").status_code == 403


def test_cannot_switch_to_a_company_one_is_not_in(client, make, auth):
    acme, boss = make.company("Acme", owner_email="boss@example.com")
    globex, hank = make.company("Globex", owner_email="hank@example.com")
    auth.login("boss@example.com")
    response = client.post("/company/switch", data={"company_id": globex.id}, follow_redirects=True)
    assert "You are not a member of that company." in response.get_data(as_text=True)
    assert "Members of Acme" in client.get("/company/members").get_data(as_text=True)


def test_a_refused_switch_leaves_the_current_company_as_it_was(client, app, make, auth):
    """Switching to a company one is not (or no longer) in changes nothing: before, the
    refusal left the user on their first company by name, not on the one they were on."""
    acme, _ = make.company("Acme", owner_email="boss@example.com")
    globex, _ = make.company("Globex", owner_email="hank@example.com")
    initech, _ = make.company("Initech", owner_email="peter@example.com")
    make.user("both@example.com", company=acme, role=Role.ADMIN)
    with app.app_context():
        from invites.models import User

        both = db.session.scalar(sa.select(User).where(User.email == "both@example.com"))
        db.session.add(Membership(user_id=both.id, company_id=globex.id, role="MEMBER"))
        db.session.commit()
    auth.login("both@example.com")
    client.post("/company/switch", data={"company_id": globex.id})
    assert "Members of Globex" in client.get("/company/members").get_data(as_text=True)
    response = client.post("/company/switch", data={"company_id": initech.id}, follow_redirects=True)
    assert "You are not a member of that company." in response.get_data(as_text=True)
    assert "Members of Globex" in client.get("/company/members").get_data(as_text=True)


def test_member_gets_403_on_dashboard(client, make, auth):
    company, owner = make.company("Acme")
    make.user("mia@example.com", company=company)
    auth.login("mia@example.com")
    response = client.get("/dashboard/company")
    assert response.status_code == 403
    assert b"You do not have access to this page." in response.data


def test_members_page_query_count_does_not_grow_with_members(client, app, make, auth):
    """The members page loads users with their memberships, not one query per row."""
    from sqlalchemy import event

    company, owner = make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")

    def statements_for_members_page() -> int:
        seen = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get("/company/members").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    few = statements_for_members_page()
    for n in range(5):
        make.user(f"m{n}@example.com", company=company)
    assert statements_for_members_page() == few


def test_current_memberships_are_the_orm_memberships_as_snapshots(app, make):
    """tenancy reads the user's memberships in Core: the same rows, in the same order
    (company name, then id), with every column requests read of them and of the company."""
    from invites import accounts, invitations

    zeta, _ = make.company("Zeta")
    alpha, _ = make.company("Alpha")
    middle, _ = make.company("Mid")
    user = make.user("many@example.com", company=zeta, role=Role.ADMIN)
    with app.app_context():
        for company, role in ((alpha, Role.MEMBER), (middle, Role.OWNER)):
            db.session.add(Membership(user_id=user.id, company_id=company.id, role=role.value))
        db.session.commit()
        invitations.pause_all(middle.id, user)
        orm = accounts.memberships_of(user.id)
        core = accounts.current_memberships_of(user.id)
        assert [m.company.name for m in core] == ["Alpha", "Mid", "Zeta"]
        assert [(m.id, m.user_id, m.company_id, m.role, m.role_enum, m.created_at) for m in core] == [
            (m.id, m.user_id, m.company_id, m.role, m.role_enum, m.created_at) for m in orm
        ]
        assert [
            (c.company.id, c.company.name, c.company.created_at, c.company.invitations_paused_at) for c in core
        ] == [(m.company.id, m.company.name, m.company.created_at, m.company.invitations_paused_at) for m in orm]
        assert [m.company.invitations_paused_at is not None for m in core] == [False, True, False]
        assert accounts.current_memberships_of(10**9) == []


def removed_meanwhile(monkeypatch, name: str) -> None:
    """``accounts.<name>`` finds its member removed by someone else, after the page loaded the row.

    The removal commits on a connection of its own, as another owner's request would,
    between the view's lookup of the membership and the domain's statement.
    """
    real = getattr(accounts, name)

    def after_a_removal(membership, *args):
        with db.engine.begin() as other_request:
            other_request.execute(sa.delete(Membership).where(Membership.id == membership.id))
        return real(membership, *args)

    monkeypatch.setattr(accounts, name, after_a_removal)


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.mark.parametrize(
    ("action", "url", "data"),
    [("change_role", "role", {"role": "ADMIN"}), ("remove_member", "remove", {"confirm": "yes"})],
)
def test_a_member_removed_meanwhile_is_said_to_be_gone_not_the_last_owner(
    client, app, make, auth, monkeypatch, action, url, data
):
    """Someone removed Mia while the owner was changing her role (or removing her):
    the answer is that she is no longer a member, with the 404 of any vanished row,
    not the last-owner refusal; nothing is recorded."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    mia = make.user("mia@example.com", company=company, name="Mia Moss")
    auth.login("boss@example.com")
    before = audit_actions(app)
    removed_meanwhile(monkeypatch, action)
    response = client.post(f"/company/members/{membership_id(app, mia)}/{url}", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Mia Moss is no longer a member of Acme: someone removed them meanwhile." in page
    assert "A company always keeps an owner" not in page
    assert role_of(app, mia) is None and role_of(app, owner) == "OWNER"
    assert audit_actions(app) == before
    # The members page, loaded again, shows who is left.
    members = client.get("/company/members").get_data(as_text=True)
    assert "Mia Moss" not in members and "A company always keeps an owner" not in members
