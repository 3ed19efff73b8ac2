"""What a manager takes away from the dashboard: an invitation's QR code, and CSV files.

Both carry invitation links, which admit people to the company: they are for
the company's owners and admins only, and never stored by a shared cache.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

import segno
from flask import Response, request, stream_with_context
from werkzeug.http import quote_header_value

from .. import invitations
from ..errors import error_response
from ..htmx import render_page_or_fragment
from ..links import invite_url
from ..masking import DISPLAY_CHARACTERS, short_code
from ..tenancy import current_membership
from ..web import invitation_of_current_company, manager_required
from .routes import bp

#: What a download of a link's QR code or a list of links may be kept as: by this
#: browser only, and not on disk (a shared computer's cache would keep the links).
NO_STORE = "private, no-store"

QR_SCALE = {"svg": 8, "png": 10}


# --- QR code -----------------------------------------------------------------


def qr_code(link: str) -> segno.QRCode:
    """The QR code of ``link``; medium error correction survives a smudged printout."""
    return segno.make(link, error="m", micro=False)


def _no_qr_code(invitation) -> str | None:
    """Why no QR code is drawn for this link, or None: only a link that can still be used
    gets one (paused counts: it can be started)."""
    reason = invitations.refusal(invitation)
    if reason is not None and reason is not invitations.Refusal.PAUSED:
        return f"No QR code: {reason.value}."
    return None


def _usable_or_refused(invitation):
    """The 409 of a QR image whose link no longer works, or None."""
    refused = _no_qr_code(invitation)
    return error_response(409, refused) if refused is not None else None


@bp.get("/company/invitations/<int:invitation_id>/qr")
@manager_required
def qr(invitation_id: int):
    """The QR code of an invitation's link with its downloads: a page, or the fragment a card loads.

    A link that stopped working since the card was drawn: 409 with why, in the card's
    disclosure (htmx) or on the page.
    """
    invitation = invitation_of_current_company(invitation_id)
    refused = _no_qr_code(invitation)
    response = render_page_or_fragment(
        "dashboard/qr.html", block="qr", status=409 if refused else 200, inv=invitation, refused=refused
    )
    response.headers["Cache-Control"] = NO_STORE
    return response


@bp.get("/company/invitations/<int:invitation_id>/qr.<any(svg, png):kind>")
@manager_required
def qr_image(invitation_id: int, kind: str):
    """The QR code as SVG or PNG; ``?download=1`` saves it as a file named after the code."""
    invitation = invitation_of_current_company(invitation_id)
    refused = _usable_or_refused(invitation)
    if refused is not None:
        return refused
    out = io.BytesIO()
    code = qr_code(invite_url(invitation.code))
    if kind == "svg":
        # Attributes only (no <style>, no script): the strict CSP applies to it too.
        code.save(
            out, kind="svg", scale=QR_SCALE["svg"], xmldecl=False, title=f"Invitation {short_code(invitation.code)}"
        )
        mimetype = "image/svg+xml"
    else:
        code.save(out, kind="png", scale=QR_SCALE["png"])
        mimetype = "image/png"
    response = Response(out.getvalue(), mimetype=mimetype)
    response.headers["Cache-Control"] = NO_STORE
    if request.args.get("download"):
        # The code's first characters as a card shows them, without the "…": a header
        # is Latin-1, and a server cannot send the ellipsis in one.
        name = f"invitation-{invitation.code[:DISPLAY_CHARACTERS]}.{kind}"
        response.headers["Content-Disposition"] = f"attachment; filename={quote_header_value(name)}"
    return response


# --- CSV ---------------------------------------------------------------------

#: Characters with which a spreadsheet starts a formula (OWASP's list: also tab and CR).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a ``'`` before it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def stream_csv(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    """CSV text line by line: one row in memory at a time, every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _chain(header, rows):
        writer.writerow([safe_cell(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _chain(header: list[str], rows: Iterable[list]) -> Iterator[list]:
    yield header
    yield from rows


def utc_cell(when) -> str:
    """A time as spreadsheets read it: ``2025-01-07 14:03:00`` (UTC, as the header says)."""
    return when.strftime("%Y-%m-%d %H:%M:%S") if when is not None else ""


def _csv_response(filename: str, lines: Iterator[str]) -> Response:
    response = Response(stream_with_context(lines), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = NO_STORE
    return response


INVITATION_COLUMNS = [
    "invitation",
    "link",
    "status",
    "paused",
    "email",
    "max uses",
    "used",
    "remaining",
    "created at (UTC)",
    "expires at (UTC)",
    "revoked at (UTC)",
    "created by",
    "label",
    "joins as",
    "allowed domain",
]


@bp.get("/company/invitations.csv")
@manager_required
def invitations_csv():
    """The company's invitations in the list's current filter and search, as a streamed CSV file."""
    company_id = current_membership().company_id
    which = invitations.parse_filter(request.args.get("filter"))
    search = invitations.parse_search(request.args.get("q"))

    def rows():
        for inv, creator_email in invitations.export_rows(company_id, which, search=search):
            state = invitations.state(inv)
            yield [
                short_code(inv.code),
                invite_url(inv.code),
                state.value,
                "yes" if state is invitations.State.PENDING and not inv.is_active else "no",
                inv.email,
                inv.max_uses,
                inv.used_count,
                invitations.remaining_uses(inv),
                utc_cell(inv.created_at),
                utc_cell(inv.expires_at),
                utc_cell(inv.revoked_at),
                creator_email,
                inv.label,
                inv.role,
                inv.allowed_domain,
            ]

    suffix = "" if which is invitations.Filter.ALL else f"-{which.value}"
    return _csv_response(f"invitations{suffix}.csv", stream_csv(INVITATION_COLUMNS, rows()))


REDEMPTION_COLUMNS = ["joined at (UTC)", "name", "email", "invitation", "invitation label"]


@bp.get("/company/redemptions.csv")
@manager_required
def redemptions_csv():
    """Who joined the company, when, and through which invitation, as a streamed CSV file."""
    company_id = current_membership().company_id

    def rows():
        for joined_at, name, email, code, label in invitations.export_redemptions(company_id):
            yield [utc_cell(joined_at), name, email, short_code(code), label]

    return _csv_response("redemptions.csv", stream_csv(REDEMPTION_COLUMNS, rows()))
