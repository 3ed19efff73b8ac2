"""Remove everyone who joined through an invitation: the domain, the dashboard (htmx and
plain forms), the API, who may do it, and a promotion racing the removal."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from invites import accounts, invitations
from invites.extensions import db
from invites.invitations import KEPT_ADMIN, KEPT_OWNER, InvitationRefused, Refusal
from invites.masking import short_code
from invites.models import AuditEvent, Company, Invitation, Membership, Redemption, Role, User, utcnow

from .api_helpers import api_login
from .factories import count
from .invitation_helpers import signed_in

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"}
PROMOTED = "was made Admin since"


def remove_url(invitation_id: int) -> str:
    return f"/dashboard/company/invitations/{invitation_id}/remove-members"


def api_url(invitation_id: int) -> str:
    return f"/api/companies/invitations/{invitation_id}/remove-members"


@dataclass
class World:
    """Acme: its owner Boss; an invitation (5 uses) through which Mia, Max, Ada, Oli and Rex joined.

    Since then Ada was made Admin, Oli was made Owner, and Rex was removed.
    """

    company_id: int
    owner_id: int
    invitation_id: int
    code: str
    users: dict[str, int]


def _user(app, email: str) -> User:
    with app.app_context():
        user = db.session.execute(sa.select(User).where(User.email == email)).scalar_one()
        db.session.expunge(user)
        return user


def join(app, make, code: str, name: str) -> int:
    """A new user with a verified address accepts ``code``; their id."""
    user = make.user(f"{name.lower()}@example.com", name=name)
    with app.app_context():
        invitations.accept(code, db.session.get(User, user.id))
    return user.id


def set_role(app, company_id: int, user_id: int, role: Role) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(Membership)
            .where(Membership.company_id == company_id, Membership.user_id == user_id)
            .values(role=role.value)
        )
        db.session.commit()


def roles(app, company_id: int) -> dict[str, str]:
    """Who is in the company now, by name, with their role."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(User.name, Membership.role).join(Membership).where(Membership.company_id == company_id)
        ).all()
        return dict(rows)


def load(app, invitation_id: int) -> Invitation:
    with app.app_context():
        invitation = db.session.get(Invitation, invitation_id)
        db.session.expunge(invitation)
        return invitation


def events(app, action: str) -> list[tuple]:
    """(actor, invitation, subject) of each audit row of ``action``, oldest first."""
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                sa.select(AuditEvent.actor_id, AuditEvent.invitation_id, AuditEvent.subject_user_id)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.id)
            )
        ]


def tokens(app) -> dict[int, str]:
    with app.app_context():
        return dict(db.session.execute(sa.select(User.id, User.session_token)).all())


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(app, make) -> World:
    company, owner = make.company("Acme", owner_email="boss@example.com")
    with app.app_context():
        invitation = invitations.create(
            company.id, db.session.get(User, owner.id), invitations.parse_new_invitation(None, 5, 7)
        )
        invitation_id, code = invitation.id, invitation.code
    users = {name: join(app, make, code, name) for name in ("Mia", "Max", "Ada", "Oli", "Rex")}
    set_role(app, company.id, users["Ada"], Role.ADMIN)
    set_role(app, company.id, users["Oli"], Role.OWNER)
    with app.app_context():
        rex = db.session.execute(
            sa.select(Membership).where(Membership.user_id == users["Rex"], Membership.company_id == company.id)
        ).scalar_one()
        accounts.remove_member(rex, db.session.get(User, owner.id))
    return World(company.id, owner.id, invitation_id, code, users)


# --- the domain ------------------------------------------------------------------------


