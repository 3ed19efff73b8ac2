"""What one invitation card shows and offers, worked out in one call per card.

The card partial (``templates/dashboard/_card.html``) used to ask the template for
each part: ``invitations.state``, ``can_revoke``, ``can_edit`` (each reading the
clock), a link per button, ``isoformat()`` per date. Every call from Jinja goes
through ``Context.call`` (a dozen Python calls of its own), about fourteen per
card, 700 per page of 50. ``CardViews`` is the card's one call: the rules still
come from ``invitations`` (state, can_edit, can_revoke), the links from the
request's ``card_urls`` (``links.url_pattern``), one clock reading per render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from .. import invitations
from ..masking import short_code
from ..models import Invitation, Role


@dataclass(frozen=True, slots=True)
class CardView:
    """One card's state, its name and id, which actions it offers, and their links.

    A link is None where the card does not offer it.
    """

    state: str  # the badge: REVOKED, ACCEPTED, EXPIRED or PENDING
    badge: str  # its CSS class suffix (lower case)
    pending: bool
    paused: bool  # pending, and paused by itself (not by pause all)
    name: str  # short_code(code)
    card_id: str  # "invitation-<id>"
    expires_iso: str
    revoked_iso: str | None
    edit_url: str | None
    toggle_url: str | None  # Pause/Start (not Start to whoever may not start it: ``may_start``)
    link: str | None  # the invite link (Copy Link), with the QR code while it can be used
    resend_url: str | None
    revoke_url: str | None
    qr_url: str | None
    who_url: str | None  # "Who used it", when someone did
    activity_url: str


class CardViews:
    """``card_view(inv)`` in templates: a ``CardView`` for each card of one render."""

    __slots__ = ("urls", "now", "viewer_role")

    def __init__(self, urls: SimpleNamespace, now: datetime, viewer_role: Role | None) -> None:
        self.urls = urls
        self.now = now
        #: The role of whoever the cards are rendered for: what they may do to each.
        self.viewer_role = viewer_role

    def __call__(self, inv: Invitation) -> CardView:
        urls, now, iid = self.urls, self.now, inv.id
        state = invitations.state(inv, now)
        pending = state is invitations.State.PENDING
        paused = pending and not inv.is_active
        revoked_at = inv.revoked_at
        # invitations.can_toggle(inv) is "the state is PENDING": the state above, once.
        toggle = pending
        # Start a paused Admin invitation: an owner only (``may_start``), as for its Edit.
        offer_toggle = toggle and not (paused and not invitations.may_start(inv, self.viewer_role))
        return CardView(
            state=state.value,
            badge=state.value.lower(),
            pending=pending,
            paused=paused,
            name=short_code(inv.code),
            card_id=f"invitation-{iid}",
            expires_iso=inv.expires_at.isoformat(),
            revoked_iso=revoked_at.isoformat() if revoked_at else None,
            edit_url=urls.edit(iid) if invitations.can_edit(inv, self.viewer_role, now) else None,
            toggle_url=urls.set_active(iid) if offer_toggle else None,
            link=urls.invite(inv.code) if toggle else None,
            resend_url=urls.resend(iid) if inv.email and pending and not paused else None,
            revoke_url=urls.revoke(iid) if invitations.can_revoke(inv) else None,
            qr_url=urls.qr(iid) if toggle else None,
            who_url=urls.redemptions(iid) if inv.used_count else None,
            activity_url=urls.activity(iid),
        )
