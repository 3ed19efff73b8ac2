"""What ``make bench`` measures: one row per endpoint, in the order they run.

Paths are the documented ones (issues 3, 4 and 5). A route the app does not
have yet is reported as unavailable, with the issue that brings it; when a
route lands under another path, change it here and nowhere else. ``paths``
lists candidates: the first one the app routes is measured.

``who`` sends the requests:
- ``ready``: the seeded users in no company yet (validate, then accept: each
  accepts exactly once, on the event link assigned to them);
- ``manager``: the owner and the admins, in turn;
- ``anonymous``: no cookie, like a first visit from a shared link.

``items`` is what rotates besides the sessions: ``usable_codes`` (active
invitations no other run touches), ``toggle_ids`` (invitations only the toggle
run flips), ``accept`` (each ready user's own event code), or nothing.

``mode`` ``cycle`` repeats the prepared requests for the whole run; ``once``
sends each exactly once (accepts by distinct users) and ends when all are
answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    paths: tuple[str, ...]  # ``{code}`` and ``{id}`` are filled in per request
    who: str
    items: str | None
    issue: int  # the issue that brings the route
    mode: str = "cycle"
    # ``{code}`` is filled in; ``{active}`` makes every item go twice, "0" (pause) then "1" (start)
    body: str | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    csrf: bool = False  # send the session's CSRF token as X-CSRFToken (htmx does, from <body>)
    cards: int | None = None  # a page that must show this many invitation cards
    shows: str | None = None  # text the page must show ("{company}": the seeded company's name)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "validate",
        "POST",
        ("/api/companies/invitations/validate",),
        who="ready",
        items="usable_codes",
        issue=5,
        body='{"code": "{code}"}',
    ),
    Endpoint(
        "invite_page",
        "GET",
        ("/invite/{code}",),
        who="anonymous",
        items="usable_codes",
        issue=4,
        shows="{company}",
    ),
    Endpoint(
        "dashboard",
        "GET",
        ("/dashboard/company",),
        who="manager",
        items=None,
        issue=3,
        cards=50,
    ),
    # The card fragment: the dashboard's Pause/Start form as htmx posts it.
    Endpoint(
        "toggle",
        "POST",
        ("/dashboard/company/invitations/{id}/active",),
        who="manager",
        items="toggle_ids",
        issue=3,
        body="active={active}",
        content_type="application/x-www-form-urlencoded",
        headers={"HX-Request": "true"},
        csrf=True,
    ),
    # Last: accepting turns the ready users into members.
    Endpoint(
        "accept",
        "POST",
        ("/api/companies/invitations/accept",),
        who="ready",
        items="accept",
        issue=5,
        mode="once",
        body='{"code": "{code}"}',
    ),
)


def by_name(names: list[str] | None) -> tuple[Endpoint, ...]:
    """The endpoints called ``names`` (all if None), in table order; unknown names raise."""
    if not names:
        return ENDPOINTS
    unknown = set(names) - {e.name for e in ENDPOINTS}
    if unknown:
        raise ValueError(f"unknown endpoints: {', '.join(sorted(unknown))}")
    return tuple(e for e in ENDPOINTS if e.name in names)