def test_members_are_removed_owner_and_promoted_are_kept_the_removed_are_not_counted(app, world):
    removes_before = len(events(app, "member.remove"))
    tokens_before = tokens(app)
    with app.app_context():
        invitation = db.session.get(Invitation, world.invitation_id)
        result = invitations.remove_members(invitation, db.session.get(User, world.owner_id), Role.OWNER)
        assert [(j.name, j.role) for j in result.removed] == [("Mia", Role.MEMBER), ("Max", Role.MEMBER)]
        assert [(j.name, j.role, j.kept_because) for j in result.kept] == [
            ("Ada", Role.ADMIN, PROMOTED),
            ("Oli", Role.OWNER, KEPT_OWNER),
        ]
        assert result.revoked and invitations.state(result.invitation).value == "REVOKED"
    # Rex had left already: in neither list, and no second audit row for him.
    assert roles(app, world.company_id) == {"Acme Owner": "OWNER", "Ada": "ADMIN", "Oli": "OWNER"}
    assert load(app, world.invitation_id).revoked_at is not None
    # History stays: every redemption, and the counter.
    assert count(app, Redemption, Redemption.invitation_id == world.invitation_id) == 5
    assert load(app, world.invitation_id).used_count == 5
    # One MEMBER_REMOVE per member removed, naming the invitation; one REVOKE.
    removes = events(app, "member.remove")[removes_before:]
    assert removes == [
        (world.owner_id, world.invitation_id, world.users["Mia"]),
        (world.owner_id, world.invitation_id, world.users["Max"]),
    ]
    assert events(app, "invitation.revoke") == [(world.owner_id, world.invitation_id, None)]
    # The removed are signed out everywhere; nobody else is.
    after = tokens(app)
    changed = {user_id for user_id in after if after[user_id] != tokens_before[user_id]}
    assert changed == {world.users["Mia"], world.users["Max"]}


def test_after_the_removal_the_link_admits_nobody(app, make, world):
    with app.app_context():
        invitations.remove_members(
            db.session.get(Invitation, world.invitation_id), db.session.get(User, world.owner_id), Role.OWNER
        )
    stranger = make.user("new@example.com")
    with app.app_context():
        for user_id in (stranger.id, world.users["Mia"]):
            with pytest.raises(InvitationRefused) as refused:
                invitations.accept(world.code, db.session.get(User, user_id))
            assert refused.value.reason is Refusal.REVOKED
    assert "Mia" not in roles(app, world.company_id)
    assert load(app, world.invitation_id).used_count == 5


def test_a_fully_used_invitation_is_revoked_too(app, make):
    company, owner = make.company("Acme")
    with app.app_context():
        invitation = invitations.create(
            company.id, db.session.get(User, owner.id), invitations.parse_new_invitation(None, 1, 7)
        )
        code, invitation_id = invitation.code, invitation.id
    join(app, make, code, "Mia")
    assert invitations.state(load(app, invitation_id)).value == "ACCEPTED"
    with app.app_context():
        result = invitations.remove_members(
            db.session.get(Invitation, invitation_id), db.session.get(User, owner.id), Role.OWNER
        )
        assert [j.name for j in result.removed] == ["Mia"] and result.revoked
    assert invitations.state(load(app, invitation_id)).value == "REVOKED"
    assert roles(app, company.id) == {"Acme Owner": "OWNER"}


def test_an_invitation_revoked_before_is_not_revoked_again(app, world):
    with app.app_context():
        owner = db.session.get(User, world.owner_id)
        # Fully used, so Revoke refuses it: as if revoked before it filled up.
        db.session.execute(
            sa.update(Invitation).where(Invitation.id == world.invitation_id).values(revoked_at=utcnow())
        )
        db.session.commit()
        revoked_at = db.session.get(Invitation, world.invitation_id).revoked_at
        result = invitations.remove_members(db.session.get(Invitation, world.invitation_id), owner, Role.OWNER)
        assert [j.name for j in result.removed] == ["Mia", "Max"] and not result.revoked
    assert load(app, world.invitation_id).revoked_at == revoked_at
    assert events(app, "invitation.revoke") == []


def test_asking_twice_removes_nobody_new(app, world):
    with app.app_context():
        owner = db.session.get(User, world.owner_id)
        invitations.remove_members(db.session.get(Invitation, world.invitation_id), owner, Role.OWNER)
        again = invitations.remove_members(db.session.get(Invitation, world.invitation_id), owner, Role.OWNER)
        assert again.removed == [] and not again.revoked
        assert [j.name for j in again.kept] == ["Ada", "Oli"]
    assert len(events(app, "member.remove")) == 3  # Rex (members page), Mia, Max
    assert len(events(app, "invitation.revoke")) == 1


