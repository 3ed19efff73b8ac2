"""The invitation rules in ``invites.invitations``, without HTTP: input, states, refusals, changes."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from invites import accounts, invitations
from invites.extensions import db
from invites.invitations import (
    EMAIL_ERROR,
    EXPIRES_ERROR,
    MAX_USES_ERROR,
    InvalidInvitation,
    InvitationRefused,
    NewInvitation,
    Refusal,
    State,
)
from invites.models import AuditEvent, Invitation, Membership, Redemption, Role, utcnow

from .invitation_helpers import invitation_row, new_invitation, snapshot, used_count

CLOSED = ["revoked", "expired", "full", "paused"]
ORDER = {"revoked": Refusal.REVOKED, "expired": Refusal.EXPIRED, "full": Refusal.FULL, "paused": Refusal.PAUSED}
# Every non-empty combination of the four closing conditions, with the refusal that must win.
COMBINATIONS = [
    pytest.param(set(combo), ORDER[combo[0]], id="+".join(combo))
    for n in range(1, 5)
    for combo in itertools.combinations(CLOSED, n)
]


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def refused(call, *args, **kwargs) -> InvitationRefused:
    with pytest.raises(InvitationRefused) as info:
        call(*args, **kwargs)
    return info.value


def lying_once(real):
    """Find nothing wrong on the first call, then tell the truth: a check that raced a commit."""
    calls = []

    def wrapper(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    return wrapper


@pytest.fixture
def acme(make):
    """Acme and its owner."""
    return make.company("Acme", owner_email="boss@example.com")


# --- input ---------------------------------------------------------------------


def test_defaults_are_a_general_single_use_invitation_for_seven_days():
    assert invitations.parse_new_invitation(None, None, None) == NewInvitation(None, 1, 7)
    assert invitations.parse_new_invitation("", " ", "") == NewInvitation(None, 1, 7)


@pytest.mark.parametrize(
    "max_uses, days, expected",
    [
        (1, 1, (1, 1)),
        (100, 30, (100, 30)),
        (" 5 ", "14", (5, 14)),
        ("007", "07", (7, 7)),
        # However many leading zeros: the message promises "a whole number from 1 to 100".
        ("0000001", "0" * 5000 + "30", (1, 30)),
    ],
)
def test_whole_numbers_within_limits_are_accepted(max_uses, days, expected):
    new = invitations.parse_new_invitation(None, max_uses, days)
    assert (new.max_uses, new.expires_in_days) == expected


@pytest.mark.parametrize(
    "raw",
    [
        0,
        101,
        -1,
        "0",
        "101",
        "-1",
        "1.5",
        1.5,
        2.0,
        True,
        False,
        "abc",
        "1e2",
        "５",
        "1" + "0" * 5000,
        "0" * 5000,
        [],
        {},
    ],
)
def test_max_uses_outside_1_to_100_or_not_whole_is_refused(raw):
    with pytest.raises(InvalidInvitation) as info:
        invitations.parse_new_invitation(None, raw, 7)
    assert info.value.errors == {"max_uses": MAX_USES_ERROR}


@pytest.mark.parametrize("raw", [0, 31, "31", "0", "7.5", True, "seven"])
def test_expiry_outside_1_to_30_days_is_refused(raw):
    with pytest.raises(InvalidInvitation) as info:
        invitations.parse_new_invitation(None, 1, raw)
    assert info.value.errors == {"expires_in_days": EXPIRES_ERROR}


def test_target_email_is_normalised():
    assert invitations.parse_new_invitation("  John@Example.COM ", 1, 7).email == "john@example.com"


@pytest.mark.parametrize(
    "raw", ["not-an-email", "a@", "@example.com", "a b@example.com", 42, "x" * 250 + "@example.com"]
)
def test_invalid_target_email_is_refused(raw):
    with pytest.raises(InvalidInvitation) as info:
        invitations.parse_new_invitation(raw, 1, 7)
    assert info.value.errors == {"email": EMAIL_ERROR}


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(InvalidInvitation) as info:
        invitations.parse_new_invitation("nope", 0, 99)
    assert set(info.value.errors) == {"email", "max_uses", "expires_in_days"}


# --- small rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    "email, masked",
    [("john@example.com", "j***@example.com"), ("  John@Example.COM ", "j***@example.com"), ("j@x.io", "j***@x.io")],
)
def test_mask_email_keeps_first_letter_and_domain(email, masked):
    assert invitations.mask_email(email) == masked


def test_remaining_uses_never_negative():
    assert invitations.remaining_uses(Invitation(max_uses=5, used_count=2)) == 3
    assert invitations.remaining_uses(Invitation(max_uses=5, used_count=5)) == 0
    assert invitations.remaining_uses(Invitation(max_uses=1, used_count=3)) == 0


@pytest.mark.parametrize("days", [1, 7, 30])
def test_expiry_is_created_at_plus_days(app_ctx, acme, days):
    company, owner = acme
    invitation = invitations.create(company.id, owner, NewInvitation(None, 1, days))
    assert invitation.expires_at - invitation.created_at == timedelta(days=days)


def test_state_shows_expired_without_any_job(app_ctx, acme):
    company, owner = acme
    code = new_invitation(app_ctx, company, owner, expired=True)
    invitation = invitations.find_by_code(code)
    assert invitations.state(invitation) is State.EXPIRED
    assert invitations.refusal(invitation) is Refusal.EXPIRED


# --- check: the order of refusals ------------------------------------------------


@pytest.mark.parametrize("code", ["", "x" * 65, "abc/def", "abc def", "ééé", "no-such-code", None, 123])
def test_unknown_or_malformed_code_is_not_found(app_ctx, make, code):
    user = make.user()
    assert refused(invitations.check, code).reason is Refusal.NOT_FOUND
    assert refused(invitations.accept, code, user).message == "Invitation not found"


@pytest.mark.parametrize("flags, expected", COMBINATIONS)
def test_first_refusal_in_the_documented_order_wins(app_ctx, acme, make, flags, expected):
    company, owner = acme
    user = make.user()
    code = new_invitation(app_ctx, company, owner, max_uses=2, **{f: True for f in flags})
    before = snapshot(app_ctx, code)
    assert refused(invitations.check, code).reason is expected
    assert refused(invitations.check, code, user).reason is expected
    assert refused(invitations.accept, code, user).message == expected.value
    assert snapshot(app_ctx, code) == before


@pytest.mark.parametrize("flags, expected", COMBINATIONS)
def test_the_database_gives_the_same_reason_when_the_update_refuses(app_ctx, acme, make, monkeypatch, flags, expected):
    """The page's read said yes (stale), the conditional UPDATE said no: the message still follows the order."""
    company, owner = acme
    user = make.user()
    code = new_invitation(app_ctx, company, owner, max_uses=2, **{f: True for f in flags})
    before = snapshot(app_ctx, code)
    monkeypatch.setattr(invitations, "refusal", lambda invitation, now=None: None)
    assert refused(invitations.accept, code, user).reason is expected
    assert snapshot(app_ctx, code) == before


