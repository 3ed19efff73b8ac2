"""What managers take away from the dashboard: an invitation's QR code and the CSV files."""

from __future__ import annotations

import csv
import io

import pytest
import segno
import sqlalchemy as sa

from invites import invitations
from invites.dashboard.exports import safe_cell
from invites.extensions import db
from invites.models import Invitation, Role, utcnow
from invites.security import CONTENT_SECURITY_POLICY

from .test_dashboard import HX, accept_as, card, new_invitation, text

PUBLIC = "https://invites.example"


@pytest.fixture
def acme(make, auth, app):
    """Acme, its owner logged in; links under a fixed public URL."""
    app.config["PUBLIC_URL"] = PUBLIC
    company, owner = make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    return company, owner


def set_columns(app, invitation_id: int, **values) -> None:
    with app.app_context():
        db.session.execute(sa.update(Invitation).where(Invitation.id == invitation_id).values(**values))
        db.session.commit()


def qr_svg(link: str) -> bytes:
    """The SVG the app should draw for ``link`` (same library, same settings)."""
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="svg", scale=8, xmldecl=False, title="t")
    return out.getvalue()


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text(response))))


# --- QR code -------------------------------------------------------------------


def test_qr_svg_encodes_the_invitation_link_and_is_never_stored(client, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner)
    response = client.get(f"/dashboard/company/invitations/{inv.id}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    body = response.data
    # The same modules as segno draws for the link itself: the code scans to the invite link.
    expected = qr_svg(f"{PUBLIC}/invite/{inv.code}")
    assert body.split(b"</title>")[1] == expected.split(b"</title>")[1]
    assert b"<script" not in body and b"<style" not in body and b"style=" not in body
    assert "Content-Disposition" not in response.headers


def test_qr_png_is_a_png_and_downloads_as_a_file(client, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner)
    response = client.get(f"/dashboard/company/invitations/{inv.id}/qr.png?download=1")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert response.headers["Cache-Control"] == "private, no-store"
    # A server sends headers in Latin-1: the card's "…" cannot be in the file name.
    assert response.headers["Content-Disposition"] == f"attachment; filename=invitation-{inv.code[:12]}.png"
    response.headers["Content-Disposition"].encode("latin-1")


def test_card_offers_the_qr_code_with_and_without_javascript(client, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner)
    page = text(client.get("/dashboard/company"))
    qr_url = f"/dashboard/company/invitations/{inv.id}/qr"
    assert f'hx-get="{qr_url}"' in card(page, inv.id)
    assert f'<a href="{qr_url}">See the QR code of invitation' in card(page, inv.id)
    fragment = client.get(qr_url, headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in text(fragment)
    assert f'src="{qr_url}.svg"' in text(fragment)
    assert f'href="{qr_url}.svg?download=1"' in text(fragment)
    assert f'href="{qr_url}.png?download=1"' in text(fragment)
    assert fragment.headers["Cache-Control"] == "private, no-store"
    whole = client.get(qr_url)
    assert "<html" in text(whole) and f'src="{qr_url}.svg"' in text(whole)
    assert "Back to the invitations" in text(whole)


def test_a_paused_invitation_still_has_its_qr_code(client, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner)
    set_columns(app, inv.id, is_active=False)
    assert client.get(f"/dashboard/company/invitations/{inv.id}/qr.svg").status_code == 200
    assert f'hx-get="/dashboard/company/invitations/{inv.id}/qr"' in card(
        text(client.get("/dashboard/company")), inv.id
    )


@pytest.mark.parametrize(
    "state, message",
    [
        ("revoked", "This invitation has been revoked"),
        ("expired", "This invitation has expired"),
        ("full", "This invitation has reached its maximum number of uses"),
    ],
)
@pytest.mark.parametrize("suffix", ["", ".svg", ".png"])
def test_no_qr_code_for_a_link_that_no_longer_works(client, app, make, acme, state, message, suffix):
    company, owner = acme
    inv = new_invitation(app, company, owner)
    if state == "revoked":
        set_columns(app, inv.id, revoked_at=utcnow())
    elif state == "expired":
        set_columns(app, inv.id, expires_at=utcnow())
    else:
        accept_as(app, make, inv.code)
    response = client.get(f"/dashboard/company/invitations/{inv.id}/qr{suffix}")
    assert response.status_code == 409
    assert f"No QR code: {message}." in text(response)
    assert "/qr" not in card(text(client.get("/dashboard/company")), inv.id)


def test_a_cards_qr_code_opened_after_the_link_stopped_working_says_why_in_the_card(client, app, acme):
    """The card was drawn while the link worked; another admin revoked it since. htmx swaps a
    409 into the card's QR disclosure: the reason, not a whole error page inside the card."""
    company, owner = acme
    inv = new_invitation(app, company, owner)
    set_columns(app, inv.id, revoked_at=utcnow())
    response = client.get(f"/dashboard/company/invitations/{inv.id}/qr", headers=HX)
    assert response.status_code == 409
    assert "<html" not in text(response) and "<nav" not in text(response)
    assert "No QR code: This invitation has been revoked." in text(response)
    assert "HX-Request" in response.headers["Vary"]


EXPORT_PATHS = [
    "/dashboard/company/invitations/{id}/qr",
    "/dashboard/company/invitations/{id}/qr.svg",
    "/dashboard/company/invitations/{id}/qr.png",
    "/dashboard/company/invitations.csv",
    "/dashboard/company/redemptions.csv",
]


@pytest.mark.parametrize("path", EXPORT_PATHS)
def test_members_get_403_and_no_link(client, app, make, auth, path):
    company, owner = make.company("Acme")
    inv = new_invitation(app, company, owner)
    make.user("mia@example.com", company=company, role=Role.MEMBER)
    auth.login("mia@example.com")
    response = client.get(path.format(id=inv.id))
    assert response.status_code == 403
    assert inv.code not in text(response)


@pytest.mark.parametrize("path", EXPORT_PATHS)
def test_anonymous_is_sent_to_log_in(client, app, make, path):
    company, owner = make.company("Acme")
    inv = new_invitation(app, company, owner)
    response = client.get(path.format(id=inv.id))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", EXPORT_PATHS[:3])
def test_another_companys_qr_code_is_not_found(client, app, make, auth, path):
    other, other_owner = make.company("Globex")
    theirs = new_invitation(app, other, other_owner)
    make.company("Acme", owner_email="boss@example.com")
    auth.login("boss@example.com")
    response = client.get(path.format(id=theirs.id))
    assert response.status_code == 404
    assert theirs.code not in text(response)


def test_admins_may_download_too(client, app, make, auth):
    company, owner = make.company("Acme")
    inv = new_invitation(app, company, owner)
    make.user("ada@example.com", company=company, role=Role.ADMIN)
    auth.login("ada@example.com")
    assert client.get(f"/dashboard/company/invitations/{inv.id}/qr.svg").status_code == 200
    assert client.get("/dashboard/company/invitations.csv").status_code == 200


# --- CSV -----------------------------------------------------------------------


def test_invitations_csv_lists_the_companys_invitations_newest_first(client, app, make, acme):
    company, owner = acme
    first = new_invitation(app, company, owner, email="ann@example.com", max_uses=3)
    second = new_invitation(app, company, owner, max_uses=2)
    set_columns(app, second.id, is_active=False)
    accept_as(app, make, first.code, "ann@example.com")
    other, other_owner = make.company("Globex")
    theirs = new_invitation(app, other, other_owner)

    response = client.get("/dashboard/company/invitations.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == "attachment; filename=invitations.csv"
    assert response.headers["Cache-Control"] == "private, no-store"
    table = rows(response)
    assert table[0] == [
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
    assert [r[1] for r in table[1:]] == [f"{PUBLIC}/invite/{second.code}", f"{PUBLIC}/invite/{first.code}"]
    assert table[1][2:8] == ["PENDING", "yes", "", "2", "0", "2"]
    assert table[2][2:8] == ["PENDING", "no", "ann@example.com", "3", "1", "2"]
    assert table[2][0] == safe_cell(first.code[:12] + "…")
    assert table[2][8] == first.created_at.strftime("%Y-%m-%d %H:%M:%S")
    assert table[2][9] == first.expires_at.strftime("%Y-%m-%d %H:%M:%S")
    assert table[2][11] == "boss@example.com"
    assert theirs.code not in text(response)


def test_invitations_csv_follows_the_lists_filter(client, app, acme):
    company, owner = acme
    kept = new_invitation(app, company, owner)
    revoked = new_invitation(app, company, owner)
    set_columns(app, revoked.id, revoked_at=utcnow())
    response = client.get("/dashboard/company/invitations.csv?filter=revoked")
    assert response.headers["Content-Disposition"] == "attachment; filename=invitations-revoked.csv"
    table = rows(response)
    assert [r[1] for r in table[1:]] == [f"{PUBLIC}/invite/{revoked.code}"]
    assert table[1][2] == "REVOKED" and table[1][10] != ""
    assert kept.code not in text(response)
    page = text(client.get("/dashboard/company?filter=revoked"))
    assert 'href="/dashboard/company/invitations.csv?filter=revoked"' in page


def test_redemptions_csv_says_who_joined_through_which_invitation(client, app, make, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner, max_uses=5)
    ann = accept_as(app, make, inv.code, "ann@example.com")
    accept_as(app, make, inv.code, "bob@example.com")
    response = client.get("/dashboard/company/redemptions.csv")
    assert response.status_code == 200 and response.is_streamed
    table = rows(response)
    assert table[0] == ["joined at (UTC)", "name", "email", "invitation", "invitation label"]
    assert [r[2] for r in table[1:]] == ["ann@example.com", "bob@example.com"]
    assert table[1][1] == ann.name
    assert table[1][3] == safe_cell(inv.code[:12] + "…")


def test_a_code_that_starts_like_a_formula_is_neutralised_in_both_csvs(client, app, make, acme):
    """Codes are random URL-safe text, so one in 64 starts with "-", which a spreadsheet would compute."""
    company, owner = acme
    inv = new_invitation(app, company, owner)
    set_columns(app, inv.id, code="-2-3" + inv.code[4:])
    accept_as(app, make, "-2-3" + inv.code[4:], "ann@example.com")
    shown = "'-2-3" + inv.code[4:12] + "…"
    assert rows(client.get("/dashboard/company/invitations.csv"))[1][0] == shown
    assert rows(client.get("/dashboard/company/redemptions.csv"))[1][3] == shown


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example")', "+1+2", "-2+3", "@SUM(A1)"])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(client, app, make, acme, name):
    company, owner = acme
    inv = new_invitation(app, company, owner)
    user = make.user("eve@example.com", name=name)
    with app.app_context():
        invitations.accept(inv.code, user)
    table = rows(client.get("/dashboard/company/redemptions.csv"))
    assert table[1][1] == "'" + name
    assert table[1][2] == "eve@example.com"


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("plain", "plain"),
        ("", ""),
        (None, ""),
        (3, "3"),
        ("a=b", "a=b"),
        ("-", "'-"),
        ("\tx", "'\tx"),
        ("\r=1", "'\r=1"),
    ],
)
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell
