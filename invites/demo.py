"""A demo company at scale, inserted in bulk: the data behind benchmarks and query budgets.

``seed`` creates one company with an owner, a few admins and (by default) 10,000
invitations in the states a company accumulates over a year: mostly expired or
fully used, some active, paused or revoked, and a few fresh "event" links with
``max_uses`` 100. Everyone who used an invitation is a member with a redemption
row, so ``used_count`` equals the redemptions, as ``invitations.accept`` keeps it.
It also creates users who belong to no company yet, each assigned a place on an
event link, ready to accept.

Rows go in with a handful of multi-row INSERTs rather than one ORM round trip
per row, and every account shares one password hash, computed once: hashing
is deliberately slow, and 10,000 hashes would take minutes.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from . import accounts, audit, invitations
from .extensions import db
from .masking import short_code
from .models import (
    AuditEvent,
    Company,
    Invitation,
    InvitationStatus,
    Membership,
    Redemption,
    Role,
    User,
    utcnow,
)

DEFAULT_PASSWORD = "demo password"
DEFAULT_EMAIL_DOMAIN = "demo.example.com"
EVENT_MAX_USES = invitations.MAX_USES_MAX

# Share of the invitations (besides the event links) in each state.
STATE_MIX = (
    ("active", 0.15),
    ("paused", 0.03),
    ("fully_used", 0.35),
    ("expired", 0.40),
    ("revoked", 0.07),
)
# max_uses: most invitations are for one person, a few for a team or an event.
MAX_USES_WEIGHTS = {1: 80, 2: 6, 5: 7, 10: 4, 25: 2, 50: 0.5, 100: 0.5}
EXPIRY_DAYS = (1, 3, 7, 7, 7, 14, 30)
TARGETED_SHARE = 0.2  # single-use invitations sent to one email address


class DemoError(Exception):
    """The demo cannot be seeded as asked (bad numbers, or already seeded)."""


@dataclass
class DemoData:
    """What ``seed`` created, for the benchmark harness and the tests."""

    company_id: int
    owner_id: int
    manager_ids: list[int]
    ready_user_ids: list[int]
    # ready_user_ids[i] accepts event_codes[accept_slots[i]]: no link gets more than its max_uses.
    accept_slots: list[int]
    event_codes: list[str]
    # Usable invitations nobody else in the benchmark touches: validate and the invite page
    # read them, toggle flips only its own.
    usable_codes: list[str]
    toggle_ids: list[int]
    states: Counter = field(default_factory=Counter)
    members: int = 0
    email_domain: str = DEFAULT_EMAIL_DOMAIN
    password: str = DEFAULT_PASSWORD
    company_name: str = "Demo Co"

    @property
    def owner_email(self) -> str:
        return f"owner@{self.email_domain}"

    def accept_code(self, index: int) -> str:
        """The event code ready user number ``index`` accepts."""
        return self.event_codes[self.accept_slots[index]]


@dataclass
class _Invitation:
    row: dict
    state: str
    end: datetime  # until when it could be used: expiry, revocation or now
    redeemers: list[str] = field(default_factory=list)


def _max_uses(rng: random.Random) -> int:
    return rng.choices(list(MAX_USES_WEIGHTS), weights=list(MAX_USES_WEIGHTS.values()))[0]


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    if end <= start:
        return start
    return start + (end - start) * rng.random()


def _plan_invitation(rng: random.Random, state: str, now: datetime) -> tuple[dict, datetime]:
    """Columns of one invitation in ``state`` (without code, company and creator)."""
    max_uses = _max_uses(rng)
    if state in ("active", "paused"):
        created = now - timedelta(days=20) * rng.random()
        days = rng.choice([d for d in EXPIRY_DAYS if created + timedelta(days=d) > now + timedelta(hours=1)] or [30])
    elif state == "expired":
        created = now - timedelta(days=2) - timedelta(days=363) * rng.random()
        days = rng.choice([d for d in EXPIRY_DAYS if created + timedelta(days=d) < now - timedelta(hours=1)] or [1])
    else:  # fully used, revoked: any age
        created = now - timedelta(days=365) * rng.random()
        days = rng.choice(EXPIRY_DAYS)
    expires = created + timedelta(days=days)
    end = min(expires, now)
    row = {
        "created_at": created,
        "expires_at": expires,
        "max_uses": max_uses,
        "used_count": 0,
        "is_active": state != "paused",
        "revoked_at": None,
        "status": InvitationStatus.PENDING.value,
        "email": None,
    }
    if state == "fully_used":
        row["used_count"] = max_uses
        row["status"] = InvitationStatus.ACCEPTED.value
    elif max_uses > 1 and rng.random() < 0.6:
        row["used_count"] = rng.randrange(0, max_uses)
    if state == "revoked":
        row["revoked_at"] = _between(rng, created, end)
        end = row["revoked_at"]
    return row, end


def _states(total: int) -> list[str]:
    """``total`` state names in the proportions of ``STATE_MIX`` (rounding into expired)."""
    names = []
    for state, share in STATE_MIX:
        names += [state] * int(total * share)
    names += ["expired"] * (total - len(names))
    return names


def seed(
    invitations_count: int = 10_000,
    users: int = 1_000,
    admins: int = 9,
    *,
    company_name: str = "Demo Co",
    email_domain: str = DEFAULT_EMAIL_DOMAIN,
    password: str = DEFAULT_PASSWORD,
    random_seed: int = 7,
    now: datetime | None = None,
) -> DemoData:
    """Insert the demo company and its people in bulk; return what the harness needs.

    Raises ``DemoError`` if the numbers cannot work or ``email_domain`` is taken.
    """
    now = now or utcnow()
    rng = random.Random(random_seed)
    email_domain = email_domain.strip().lower()
    event_links = math.ceil(users / EVENT_MAX_USES) if users else 0
    if users < 0 or admins < 0 or invitations_count < event_links:
        raise DemoError(
            f"{users} ready users need {event_links} event links; "
            f"ask for at least that many invitations and no negative numbers."
        )
    taken = db.session.execute(select(User.id).where(User.email.like(f"%@{email_domain}")).limit(1)).first()
    if taken is not None:
        raise DemoError(f"Users @{email_domain} already exist; choose another email domain.")

    password_hash = accounts.hash_password(accounts.check_password(password))
    company_id = db.session.execute(
        insert(Company).values(name=company_name, created_at=now - timedelta(days=400)).returning(Company.id)
    ).scalar_one()

    # --- invitations, planned in memory first: the members follow from their usage.
    planned: list[_Invitation] = []
    for state in _states(invitations_count - event_links):
        row, end = _plan_invitation(rng, state, now)
        planned.append(_Invitation(row, state, end))
    for n in range(event_links):
        created = now - timedelta(minutes=event_links - n)
        row = {
            "created_at": created,
            "expires_at": created + timedelta(days=30),
            "max_uses": EVENT_MAX_USES,
            "used_count": 0,
            "is_active": True,
            "revoked_at": None,
            "status": InvitationStatus.PENDING.value,
            "email": None,
        }
        planned.append(_Invitation(row, "event", now))

    member_emails: list[str] = []
    for number, invitation in enumerate(planned):
        row = invitation.row
        if row["max_uses"] == 1 and rng.random() < TARGETED_SHARE:
            row["email"] = f"invitee{number:05d}@{email_domain}"
        for _ in range(row["used_count"]):
            email = row["email"] or f"member{len(member_emails):05d}@{email_domain}"
            invitation.redeemers.append(email)
            member_emails.append(email)

    # --- users: owner, admins, members (joined through an invitation), ready users.
    managers = [f"owner@{email_domain}"] + [f"admin{n:02d}@{email_domain}" for n in range(1, admins + 1)]
    ready = [f"user{n:04d}@{email_domain}" for n in range(1, users + 1)]
    joined = now - timedelta(days=400)
    db.session.execute(
        insert(User),
        [
            {"email": email, "name": email.split("@")[0].title(), "password_hash": password_hash, "created_at": joined}
            for email in managers + member_emails + ready
        ],
    )
    user_id = dict(
        db.session.execute(select(User.email, User.id).where(User.email.like(f"%@{email_domain}"))).tuples().all()
    )
    creators = [user_id[email] for email in managers]

    # --- invitations.
    codes = set()
    for invitation in planned:
        code = invitations.new_code()
        while code in codes:  # 192 random bits: never, but the UNIQUE index would refuse it
            code = invitations.new_code()
        codes.add(code)
        invitation.row.update(code=code, company_id=company_id, created_by=rng.choice(creators))
    db.session.execute(insert(Invitation), [invitation.row for invitation in planned])
    invitation_id = dict(
        db.session.execute(select(Invitation.code, Invitation.id).where(Invitation.company_id == company_id))
        .tuples()
        .all()
    )

    # --- memberships, redemptions and the audit trail.
    memberships = [
        {
            "user_id": user_id[email],
            "company_id": company_id,
            "role": Role.OWNER.value if n == 0 else Role.ADMIN.value,
            "created_at": joined,
        }
        for n, email in enumerate(managers)
    ]
    redemptions, events = [], []
    for invitation in planned:
        row = invitation.row
        iid = invitation_id[row["code"]]
        events.append(
            {
                "company_id": company_id,
                "actor_id": row["created_by"],
                "invitation_id": iid,
                "action": audit.Action.CREATE.value,
                "created_at": row["created_at"],
                "detail": invitations.creation_detail(row["max_uses"], (row["expires_at"] - row["created_at"]).days),
            }
        )
        for email in invitation.redeemers:
            at = _between(rng, row["created_at"], invitation.end)
            uid = user_id[email]
            redemptions.append({"invitation_id": iid, "user_id": uid, "created_at": at})
            memberships.append({"user_id": uid, "company_id": company_id, "role": Role.MEMBER.value, "created_at": at})
            events.append(
                {
                    "company_id": company_id,
                    "actor_id": uid,
                    "invitation_id": iid,
                    "subject_user_id": uid,
                    "action": audit.Action.ACCEPT.value,
                    "created_at": at,
                }
            )
        if invitation.state == "paused":
            events.append(
                {
                    "company_id": company_id,
                    "actor_id": row["created_by"],
                    "invitation_id": iid,
                    "action": audit.Action.PAUSE.value,
                    "created_at": _between(rng, row["created_at"], now),
                }
            )
        if invitation.state == "revoked":
            events.append(
                {
                    "company_id": company_id,
                    "actor_id": row["created_by"],
                    "invitation_id": iid,
                    "action": audit.Action.REVOKE.value,
                    "created_at": row["revoked_at"],
                }
            )
    db.session.execute(insert(Membership), memberships)
    if redemptions:
        db.session.execute(insert(Redemption), redemptions)
    short_codes = {iid: short_code(code) for code, iid in invitation_id.items()}
    for event in events:
        event["invitation_short_code"] = short_codes.get(event["invitation_id"])
        event.setdefault("subject_user_id", None)
        event.setdefault("detail", None)
    db.session.execute(insert(AuditEvent), events)
    db.session.commit()

    by_state: dict[str, list[_Invitation]] = {}
    for invitation in planned:
        by_state.setdefault(invitation.state, []).append(invitation)
    active = [invitation for invitation in by_state.get("active", []) if invitation.row["email"] is None]
    toggles = active[: len(active) // 3]
    return DemoData(
        company_id=company_id,
        owner_id=user_id[managers[0]],
        manager_ids=creators,
        ready_user_ids=[user_id[email] for email in ready],
        accept_slots=[n // EVENT_MAX_USES for n in range(users)],
        event_codes=[invitation.row["code"] for invitation in by_state.get("event", [])],
        usable_codes=[invitation.row["code"] for invitation in active[len(toggles) :]],
        toggle_ids=[invitation_id[invitation.row["code"]] for invitation in toggles],
        states=Counter(invitation.state for invitation in planned),
        members=len(member_emails),
        email_domain=email_domain,
        password=password,
        company_name=company_name,
    )