def test_email_match_ignores_case_and_surrounding_spaces(app_ctx, acme, make):
    company, owner = acme
    john = make.user("john@example.com")
    code = new_invitation(app_ctx, company, owner, raw_email="  John@Example.COM ")
    assert invitations.check(code, john).code == code
    invitations.accept(code, john)
    assert used_count(app_ctx, code) == 1


def test_wrong_account_is_refused_and_consumes_nothing(app_ctx, acme, make):
    company, owner = acme
    jane = make.user("jane@example.com")
    code = new_invitation(app_ctx, company, owner, email="john@example.com")
    before = snapshot(app_ctx, code)
    assert refused(invitations.check, code, jane).message == "This invitation was sent to a different email address"
    assert refused(invitations.accept, code, jane).reason is Refusal.WRONG_ACCOUNT
    assert snapshot(app_ctx, code) == before
    # Anyone may look at it; only accepting is refused.
    assert invitations.check(code).code == code


def test_invitation_refusals_come_before_wrong_account(app_ctx, acme, make):
    company, owner = acme
    jane = make.user("jane@example.com")
    code = new_invitation(app_ctx, company, owner, email="john@example.com", paused=True)
    assert refused(invitations.check, code, jane).reason is Refusal.PAUSED


def test_wrong_account_comes_before_already_member(app_ctx, acme):
    company, owner = acme  # boss@example.com, already the owner
    code = new_invitation(app_ctx, company, owner, email="john@example.com")
    assert refused(invitations.check, code, owner).reason is Refusal.WRONG_ACCOUNT


def test_already_member_is_refused_with_company_name_and_consumes_nothing(app_ctx, acme):
    company, owner = acme
    code = new_invitation(app_ctx, company, owner, max_uses=5)
    before = snapshot(app_ctx, code)
    assert refused(invitations.accept, code, owner).message == "You are already a member of Acme"
    assert snapshot(app_ctx, code) == before


# --- accept ----------------------------------------------------------------------