def test_the_last_owner_is_never_removed(app, make):
    """Oli joined through the invitation, became owner, and made the founder a member:
    Oli is now the only owner, and the removal keeps Oli."""
    company, founder = make.company("Acme")
    with app.app_context():
        invitation = invitations.create(
            company.id, db.session.get(User, founder.id), invitations.parse_new_invitation(None, 3, 7)
        )
        code, invitation_id = invitation.code, invitation.id
    oli = join(app, make, code, "Oli")
    mia = join(app, make, code, "Mia")
    set_role(app, company.id, oli, Role.OWNER)
    set_role(app, company.id, founder.id, Role.MEMBER)
    with app.app_context():
        result = invitations.remove_members(
            db.session.get(Invitation, invitation_id), db.session.get(User, oli), Role.OWNER
        )
        assert [j.user_id for j in result.removed] == [mia]
        assert [(j.user_id, j.kept_because) for j in result.kept] == [(oli, KEPT_OWNER)]
    assert roles(app, company.id) == {"Acme Owner": "MEMBER", "Oli": "OWNER"}


@pytest.mark.parametrize(
    "actor_role, removed, kept",
    [
        (Role.OWNER, ["Mia", "Ada"], []),
        # Only an owner grants the Admin role, so only an owner takes it away.
        (Role.ADMIN, ["Mia"], [("Ada", KEPT_ADMIN)]),
    ],
)
def test_an_admin_invitation_removes_its_admins_only_when_an_owner_asks(app, make, actor_role, removed, kept):
    company, owner = make.company("Acme")
    admin = make.user("ann@example.com", company=company, role=Role.ADMIN)
    with app.app_context():
        invitation = invitations.create(
            company.id, db.session.get(User, owner.id), invitations.parse_new_invitation(None, 3, 7, role="ADMIN")
        )
        code, invitation_id = invitation.code, invitation.id
    mia = join(app, make, code, "Mia")
    join(app, make, code, "Ada")
    assert roles(app, company.id)["Ada"] == "ADMIN"  # what an Admin invitation grants
    set_role(app, company.id, mia, Role.MEMBER)  # made a Member since: an admin may remove her
    actor = owner.id if actor_role is Role.OWNER else admin.id
    with app.app_context():
        result = invitations.remove_members(
            db.session.get(Invitation, invitation_id), db.session.get(User, actor), actor_role
        )
        assert [j.name for j in result.removed] == removed
        assert [(j.name, j.kept_because) for j in result.kept] == kept


def test_the_plan_counts_what_the_removal_does_and_changes_nothing(app, world):
    with app.app_context():
        invitation = db.session.get(Invitation, world.invitation_id)
        plan = invitations.removal_plan(invitation, Role.OWNER)
        assert [j.name for j in plan.removed] == ["Mia", "Max"]
        assert plan.kept_reasons == {world.users["Ada"]: PROMOTED, world.users["Oli"]: KEPT_OWNER}
    assert load(app, world.invitation_id).revoked_at is None
    assert set(roles(app, world.company_id)) == {"Acme Owner", "Mia", "Max", "Ada", "Oli"}


# --- the dashboard ---------------------------------------------------------------------


def test_who_used_it_in_a_card_offers_the_removal_with_a_dialog_naming_how_many(app, world):
    client = signed_in(app, "boss@example.com")
    response = client.get(f"/dashboard/company/invitations/{world.invitation_id}/redemptions", headers=HX)
    body = text(response)
    assert response.status_code == 200 and "<html" not in body
    name = short_code(world.code)
    assert (
        f'hx-confirm="Remove 2 people who joined through invitation {name} from Acme? '
        'They lose access at once, and the invitation is revoked."' in body
    )
    assert 'hx-target="closest .invitation-card"' in body
    assert "Remove everyone who joined through this invitation (2)" in body
    # Who has left is marked; who a removal keeps says why.
    assert re.search(r"Rex <small>.*?no longer a member", body, re.S)
    assert f"a removal keeps them: {PROMOTED}" in body
    assert f"a removal keeps them: {KEPT_OWNER}" in body


def test_htmx_removal_answers_the_revoked_card_and_says_who_went_and_who_stayed(app, world):
    client = signed_in(app, "boss@example.com")
    response = client.post(remove_url(world.invitation_id), data={"confirm": "yes"}, headers=HX)
    body = text(response)
    assert response.status_code == 200 and "<html" not in body
    assert f'<article id="invitation-{world.invitation_id}"' in body and "REVOKED" in body
    name = short_code(world.code)
    message = (
        f"Removed 2 people who joined through invitation {name}: Mia and Max. "
        f"Kept 2 people: Ada ({PROMOTED}) and Oli ({KEPT_OWNER}). "
        "The invitation is revoked: its link admits nobody now."
    )
    assert (
        f'<div hx-swap-oob="innerHTML:#flashes"><p class="flash flash-success" role="status">{message}</p></div>'
        in body
    )
    assert '"announce": "Removed 2 people' in response.headers["HX-Trigger"]
    assert roles(app, world.company_id) == {"Acme Owner": "OWNER", "Ada": "ADMIN", "Oli": "OWNER"}


def test_without_javascript_a_page_asks_first_naming_the_count_then_who_used_it_shows_the_result(app, world):
    client = signed_in(app, "boss@example.com")
    page = text(client.get(f"/dashboard/company/invitations/{world.invitation_id}/redemptions"))
    # On the page: a plain form; app.js asks with data-confirm, else the server asks.
    assert 'data-confirm="Remove 2 people who joined through invitation' in page
    assert '<input type="hidden" name="confirm" value="">' in page

    ask = client.post(remove_url(world.invitation_id))
    body = text(ask)
    assert ask.status_code == 200
    assert f"Remove 2 people who joined through invitation <code>{short_code(world.code)}</code>?" in body
    assert "Mia <small>(mia@example.com)</small>" in body and "Max <small>(max@example.com)</small>" in body
    assert f"Ada <small>(ada@example.com)</small> {PROMOTED}" in body
    assert f"Oli <small>(oli@example.com)</small> {KEPT_OWNER}" in body
    assert "The invitation is revoked too" in body
    assert 'name="confirm" value="yes"' in body
    # Asking changed nothing.
    assert load(app, world.invitation_id).revoked_at is None
    assert "Mia" in roles(app, world.company_id)

    done = client.post(remove_url(world.invitation_id), data={"confirm": "yes"})
    assert done.status_code == 302
    assert done.headers["Location"] == f"/dashboard/company/invitations/{world.invitation_id}/redemptions"
    after = text(client.get(done.headers["Location"]))
    assert "Removed 2 people who joined through invitation" in after
    assert len(re.findall(r"no longer a member", after)) == 3  # Mia, Max, and Rex before them
    assert "Remove everyone who joined" not in after  # nobody left to remove
    assert load(app, world.invitation_id).revoked_at is not None


def test_nobody_to_remove_offers_no_button(app, make):
    company, owner = make.company("Acme", owner_email="boss@example.com")
    with app.app_context():
        invitation = invitations.create(
            company.id, db.session.get(User, owner.id), invitations.parse_new_invitation(None, 2, 7)
        )
        code, invitation_id = invitation.code, invitation.id
    ada = join(app, make, code, "Ada")
    set_role(app, company.id, ada, Role.ADMIN)
    client = signed_in(app, "boss@example.com")
    body = text(client.get(f"/dashboard/company/invitations/{invitation_id}/redemptions", headers=HX))
    assert "Ada" in body and "Remove everyone" not in body


def test_members_may_not_and_another_companys_invitation_is_not_found(app, make, world):
    company = db_company(app, world.company_id)
    make.user("mo@example.com", company=company, role=Role.MEMBER)
    other, _ = make.company("Globex", owner_email="g@example.com")
    before = roles(app, world.company_id)
    member = signed_in(app, "mo@example.com")
    assert member.post(remove_url(world.invitation_id), data={"confirm": "yes"}).status_code == 403
    assert member.post(api_url(world.invitation_id)).status_code == 403
    outsider = signed_in(app, "g@example.com")
    assert outsider.post(remove_url(world.invitation_id), data={"confirm": "yes"}, headers=HX).status_code == 404
    outsider_api = app.test_client()
    api_login(outsider_api, "g@example.com")
    assert outsider_api.post(api_url(world.invitation_id)).status_code == 404
    assert roles(app, world.company_id) == before
    assert load(app, world.invitation_id).revoked_at is None
    assert events(app, "invitation.revoke") == []


