"""The invitation rules under any sequence of changes: a hypothesis state machine.

Create, pause, start, revoke, accept (by new users, by the user an invitation
is meant for, by members, by removed members), expire (``expires_at`` moved
into the past in the database) and member removal run in random order against
``invites/invitations.py``. A model says what each call must do; after every
step the database must agree with it and keep the invariants: ``0 ≤ used_count
≤ max_uses``, one redemption per use, status ACCEPTED exactly when full, no
accept through a paused, revoked, expired or full invitation, and one audit
row per change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from invites import accounts, invitations
from invites.extensions import db
from invites.invitations import InvitationRefused, Refusal
from invites.models import AuditEvent, Invitation, Membership, Redemption, Role, User, utcnow

from .conftest import CI, PASSWORD


@dataclass
class Expected:
    """What the model knows about one invitation."""

    max_uses: int
    email: str | None
    used: int = 0
    active: bool = True
    revoked: bool = False
    expired: bool = False
    users: set[int] = field(default_factory=set)

    @property
    def full(self) -> bool:
        return self.used >= self.max_uses

    def closed(self) -> Refusal | None:
        """Why nobody may use it now, in the documented order."""
        if self.revoked:
            return Refusal.REVOKED
        if self.expired:
            return Refusal.EXPIRED
        if self.full:
            return Refusal.FULL
        if not self.active:
            return Refusal.PAUSED
        return None


class InvitationRules(RuleBasedStateMachine):
    """One company, its owner, and everything that can happen to its invitations."""

    app = None  # set by the test: the machine runs against the test's app and database

    invitation_ids = Bundle("invitation_ids")
    user_ids = Bundle("user_ids")

    def __init__(self):
        super().__init__()
        self.context = self.app.app_context()
        self.context.push()
        self.tag = uuid.uuid4().hex[:8]
        self.owner = accounts.create_account(
            email=f"owner-{self.tag}@example.com", password=PASSWORD, name="Owner", company_name=f"Co {self.tag}"
        )
        self.company_id = db.session.scalar(sa.select(Membership.company_id).where(Membership.user_id == self.owner.id))
        self.expected: dict[int, Expected] = {}
        self.emails: dict[int, str] = {}
        self.members: set[int] = set()
        self.audit_rows = 0
        self.accepted = 0

    def teardown(self):
        db.session.remove()
        self.context.pop()

    # --- helpers ---------------------------------------------------------------------

    def _invitation(self, invitation_id: int) -> Invitation:
        db.session.expire_all()
        return db.session.get(Invitation, invitation_id)

    def _user(self, user_id: int) -> User:
        return db.session.get(User, user_id)

    def _refused(self, call) -> Refusal | None:
        try:
            call()
        except InvitationRefused as refusal:
            return refusal.reason
        return None

    # --- rules -------------------------------------------------------------------------

    @rule(target=user_ids)
    def new_user(self):
        email = f"user-{uuid.uuid4().hex[:12]}@example.com"
        user = accounts.create_account(email=email, password=PASSWORD, name="Someone", verified=True)
        self.emails[user.id] = email
        return user.id

    def _create(self, max_uses: int, email: str | None) -> int:
        invitation = invitations.create(
            self.company_id, self._user(self.owner.id), invitations.NewInvitation(email, max_uses, 7)
        )
        self.expected[invitation.id] = Expected(max_uses=max_uses, email=email)
        self.audit_rows += 1
        return invitation.id

    @rule(target=invitation_ids, max_uses=st.integers(min_value=1, max_value=5))
    def create_general(self, max_uses):
        return self._create(max_uses, None)

    @rule(target=invitation_ids, max_uses=st.integers(min_value=1, max_value=3), user=user_ids)
    def create_for_someone(self, max_uses, user):
        return self._create(max_uses, self.emails[user])

    @rule(invitation=invitation_ids, active=st.booleans())
    def pause_or_start(self, invitation, active):
        model = self.expected[invitation]
        reason = self._refused(
            lambda: invitations.set_active(
                self._invitation(invitation), self._user(self.owner.id), active, actor_role=Role.OWNER
            )
        )
        closed = model.closed()
        wanted = closed if closed is not Refusal.PAUSED else None  # a paused one may be started
        assert reason == wanted, (reason, model)
        if reason is None:
            # Asking for the state it is already in changes nothing and records nothing.
            if model.active != active:
                self.audit_rows += 1
            model.active = active

    @rule(invitation=invitation_ids)
    def pause_then_accept(self, invitation):
        """The case that matters most for pauses: a newcomer trying while it is paused."""
        self.pause_or_start(invitation, False)
        self._accept(invitation, self.new_user())

    @rule(invitation=invitation_ids)
    def revoke(self, invitation):
        model = self.expected[invitation]
        reason = self._refused(lambda: invitations.revoke(self._invitation(invitation), self._user(self.owner.id)))
        # An expired or paused invitation can still be revoked; a full one is done with.
        wanted = Refusal.REVOKED if model.revoked else Refusal.FULL if model.full else None
        assert reason == wanted, (reason, model)
        if reason is None:
            model.revoked = True
            self.audit_rows += 1

    @rule(invitation=invitation_ids)
    def expire(self, invitation):
        db.session.execute(
            sa.update(Invitation).where(Invitation.id == invitation).values(expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
        self.expected[invitation].expired = True

    def _accept(self, invitation: int, user: int):
        model = self.expected[invitation]
        code = self._invitation(invitation).code
        reason = self._refused(lambda: invitations.accept(code, self._user(user)))
        wanted = model.closed()
        if wanted is None and model.email is not None and model.email != self.emails[user]:
            wanted = Refusal.WRONG_ACCOUNT
        if wanted is None and user in self.members:
            wanted = Refusal.ALREADY_MEMBER
        if wanted is None and user in model.users:
            wanted = Refusal.ALREADY_USED
        assert reason == wanted, (reason, model, user)
        if reason is None:
            model.used += 1
            model.users.add(user)
            self.members.add(user)
            self.audit_rows += 1
            self.accepted += 1

    @rule(invitation=invitation_ids, user=user_ids)
    def accept(self, invitation, user):
        self._accept(invitation, user)

    @rule(invitation=invitation_ids)
    def accept_as_the_one_it_is_for(self, invitation):
        """The invitee a targeted invitation names (or anyone, for a general one)."""
        email = self.expected[invitation].email
        user = next((uid for uid, e in self.emails.items() if e == email), None)
        if user is None:
            user = self.new_user()
        self._accept(invitation, user)

    @precondition(lambda self: self.members)
    @rule(invitation=invitation_ids, data=st.data())
    def accept_as_a_member(self, invitation, data):
        """Someone already in the company tries another (or the same) invitation."""
        self._accept(invitation, data.draw(st.sampled_from(sorted(self.members))))

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def remove_member(self, data):
        user = data.draw(st.sampled_from(sorted(self.members)))
        membership = db.session.scalar(
            sa.select(Membership).where(Membership.user_id == user, Membership.company_id == self.company_id)
        )
        accounts.remove_member(membership, self._user(self.owner.id))
        self.members.discard(user)
        self.audit_rows += 1

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self):
        db.session.expire_all()
        rows = db.session.execute(sa.select(Invitation).where(Invitation.company_id == self.company_id)).scalars().all()
        assert {row.id for row in rows} == set(self.expected)
        now = utcnow()
        for row in rows:
            model = self.expected[row.id]
            assert 0 <= row.used_count <= row.max_uses
            assert row.used_count == model.used
            assert (row.status == "ACCEPTED") == (row.used_count == row.max_uses), (row.status, row.used_count)
            assert row.is_active == model.active
            assert (row.revoked_at is not None) == model.revoked
            assert (row.expires_at <= now) == model.expired
            redeemed = db.session.scalars(sa.select(Redemption.user_id).where(Redemption.invitation_id == row.id)).all()
            assert len(redeemed) == row.used_count
            assert set(redeemed) == model.users

    @invariant()
    def members_and_audit_rows_add_up(self):
        member_ids = set(
            db.session.scalars(sa.select(Membership.user_id).where(Membership.company_id == self.company_id))
        )
        assert member_ids == self.members | {self.owner.id}
        audit_rows = db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.company_id == self.company_id)
        )
        assert audit_rows == self.audit_rows


def test_invitation_rules_hold_in_any_order(app):
    machine = type("Machine", (InvitationRules,), {"app": app})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=40,
            deadline=None,
            derandomize=CI,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