def test_seed_max_uses_flow_pending_until_full_then_accepted(app_ctx, acme, make):
    company, owner = acme
    code = new_invitation(app_ctx, company, owner, max_uses=3)
    users = [make.user() for _ in range(4)]
    for n, user in enumerate(users[:3], start=1):
        acceptance = invitations.accept(code, user)
        assert acceptance.company.name == "Acme"
        assert acceptance.membership.role == Role.MEMBER.value
        row = invitation_row(app_ctx, code)
        assert (row["used_count"], row["status"]) == (n, "PENDING" if n < 3 else "ACCEPTED")
    assert refused(invitations.accept, code, users[3]).message == (
        "This invitation has reached its maximum number of uses"
    )
    assert used_count(app_ctx, code) == 3


def test_accept_writes_redemption_membership_and_audit_together(app_ctx, acme, make):
    company, owner = acme
    user = make.user()
    code = new_invitation(app_ctx, company, owner, max_uses=2)
    invitations.accept(code, user)
    invitation_id = invitation_row(app_ctx, code)["id"]
    assert count(Redemption, Redemption.invitation_id == invitation_id, Redemption.user_id == user.id) == 1
    member = db.session.execute(
        sa.select(Membership).where(Membership.user_id == user.id, Membership.company_id == company.id)
    ).scalar_one()
    assert member.role == "MEMBER"
    event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "invitation.accept")).scalar_one()
    assert (event.actor_id, event.subject_user_id, event.invitation_id) == (user.id, user.id, invitation_id)
    assert [r.user_id for r in invitations.redemptions(invitation_id)] == [user.id]


def test_a_failure_after_the_update_gives_the_use_back(app_ctx, acme, monkeypatch):
    """The owner slips past the read-side check (as a racing request would); the UNIQUE stops them."""
    company, owner = acme
    code = new_invitation(app_ctx, company, owner, max_uses=5)
    before = snapshot(app_ctx, code)
    monkeypatch.setattr(invitations, "user_refusal", lying_once(invitations.user_refusal))
    assert refused(invitations.accept, code, owner).reason is Refusal.ALREADY_MEMBER
    assert snapshot(app_ctx, code) == before


def test_a_removed_member_cannot_use_the_same_invitation_again(app_ctx, acme, make, monkeypatch):
    company, owner = acme
    user = make.user()
    code = new_invitation(app_ctx, company, owner, max_uses=5)
    invitations.accept(code, user)
    membership = db.session.execute(sa.select(Membership).where(Membership.user_id == user.id)).scalar_one()
    accounts.remove_member(membership, owner)
    before = snapshot(app_ctx, code)
    assert refused(invitations.check, code, user).message == "You have already used this invitation"
    assert refused(invitations.accept, code, user).reason is Refusal.ALREADY_USED
    # Even when the read-side check is raced, the redemption's UNIQUE says the same.
    monkeypatch.setattr(invitations, "user_refusal", lying_once(invitations.user_refusal))
    assert refused(invitations.accept, code, user).reason is Refusal.ALREADY_USED
    assert snapshot(app_ctx, code) == before


def _expired_a_moment_ago(code):
    """Set expiry 200 ms in the past, inside the current whole second: what a clock without fractions misses."""
    now = utcnow()
    while not 300_000 <= now.microsecond < 700_000:
        time.sleep(0.05)
        now = utcnow()
    db.session.execute(
        sa.update(Invitation).where(Invitation.code == code).values(expires_at=now - timedelta(milliseconds=200))
    )
    db.session.commit()
    return now


@pytest.mark.parametrize("operation", ["accept", "pause"])
def test_expiry_is_judged_by_the_database_clock_to_the_fraction_of_a_second(
    app_ctx, acme, make, monkeypatch, operation
):
    company, owner = acme
    user = make.user()
    code = new_invitation(app_ctx, company, owner, max_uses=5)
    now = _expired_a_moment_ago(code)
    # The app server's clock is an hour behind, so only the database can say no.
    monkeypatch.setattr(invitations, "utcnow", lambda: now - timedelta(hours=1))
    before = snapshot(app_ctx, code)
    if operation == "accept":
        error = refused(invitations.accept, code, user)
    else:
        error = refused(invitations.set_active, invitations.find_by_code(code), owner, False, actor_role=Role.OWNER)
    assert error.reason is Refusal.EXPIRED
    assert snapshot(app_ctx, code) == before


# --- pause, start, revoke ----------------------------------------------------------


def test_pause_start_and_toggle_are_audited(app_ctx, acme):
    company, owner = acme
    code = new_invitation(app_ctx, company, owner)
    invitation = invitations.find_by_code(code)
    assert invitations.set_active(invitation, owner, False, actor_role=Role.OWNER).is_active is False
    assert (
        invitations.set_active(invitation, owner, False, actor_role=Role.OWNER).is_active is False
    )  # twice: still paused
    assert invitations.set_active(invitation, owner, True, actor_role=Role.OWNER).is_active is True
    assert invitations.set_active(invitation, owner, actor_role=Role.OWNER).is_active is False
    assert invitations.set_active(invitation, owner, actor_role=Role.OWNER).is_active is True
    actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    # The second pause changed nothing, so it left no row.
    assert actions == [
        "invitation.create",
        "invitation.pause",
        "invitation.start",
        "invitation.pause",
        "invitation.start",
    ]