def db_company(app, company_id):
    with app.app_context():
        company = db.session.get(Company, company_id)
        db.session.expunge(company)
        return company


# --- the API ------------------------------------------------------------------------------


def test_api_answers_who_was_removed_and_who_was_kept_and_why(app, world):
    client = app.test_client()
    api_login(client, "boss@example.com")
    response = client.post(api_url(world.invitation_id))
    assert response.status_code == 200
    body = response.get_json()
    u = world.users
    assert body["removed"] == [
        {"userId": u["Mia"], "name": "Mia", "email": "mia@example.com", "role": "MEMBER"},
        {"userId": u["Max"], "name": "Max", "email": "max@example.com", "role": "MEMBER"},
    ]
    assert body["kept"] == [
        {"userId": u["Ada"], "name": "Ada", "email": "ada@example.com", "role": "ADMIN", "reason": PROMOTED},
        {"userId": u["Oli"], "name": "Oli", "email": "oli@example.com", "role": "OWNER", "reason": KEPT_OWNER},
    ]
    assert body["invitation"]["id"] == world.invitation_id
    assert body["invitation"]["status"] == "REVOKED" and body["invitation"]["revokedAt"] is not None
    assert body["invitation"]["usedCount"] == 5
    # The removed member's session ended with the removal.
    mia = app.test_client()
    api_login(mia, "mia@example.com")  # signs in again: the account is still there
    assert roles(app, world.company_id).get("Mia") is None


def test_api_removal_ends_the_removed_members_sessions(app, world):
    mia = app.test_client()
    api_login(mia, "mia@example.com")
    assert mia.get("/api/companies/invitations").status_code == 403  # a member: signed in
    boss = app.test_client()
    api_login(boss, "boss@example.com")
    assert boss.post(api_url(world.invitation_id)).status_code == 200
    assert mia.get("/api/companies/invitations").status_code == 401  # signed out
    assert boss.get("/api/companies/invitations").status_code == 200


# --- a promotion racing the removal ---------------------------------------------------


