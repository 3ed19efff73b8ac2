"""Editing an invitation: the domain's rules, the API's PATCH and the dashboard's click-to-edit.

Each rule is checked where a user meets it (status, message, fragment or page) and in what
the database holds afterwards (the row, its version, the audit trail).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from invites import invitations
from invites.audit import Action
from invites.extensions import db
from invites.models import AuditEvent, Invitation, Membership, Redemption, Role, utcnow

from .api_helpers import ACCEPT, PAUSE_ALL, RESUME_ALL, api_login, edit_path
from .conftest import PASSWORD
from .factories import count, create_invitation

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"}
OWNER, ADMIN, MEMBER = "boss@acme.example", "ann@acme.example", "mia@acme.example"


@pytest.fixture
def acme(make):
    """Acme with an owner, an admin and a member; returns (company, owner)."""
    company, owner = make.company("Acme", owner_email=OWNER)
    make.user(ADMIN, company=company, role=Role.ADMIN)
    make.user(MEMBER, company=company, role=Role.MEMBER)
    return company, owner


def signed_in(app, email: str):
    client = app.test_client()
    api_login(client, email)
    return client


def row(app, invitation_id: int) -> dict:
    """The stored columns of one invitation."""
    with app.app_context():
        inv = db.session.get(Invitation, invitation_id)
        return {c.key: getattr(inv, c.key) for c in Invitation.__mapper__.column_attrs}


def edits(app, invitation_id: int) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEvent).where(
                    AuditEvent.invitation_id == invitation_id, AuditEvent.action == Action.EDIT.value
                )
            ).scalars()
        )


def accept_as(app, make, code: str):
    user = make.user()
    with app.app_context():
        invitations.accept(code, user)
    return user


def set_columns(app, invitation_id: int, **values) -> None:
    """Test setup only: put the row in a state the domain would not make directly."""
    with app.app_context():
        db.session.execute(sa.update(Invitation).where(Invitation.id == invitation_id).values(**values))
        db.session.commit()


# --- the rules, through the API ---------------------------------------------------------


def test_owner_edits_every_field_and_the_row_and_audit_trail_say_so(app, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    client = signed_in(app, OWNER)

    response = client.patch(
        edit_path(inv.id),
        json={"maxUses": 5, "expiresInDays": 10, "role": "admin", "allowedDomain": "Acme.COM", "label": " Sales "},
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()["invitation"]
    assert body["maxUses"] == 5 and body["remainingUses"] == 5 and body["status"] == "PENDING"
    assert body["version"] == 2
    stored = row(app, inv.id)
    assert stored["role"] == "ADMIN" and stored["allowed_domain"] == "acme.com" and stored["label"] == "Sales"
    assert stored["max_uses"] == 5 and stored["version"] == 2
    assert abs(stored["expires_at"] - (utcnow() + timedelta(days=10))) < timedelta(minutes=1)
    [event] = edits(app, inv.id)
    old_day = inv.expires_at.date().isoformat()
    new_day = stored["expires_at"].date().isoformat()
    assert event.detail == (
        f"max uses 3 → 5; expires {old_day} → {new_day}; role MEMBER → ADMIN; "
        "allowed domain none → acme.com; label none → Sales"
    )


def test_only_the_fields_sent_change_and_null_clears_domain_and_label(app, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=4)
    client = signed_in(app, OWNER)
    client.patch(edit_path(inv.id), json={"label": "Meetup", "allowedDomain": "acme.com"})
    before = row(app, inv.id)

    response = client.patch(edit_path(inv.id), json={"label": None, "maxUses": None})

    assert response.status_code == 200
    after = row(app, inv.id)
    assert after["label"] is None and after["allowed_domain"] == "acme.com"
    assert after["max_uses"] == 4 and after["expires_at"] == before["expires_at"]
    assert after["version"] == before["version"] + 1


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"maxUses": 0}, "maxUses", invitations.MAX_USES_ERROR),
        ({"maxUses": 101}, "maxUses", invitations.MAX_USES_ERROR),
        ({"maxUses": "5"}, "maxUses", invitations.MAX_USES_ERROR),
        ({"maxUses": 2.5}, "maxUses", invitations.MAX_USES_ERROR),
        ({"expiresInDays": 0}, "expiresInDays", invitations.EXPIRES_ERROR),
        ({"expiresInDays": 31}, "expiresInDays", invitations.EXPIRES_ERROR),
        ({"role": "OWNER"}, "role", invitations.ROLE_ERROR),
        ({"role": 3}, "role", invitations.ROLE_ERROR),
        ({"allowedDomain": "@acme.com"}, "allowedDomain", invitations.DOMAIN_ERROR),
        ({"label": "x" * 81}, "label", invitations.LABEL_ERROR),
        ({"label": "two\nlines"}, "label", invitations.LABEL_ERROR),
        ({"version": "one"}, "version", None),
    ],
)
def test_out_of_bounds_values_are_field_errors_and_change_nothing(app, acme, body, field, message):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    client = signed_in(app, OWNER)
    before, events = row(app, inv.id), count(app, AuditEvent)

    response = client.patch(edit_path(inv.id), json=body)

    assert response.status_code == 400
    fields = response.get_json()["fields"]
    assert list(fields) == [field]
    if message is not None:
        assert fields[field] == message
    assert row(app, inv.id) == before and count(app, AuditEvent) == events


@pytest.mark.parametrize("uses, days", [(1, 1), (100, 30)])
def test_the_bounds_themselves_are_accepted(app, acme, uses, days):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    response = signed_in(app, OWNER).patch(edit_path(inv.id), json={"maxUses": uses, "expiresInDays": days})
    assert response.status_code == 200
    assert row(app, inv.id)["max_uses"] == uses


def test_lowering_max_uses_to_the_uses_made_closes_it_and_raising_opens_it(app, make, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    accept_as(app, make, inv.code)
    accept_as(app, make, inv.code)
    client = signed_in(app, OWNER)

    response = client.patch(edit_path(inv.id), json={"maxUses": 2})

    body = response.get_json()["invitation"]
    assert response.status_code == 200
    assert body["status"] == "ACCEPTED" and body["remainingUses"] == 0
    assert row(app, inv.id)["status"] == "ACCEPTED"
    late = make.user("late@example.com")
    late_client = signed_in(app, "late@example.com")
    refused = late_client.post(ACCEPT, json={"code": inv.code})
    assert refused.status_code == 409 and refused.get_json()["error"] == invitations.Refusal.FULL.value

    # A fully used invitation can be given more places again.
    reopened = client.patch(edit_path(inv.id), json={"maxUses": 3})
    assert reopened.get_json()["invitation"]["status"] == "PENDING"
    assert row(app, inv.id)["status"] == "PENDING"
    assert late_client.post(ACCEPT, json={"code": inv.code}).status_code == 200
    assert late.id  # joined through the reopened place
    assert row(app, inv.id)["used_count"] == 3 and row(app, inv.id)["status"] == "ACCEPTED"


def test_max_uses_below_the_uses_made_is_refused_with_the_count(app, make, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    accept_as(app, make, inv.code)
    accept_as(app, make, inv.code)
    before = row(app, inv.id)

    response = signed_in(app, OWNER).patch(edit_path(inv.id), json={"maxUses": 1})

    assert response.status_code == 400
    assert response.get_json()["fields"] == {"maxUses": invitations.USED_MORE_ERROR.format(used=2)}
    assert "already been used 2 times" in response.get_json()["fields"]["maxUses"]
    assert row(app, inv.id) == before and edits(app, inv.id) == []


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_revoked_or_expired_invitation_cannot_be_edited(app, acme, state):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3, **{state: True})
    before = row(app, inv.id)

    response = signed_in(app, OWNER).patch(edit_path(inv.id), json={"maxUses": 5, "expiresInDays": 20})

    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == invitations.Refusal[state.upper()].value
    assert body["invitation"]["id"] == inv.id and body["invitation"]["status"] == state.upper()
    assert row(app, inv.id) == before and edits(app, inv.id) == []


def test_a_stale_version_is_refused_with_the_invitation_as_it_is_now(app, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    owner_client, admin_client = signed_in(app, OWNER), signed_in(app, ADMIN)
    assert owner_client.patch(edit_path(inv.id), json={"label": "First", "version": 1}).status_code == 200

    response = admin_client.patch(edit_path(inv.id), json={"label": "Second", "maxUses": 9, "version": 1})

    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == invitations.Refusal.CHANGED_MEANWHILE.value
    assert body["invitation"]["version"] == 2 and body["invitation"]["maxUses"] == 3
    stored = row(app, inv.id)
    assert stored["label"] == "First" and stored["max_uses"] == 3 and stored["version"] == 2
    assert len(edits(app, inv.id)) == 1
    # With the version it was shown, the same edit goes through.
    retried = admin_client.patch(edit_path(inv.id), json={"label": "Second", "version": 2})
    assert retried.status_code == 200 and row(app, inv.id)["label"] == "Second"


def test_without_a_version_the_last_edit_wins(app, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    client = signed_in(app, OWNER)
    client.patch(edit_path(inv.id), json={"label": "First"})
    assert client.patch(edit_path(inv.id), json={"label": "Second"}).status_code == 200
    assert row(app, inv.id)["label"] == "Second" and row(app, inv.id)["version"] == 3


def test_an_edit_that_changes_nothing_writes_nothing(app, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    client = signed_in(app, OWNER)
    client.patch(edit_path(inv.id), json={"label": "Sales"})
    before, events = row(app, inv.id), count(app, AuditEvent)

    response = client.patch(edit_path(inv.id), json={"maxUses": 3, "label": "Sales", "role": "MEMBER", "version": 2})

    assert response.status_code == 200 and response.get_json()["invitation"]["version"] == 2
    assert row(app, inv.id) == before and count(app, AuditEvent) == events


@pytest.mark.parametrize(
    "start_role, body",
    [("MEMBER", {"role": "ADMIN"}), ("ADMIN", {"label": "Leads"}), ("ADMIN", {"role": "MEMBER"})],
    ids=["make-admin", "touch-admin-invitation", "demote-admin-invitation"],
)
def test_an_admin_cannot_make_or_edit_an_invitation_that_grants_admin(app, acme, start_role, body):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    set_columns(app, inv.id, role=start_role)
    before, events = row(app, inv.id), count(app, AuditEvent)

    response = signed_in(app, ADMIN).patch(edit_path(inv.id), json=body)

    assert response.status_code == 403
    assert response.get_json() == {
        "error": invitations.ADMIN_ROLE_ERROR,
        "fields": {"role": invitations.ADMIN_ROLE_ERROR},
    }
    assert row(app, inv.id) == before and count(app, AuditEvent) == events
    # The owner may.
    assert signed_in(app, OWNER).patch(edit_path(inv.id), json=body).status_code == 200


def test_an_admin_edits_a_member_invitation(app, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    response = signed_in(app, ADMIN).patch(edit_path(inv.id), json={"maxUses": 7, "label": "Ops"})
    assert response.status_code == 200 and row(app, inv.id)["label"] == "Ops"


def test_a_domain_on_an_invitation_for_one_address_is_refused(app, acme):
    company, owner = acme
    inv = create_invitation(app, company, owner, email="john@example.com")
    before = row(app, inv.id)

    response = signed_in(app, OWNER).patch(edit_path(inv.id), json={"allowedDomain": "example.com"})

    assert response.status_code == 400
    assert response.get_json()["fields"] == {"allowedDomain": invitations.DOMAIN_WITH_EMAIL_ERROR}
    assert row(app, inv.id) == before


@pytest.mark.parametrize("who, status", [("member", 403), ("other_owner", 404)])
def test_a_member_or_another_companys_owner_changes_nothing(app, make, acme, who, status):
    company, owner = acme
    make.company("Globex", owner_email="gus@globex.example")
    inv = create_invitation(app, company, owner, max_uses=3)
    email = MEMBER if who == "member" else "gus@globex.example"
    before, events = row(app, inv.id), count(app, AuditEvent)

    response = signed_in(app, email).patch(edit_path(inv.id), json={"maxUses": 9, "label": "Mine"})

    assert response.status_code == status
    assert row(app, inv.id) == before and count(app, AuditEvent) == events

    page = app.test_client()
    assert page.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    form = {
        "max_uses": "9",
        "expires_in_days": "",
        "role": "MEMBER",
        "allowed_domain": "",
        "label": "x",
        "version": "1",
    }
    assert page.get(f"/dashboard/company/invitations/{inv.id}/edit").status_code == status
    assert page.post(f"/dashboard/company/invitations/{inv.id}/edit", data=form).status_code == status
    assert row(app, inv.id) == before


# --- races -------------------------------------------------------------------------------


def race(*calls):
    """Run the calls in threads that start together; their answers, in order."""
    start = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def run(i, call):
        start.wait()
        answers[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_two_admins_editing_the_same_version_at_once_one_wins_cleanly(app, acme):
    company, owner = acme
    for _ in range(3):
        inv = create_invitation(app, company, owner, max_uses=3)
        owner_client, admin_client = signed_in(app, OWNER), signed_in(app, ADMIN)

        first, second = race(
            lambda: owner_client.patch(edit_path(inv.id), json={"maxUses": 10, "label": "Owner", "version": 1}),
            lambda: admin_client.patch(edit_path(inv.id), json={"maxUses": 20, "label": "Admin", "version": 1}),
        )

        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 409], (first.get_json(), second.get_json())
        winner, loser = (first, second) if first.status_code == 200 else (second, first)
        won = winner.get_json()["invitation"]
        stored = row(app, inv.id)
        assert stored["version"] == 2 and stored["max_uses"] == won["maxUses"]
        assert stored["label"] == ("Owner" if won["maxUses"] == 10 else "Admin")
        assert loser.get_json()["error"] == invitations.Refusal.CHANGED_MEANWHILE.value
        assert loser.get_json()["invitation"]["maxUses"] == won["maxUses"]
        assert len(edits(app, inv.id)) == 1


def test_lowering_max_uses_while_someone_accepts_has_exactly_one_of_two_outcomes(app, make, acme):
    company, owner = acme
    seen = set()
    for round_ in range(4):
        inv = create_invitation(app, company, owner, max_uses=3)
        accept_as(app, make, inv.code)
        joiner = f"joiner{round_}@example.com"
        make.user(joiner)
        owner_client, joiner_client = signed_in(app, OWNER), signed_in(app, joiner)

        edited, accepted = race(
            lambda: owner_client.patch(edit_path(inv.id), json={"maxUses": 1}),
            lambda: joiner_client.post(ACCEPT, json={"code": inv.code}),
        )

        stored = row(app, inv.id)
        assert stored["used_count"] <= stored["max_uses"]  # the CHECK held, and so did the rule
        if edited.status_code == 200:
            # The edit came first: the invitation closed at one use, the accept found it full.
            assert accepted.status_code == 409
            assert accepted.get_json()["error"] == invitations.Refusal.FULL.value
            assert (stored["max_uses"], stored["used_count"], stored["status"]) == (1, 1, "ACCEPTED")
            seen.add("edit first")
        else:
            # The accept came first: two uses made, so one is no longer a maximum anyone may set.
            assert accepted.status_code == 200, accepted.get_json()
            assert edited.status_code == 400
            assert edited.get_json()["fields"] == {"maxUses": invitations.USED_MORE_ERROR.format(used=2)}
            assert (stored["max_uses"], stored["used_count"], stored["status"]) == (3, 2, "PENDING")
            seen.add("accept first")
    assert seen  # at least one round ran to one of the two outcomes


def test_an_edit_judged_on_a_row_that_moved_underneath_reads_why_back(app, make, acme):
    """The UPDATE decides, not what the request read: a use made after the read is seen."""
    company, owner = acme
    inv = create_invitation(app, company, owner, max_uses=3)
    with app.app_context():
        loaded = db.session.get(Invitation, inv.id)
        actor = db.session.get(type(owner), owner.id)
        changes = invitations.parse_invitation_edit(max_uses=1)
        # Someone joins between this request's read and its UPDATE (another connection).
        with db.engine.begin() as other:
            other.execute(sa.update(Invitation).where(Invitation.id == inv.id).values(used_count=2))
        with pytest.raises(invitations.InvalidInvitation) as refused:
            invitations.edit(loaded, actor, Role.OWNER, changes)
        assert refused.value.errors == {"max_uses": invitations.USED_MORE_ERROR.format(used=2)}
    assert row(app, inv.id)["max_uses"] == 3 and edits(app, inv.id) == []


# --- the input type ------------------------------------------------------------------------


def test_parse_invitation_edit_keeps_what_is_not_given_and_clears_what_is_emptied():
    UNCHANGED = invitations.UNCHANGED
    assert invitations.parse_invitation_edit().given() == {}
    edit = invitations.parse_invitation_edit(max_uses="", expires_in_days=None, role=" ", label="", allowed_domain=None)
    # Empty numbers and role: unchanged; an empty label or domain: cleared.
    assert edit.max_uses is UNCHANGED and edit.expires_in_days is UNCHANGED and edit.role is UNCHANGED
    assert edit.given() == {"label": None, "allowed_domain": None}
    edit = invitations.parse_invitation_edit(max_uses="007", role="admin", allowed_domain="Acme.COM", label=" Ops ")
    assert edit.given() == {"max_uses": 7, "role": Role.ADMIN, "allowed_domain": "acme.com", "label": "Ops"}


def test_parse_invitation_edit_names_every_bad_field_at_once():
    with pytest.raises(invitations.InvalidInvitation) as refused:
        invitations.parse_invitation_edit(max_uses=True, expires_in_days="3.5", role="OWNER", label="a\tb")
    assert refused.value.errors == {
        "max_uses": invitations.MAX_USES_ERROR,
        "expires_in_days": invitations.EXPIRES_ERROR,
        "role": invitations.ROLE_ERROR,
        "label": invitations.LABEL_ERROR,
    }


def test_edit_accepts_and_pause_all_racing_end_in_one_of_the_serial_outcomes(app, make, acme):
    """Issue 13: an owner lowers max uses from 4 to 2, an admin pauses all invitations and
    three people press Join, all at once. Whatever the order the database gave them, the
    answers and the rows agree with one serial order of the five:

    - every 200 from Join is one use, one redemption and one membership; the rest are
      refused as paused or, once the edit closed it, as full;
    - the edit either came before the third use (max uses 2) or after it and was refused
      with the number of uses made (max uses 4); uses never pass max uses;
    - after resume all, the invitation's own state holds: it admits again if not full.
    """
    company, owner = acme
    outcomes = set()
    for round_ in range(4):
        inv = create_invitation(app, company, owner, max_uses=4)
        joiners = [f"race{round_}-{n}@example.com" for n in range(3)]
        for email in joiners:
            make.user(email)
        owner_client, admin_client = signed_in(app, OWNER), signed_in(app, ADMIN)
        clients = [signed_in(app, email) for email in joiners]

        edited, paused, *joined = race(
            lambda: owner_client.patch(edit_path(inv.id), json={"maxUses": 2}),
            lambda: admin_client.post(PAUSE_ALL),
            *[(lambda c: lambda: c.post(ACCEPT, json={"code": inv.code}))(c) for c in clients],
        )

        stored = row(app, inv.id)
        used = stored["used_count"]
        admitted = [r for r in joined if r.status_code == 200]
        refused = {r.get_json()["error"] for r in joined if r.status_code != 200}
        assert paused.status_code == 200 and paused.get_json()["invitationsPaused"] is True
        assert {r.status_code for r in joined} <= {200, 409}
        assert refused <= {invitations.Refusal.PAUSED.value, invitations.Refusal.FULL.value}
        assert used == len(admitted) <= stored["max_uses"]
        with app.app_context():
            redeemed = db.session.scalar(
                sa.select(sa.func.count()).select_from(Redemption).where(Redemption.invitation_id == inv.id)
            )
            members = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Membership)
                .where(Membership.invitation_id == inv.id, Membership.company_id == company.id)
            )
        assert redeemed == members == used
        if edited.status_code == 200:
            assert stored["max_uses"] == 2 and used <= 2
            outcomes.add("edited")
        else:
            assert edited.status_code == 400 and stored["max_uses"] == 4
            assert edited.get_json()["fields"] == {"maxUses": invitations.USED_MORE_ERROR.format(used=3)}
            assert used == 3
            outcomes.add("edit refused")
        if invitations.Refusal.FULL.value in refused:
            assert stored["max_uses"] == used == 2
        assert stored["status"] == ("ACCEPTED" if used == stored["max_uses"] else "PENDING")
        assert admin_client.post(RESUME_ALL).status_code == 200
        assert (row(app, inv.id)["is_active"], row(app, inv.id)["version"]) == (
            True,
            2 if edited.status_code == 200 else 1,
        )
    assert outcomes