def test_a_paused_invitation_is_refused_and_starts_again(app_ctx, acme, make):
    company, owner = acme
    user = make.user()
    code = new_invitation(app_ctx, company, owner, paused=True)
    assert refused(invitations.accept, code, user).message == "This invitation has been paused"
    invitations.set_active(invitations.find_by_code(code), owner, True, actor_role=Role.OWNER)
    invitations.accept(code, user)
    assert used_count(app_ctx, code) == 1


@pytest.mark.parametrize("flag", ["revoked", "expired", "full"])
def test_pause_is_refused_once_the_invitation_cannot_be_used(app_ctx, acme, flag):
    company, owner = acme
    code = new_invitation(app_ctx, company, owner, **{flag: True})
    before = snapshot(app_ctx, code)
    error = refused(invitations.set_active, invitations.find_by_code(code), owner, False, actor_role=Role.OWNER)
    assert error.reason is ORDER[flag]
    assert snapshot(app_ctx, code) == before


def test_revoke_is_for_good(app_ctx, acme, make):
    company, owner = acme
    user = make.user()
    code = new_invitation(app_ctx, company, owner, max_uses=3)
    invitation = invitations.revoke(invitations.find_by_code(code), owner)
    assert invitation.revoked_at is not None
    assert refused(invitations.accept, code, user).message == "This invitation has been revoked"
    assert refused(invitations.revoke, invitation, owner).reason is Refusal.REVOKED
    assert refused(invitations.set_active, invitation, owner, True, actor_role=Role.OWNER).reason is Refusal.REVOKED
    assert count(AuditEvent, AuditEvent.action == "invitation.revoke") == 1


@pytest.mark.parametrize("flags", [{"expired"}, {"paused"}, {"expired", "paused"}])
def test_expired_or_paused_invitations_can_still_be_revoked(app_ctx, acme, flags):
    company, owner = acme
    code = new_invitation(app_ctx, company, owner, **{f: True for f in flags})
    assert invitations.revoke(invitations.find_by_code(code), owner).revoked_at is not None


@pytest.mark.parametrize("flags", [{"full"}, {"full", "expired"}])
def test_a_fully_used_invitation_cannot_be_revoked(app_ctx, acme, flags):
    company, owner = acme
    code = new_invitation(app_ctx, company, owner, **{f: True for f in flags})
    before = snapshot(app_ctx, code)
    error = refused(invitations.revoke, invitations.find_by_code(code), owner)
    assert error.reason is Refusal.FULL
    assert snapshot(app_ctx, code) == before


# --- create: codes -------------------------------------------------------------------


def test_create_retries_with_a_new_code_when_the_code_is_taken(app_ctx, acme, monkeypatch):
    company, owner = acme
    codes = iter(["taken-code", "taken-code", "fresh-code"])
    monkeypatch.setattr(invitations, "new_code", lambda: next(codes))
    first = invitations.create(company.id, owner, NewInvitation(None, 1, 7))
    second = invitations.create(company.id, owner, NewInvitation("a@example.com", 2, 3))
    assert (first.code, second.code) == ("taken-code", "fresh-code")
    assert (second.email, second.max_uses) == ("a@example.com", 2)
    assert count(Invitation) == 2
    assert count(AuditEvent, AuditEvent.action == "invitation.create") == 2


def test_create_gives_up_after_repeated_collisions_and_stores_nothing(app_ctx, acme, monkeypatch):
    company, owner = acme
    monkeypatch.setattr(invitations, "new_code", lambda: "always-this-code")
    invitations.create(company.id, owner, NewInvitation(None, 1, 7))
    with pytest.raises(RuntimeError):
        invitations.create(company.id, owner, NewInvitation(None, 1, 7))
    assert count(Invitation) == 1
    assert count(AuditEvent) == 1


def test_create_does_not_hide_other_integrity_errors(app_ctx, acme):
    company, owner = acme
    with pytest.raises(IntegrityError):
        invitations.create(company.id + 1000, owner, NewInvitation(None, 1, 7))
    db.session.rollback()
    assert count(Invitation) == 0


def test_codes_are_long_random_and_url_safe():
    codes = {invitations.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 32 and all(ch.isalnum() or ch in "-_" for ch in c) for c in codes)