def test_a_member_promoted_while_the_removal_runs_is_kept(app, world):
    """The promotion's UPDATE holds Max's row when the removal starts; it commits a moment
    later, while the removal waits for the row (PostgreSQL) or the write lock (SQLite).
    The DELETE judges the role it finds then: Max is kept, as promoted; Mia is removed."""
    updated, commit_at, done_at, result = threading.Event(), [], [], []

    def promote():
        with app.app_context():
            with db.engine.connect() as connection:
                with connection.begin():
                    connection.execute(
                        sa.update(Membership)
                        .where(Membership.company_id == world.company_id, Membership.user_id == world.users["Max"])
                        .values(role=Role.ADMIN.value)
                    )
                    updated.set()
                    time.sleep(0.5)  # the removal starts meanwhile, and waits
                    commit_at.append(time.monotonic())

    def remove():
        updated.wait(10)
        with app.app_context():
            removal = invitations.remove_members(
                db.session.get(Invitation, world.invitation_id), db.session.get(User, world.owner_id), Role.OWNER
            )
            result.append(([j.name for j in removal.removed], [(j.name, j.kept_because) for j in removal.kept]))
            done_at.append(time.monotonic())
            db.session.remove()

    threads = [threading.Thread(target=promote), threading.Thread(target=remove)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert result == [(["Mia"], [("Max", PROMOTED), ("Ada", PROMOTED), ("Oli", KEPT_OWNER)])]
    assert done_at[0] > commit_at[0]  # the removal really waited for the promotion
    assert roles(app, world.company_id) == {"Acme Owner": "OWNER", "Max": "ADMIN", "Ada": "ADMIN", "Oli": "OWNER"}
    assert [subject for _, _, subject in events(app, "member.remove")] == [world.users["Rex"], world.users["Mia"]]


def test_an_accept_racing_the_removal_is_removed_with_the_others(app, make, monkeypatch):
    """Zoe's accept has used a place and holds the invitation's row (or SQLite's write lock)
    when the removal starts: the removal's revoke waits for it, and its DELETE then sees
    Zoe's membership, so Zoe is removed too. Nobody gets in through the link afterwards."""
    company, owner = make.company("Acme")
    with app.app_context():
        invitation = invitations.create(
            company.id, db.session.get(User, owner.id), invitations.parse_new_invitation(None, 5, 7)
        )
        code, invitation_id = invitation.code, invitation.id
    join(app, make, code, "Mia")
    zoe = make.user("zoe@example.com", name="Zoe")
    used, commit_at, done_at, result, errors = threading.Event(), [], [], [], []
    real_commit = invitations._commit_keeping_loaded

    def commit_later():
        if threading.current_thread().name == "accept":
            used.set()
            time.sleep(0.5)  # the removal starts meanwhile, and waits
            commit_at.append(time.monotonic())
        real_commit()

    monkeypatch.setattr(invitations, "_commit_keeping_loaded", commit_later)

    def accept():
        with app.app_context():
            try:
                invitations.accept(code, db.session.get(User, zoe.id))
            except Exception as exc:  # reported below, with the outcome
                errors.append(exc)
            db.session.remove()

    def remove():
        used.wait(10)
        with app.app_context():
            removal = invitations.remove_members(
                db.session.get(Invitation, invitation_id), db.session.get(User, owner.id), Role.OWNER
            )
            result.append([j.name for j in removal.removed])
            done_at.append(time.monotonic())
            db.session.remove()

    threads = [threading.Thread(target=accept, name="accept"), threading.Thread(target=remove, name="remove")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and result == [["Mia", "Zoe"]]
    assert done_at[0] > commit_at[0]  # the removal really waited for the accept
    assert roles(app, company.id) == {"Acme Owner": "OWNER"}
    assert load(app, invitation_id).used_count == 2 and load(app, invitation_id).revoked_at is not None
    late = make.user("late@example.com")
    with app.app_context(), pytest.raises(InvitationRefused) as refused:
        invitations.accept(code, db.session.get(User, late.id))
    assert refused.value.reason is Refusal.REVOKED


def test_on_a_revoked_invitation_the_dialog_does_not_promise_a_revoke(app, world):
    with app.app_context():
        db.session.execute(
            sa.update(Invitation).where(Invitation.id == world.invitation_id).values(revoked_at=utcnow())
        )
        db.session.commit()
    client = signed_in(app, "boss@example.com")
    body = text(client.get(f"/dashboard/company/invitations/{world.invitation_id}/redemptions", headers=HX))
    assert (
        f'Remove 2 people who joined through invitation {short_code(world.code)} from Acme? They lose access at once."'
        in body
    )
    ask = text(client.post(remove_url(world.invitation_id)))
    assert "Remove 2 people" in ask and "The invitation is revoked too" not in ask
    done = client.post(remove_url(world.invitation_id), data={"confirm": "yes"}, headers=HX)
    assert "Removed 2 people" in text(done) and "The invitation is revoked" not in text(done)


def test_the_role_each_use_granted_decides_not_the_invitations_role_now(app, make):
    """Ann joined a Member invitation and was made Admin; the invitation was edited to grant
    Admin afterwards; Bea joined it as Admin then. The removal keeps Ann (promoted since her
    use) and removes Bea (an Admin by her own use)."""
    company, owner = make.company("Acme")
    with app.app_context():
        boss = db.session.get(User, owner.id)
        invitation = invitations.create(company.id, boss, invitations.parse_new_invitation(None, 3, 7))
        code, invitation_id = invitation.code, invitation.id
    ann = join(app, make, code, "Ann")
    set_role(app, company.id, ann, Role.ADMIN)
    with app.app_context():
        invitations.edit(
            db.session.get(Invitation, invitation_id),
            db.session.get(User, owner.id),
            Role.OWNER,
            invitations.parse_invitation_edit(role="ADMIN"),
        )
    join(app, make, code, "Bea")
    with app.app_context():
        plan = invitations.removal_plan(db.session.get(Invitation, invitation_id), Role.OWNER)
        assert ([j.name for j in plan.removed], plan.kept_reasons) == (["Bea"], {ann: PROMOTED})
        result = invitations.remove_members(
            db.session.get(Invitation, invitation_id), db.session.get(User, owner.id), Role.OWNER
        )
        assert [j.name for j in result.removed] == ["Bea"]
        assert [(j.name, j.kept_because) for j in result.kept] == [("Ann", PROMOTED)]
    assert roles(app, company.id) == {"Acme Owner": "OWNER", "Ann": "ADMIN"}


def test_who_came_back_through_another_invitation_is_not_removed_through_the_first(app, make):
    """Ann joined through A, was removed, and joined again through B: removing who joined
    through A leaves her membership (it is B's) alone and does not count her."""
    company, owner = make.company("Acme")
    with app.app_context():
        boss = db.session.get(User, owner.id)
        first = invitations.create(company.id, boss, invitations.parse_new_invitation(None, 3, 7))
        second = invitations.create(company.id, boss, invitations.parse_new_invitation(None, 3, 7))
        first_id, first_code, second_code = first.id, first.code, second.code
    ann = join(app, make, first_code, "Ann")
    with app.app_context():
        membership = db.session.execute(
            sa.select(Membership).where(Membership.user_id == ann, Membership.company_id == company.id)
        ).scalar_one()
        accounts.remove_member(membership, db.session.get(User, owner.id))
        invitations.accept(second_code, db.session.get(User, ann))
        plan = invitations.removal_plan(db.session.get(Invitation, first_id), Role.OWNER)
        assert (plan.removed, plan.kept) == ([], [])
        result = invitations.remove_members(
            db.session.get(Invitation, first_id), db.session.get(User, owner.id), Role.OWNER
        )
        assert (result.removed, result.kept) == ([], [])
    assert roles(app, company.id) == {"Acme Owner": "OWNER", "Ann": "MEMBER"}
    assert events(app, "member.remove") == [(owner.id, None, ann)]


def test_who_used_it_says_why_someone_who_came_back_another_way_is_not_counted(app, make):
    """Ann joined through A, was removed, and joined again through B; Mia joined through A.
    A's "Who used it" shows Ann as a member and says why a removal through A does not count
    or remove her, in the card (htmx) and on the page, and the page that asks without
    JavaScript lists her as kept, with why. The count and the removal stay Mia's alone."""
    company, owner = make.company("Acme", owner_email="boss@example.com")
    with app.app_context():
        boss = db.session.get(User, owner.id)
        first = invitations.create(company.id, boss, invitations.parse_new_invitation(None, 3, 7))
        second = invitations.create(company.id, boss, invitations.parse_new_invitation(None, 3, 7))
        first_id, first_code, second_code = first.id, first.code, second.code
    ann = join(app, make, first_code, "Ann")
    with app.app_context():
        membership = db.session.execute(
            sa.select(Membership).where(Membership.user_id == ann, Membership.company_id == company.id)
        ).scalar_one()
        accounts.remove_member(membership, db.session.get(User, owner.id))
        invitations.accept(second_code, db.session.get(User, ann))
    join(app, make, first_code, "Mia")
    client = signed_in(app, "boss@example.com")
    who_used = f"/dashboard/company/invitations/{first_id}/redemptions"
    why = "a removal keeps them: left and joined again through another invitation, so they are not counted"
    card, page = text(client.get(who_used, headers=HX)), text(client.get(who_used))
    for body in (card, page):
        assert re.search(
            rf"Ann <small>\(ann@example.com\)</small>,\s*<time[^>]*>[^<]*</time>\s*<small[^>]*>{why}<", body
        )
        assert "no longer a member" not in body
        assert "Remove everyone who joined through this invitation (1)" in body
        assert "Remove 1 person who joined through invitation" in body
    assert "<html" not in card and "<html" in page

    ask = text(client.post(remove_url(first_id)))
    assert f"Remove 1 person who joined through invitation <code>{short_code(first_code)}</code>?" in ask
    assert "Mia <small>(mia@example.com)</small>" in ask
    assert (
        "Ann <small>(ann@example.com)</small> left and joined again through another invitation, "
        "so they are not counted" in ask
    )

    done = client.post(remove_url(first_id), data={"confirm": "yes"})
    assert done.status_code == 302
    assert roles(app, company.id) == {"Acme Owner": "OWNER", "Ann": "MEMBER"}
    after = text(client.get(who_used))
    assert "Removed 1 person who joined through invitation" in after
    assert "Mia <small>(mia@example.com)</small>" in after and len(re.findall("no longer a member", after)) == 1
    assert why in after and "Remove everyone who joined" not in after
