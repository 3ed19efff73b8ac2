"""Keep invitation codes out of logs and lists: show a short prefix, never the code.

Two lengths, one helper (``shorten``):

``short_code`` (12 characters)
    What screens show: the card, its labels and flashes, "Who used it", the
    activity page. Only a company's owners and admins see these, and they can
    copy the full link anyway; 12 characters tell invitations apart at a glance.
``mask_code`` (4 characters)
    What logs show. A security choice: logs travel further than the dashboard
    (log services, support tickets, backups) and are kept longer, so they get
    the least that still tells two requests apart, never a useful part of a
    secret.

A code is a bearer secret: whoever reads it can join the company. It travels
in the invite link's path (``/invite/<code>``), hence in request lines,
Referer headers, redirect Locations and ``next=`` parameters, all of which
loggers like to print. PostgreSQL adds another way out: its constraint errors
quote the offending value (``Key (code)=(Zx81kQ…) already exists``), and
SQLAlchemy's ``hide_parameters`` does not reach the server's own message.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

#: Enough of a code to tell two invitations apart; far too little to use one.
VISIBLE_CHARACTERS = 4
#: What screens show of a code (see the module docstring for why logs show less).
DISPLAY_CHARACTERS = 12
ELLIPSIS = "…"

# "/invite/<code>", also percent-encoded once or twice (``next=%2Finvite%2F…``), and
# with doubled slashes (``//invite//<code>``, which the router redirects to the page).
_SLASH = r"(?:/|%2F|%252F)+"
_INVITE_PATH = re.compile(rf"({_SLASH}invite{_SLASH})([A-Za-z0-9_\-]+)", re.IGNORECASE)
# "code=<code>" in a query string or a form-encoded body.
_CODE_PARAMETER = re.compile(r"(\bcode=)([^&\s\"';]+)", re.IGNORECASE)


# PostgreSQL's DETAIL line of a constraint error quotes the row's values.
_DATABASE_DETAIL = re.compile(r"(Key \(.*?\)=\().*?(\) (?:already exists|is not present|conflicts with))")


def shorten(code: str | None, visible: int) -> str:
    """The first ``visible`` characters of a code and an ellipsis; "" for no code."""
    if not code:
        return ""
    return code[:visible] + ELLIPSIS


def short_code(code: str | None) -> str:
    """``Zx81kQpLm2Vn…``: how every screen names an invitation (a Jinja filter too)."""
    return shorten(code, DISPLAY_CHARACTERS)


def mask_code(code: str | None) -> str:
    """``Zx81…``: how logs name an invitation code."""
    return shorten(code, VISIBLE_CHARACTERS)


def _mask_match(match: re.Match) -> str:
    secret = match.group(2)
    # A segment this short is no code (codes are 32 characters), and leaving it
    # alone makes masking idempotent: "abcd…" stays "abcd…".
    if len(secret) <= VISIBLE_CHARACTERS:
        return match.group(0)
    return match.group(1) + mask_code(secret)


def _mask_plain(text: str) -> str:
    return _CODE_PARAMETER.sub(_mask_match, _INVITE_PATH.sub(_mask_match, text))


#: Percent-decoding rounds: ``%2525…`` hides a character under three layers at most
#: in anything a browser or a proxy would still route.
_DECODE_ROUNDS = 3


def mask_codes(text: str) -> str:
    """``text`` with every invitation code in it masked (paths, encoded paths, ``code=``).

    A code can be written with percent escapes (``/invite/%5Ax81…``, ``%63ode=…``):
    the router and Werkzeug decode them, so the link works, but a pattern on the raw
    text would not see the code. When decoding reveals a code that the raw text hid,
    the line is logged decoded, with the code masked.
    """
    if not text:
        return text
    masked = _mask_plain(text)
    if "%" not in masked:
        return masked
    decoded = masked
    for _ in range(_DECODE_ROUNDS):
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
    revealed = _mask_plain(decoded)
    return revealed if revealed != decoded else masked


def scrub(text: str) -> str:
    """``text`` fit for a log: codes masked, values quoted by database errors removed."""
    if not text:
        return text
    return _DATABASE_DETAIL.sub(r"\1…\2", mask_codes(text))
