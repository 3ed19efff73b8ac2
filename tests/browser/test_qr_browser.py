"""The QR code of an invitation's link in a real Chromium, with JavaScript and without.

Its drawing, headers and who may fetch it are tested in ``tests/test_exports.py``; here,
what an admin does: open the card's "QR code", see the image, download it as SVG and PNG.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..test_dashboard import new_invitation
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


@pytest.fixture
def acme(make):
    return make.company("Acme", owner_email="boss@example.com")


def image_drawn(image) -> bool:
    """The browser fetched and decoded the image (a broken one has no natural width)."""
    return image.evaluate("img => img.complete && img.naturalWidth > 0")


def downloads(page) -> dict[str, bytes]:
    """Download the QR code as SVG and as PNG from the figure's links; their bytes by suffix."""
    got = {}
    for kind in ("SVG", "PNG"):
        with page.expect_download() as info:
            page.locator(".qr-code figcaption a", has_text=kind).click()
        download = info.value
        name = download.suggested_filename
        assert name.startswith("invitation-") and name.endswith("." + kind.lower())
        with open(download.path(), "rb") as saved:
            got[name.rsplit(".", 1)[-1]] = saved.read()
    return got


def test_the_cards_qr_code_opens_in_place_and_downloads(new_page, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner, max_uses=3)
    page = new_page(accept_downloads=True)
    log_in(page, "boss@example.com")
    page.evaluate("window.__sameDocument = true")

    page.locator(f"#invitation-{inv.id} .invitation-qr summary").click()
    image = page.locator(f"#invitation-{inv.id} .qr-code img")
    expect(image).to_have_attribute("alt", f"QR code of the link of invitation {inv.code[:12]}…")
    page.wait_for_function("img => img.complete", arg=image.element_handle())
    assert image_drawn(image)
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"

    got = downloads(page)
    assert got["svg"].startswith(b"<svg") and f"Invitation {inv.code[:12]}".encode() in got["svg"]
    assert got["png"].startswith(b"\x89PNG\r\n\x1a\n")


def test_without_javascript_the_qr_code_is_a_page_of_its_own(new_page, app, acme):
    company, owner = acme
    inv = new_invitation(app, company, owner, max_uses=3)
    page = new_page(java_script_enabled=False, accept_downloads=True)
    log_in(page, "boss@example.com")

    # The disclosure opens without JavaScript; inside, a link to the QR code's page.
    page.locator(f"#invitation-{inv.id} .invitation-qr summary").click()
    page.get_by_role("link", name=f"See the QR code of invitation {inv.code[:12]}…").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("QR code of invitation")
    image = page.locator(".qr-code img")
    page.wait_for_load_state("load")
    assert image_drawn(image)
    got = downloads(page)
    assert b"<svg" in got["svg"] and got["png"].startswith(b"\x89PNG")
    page.get_by_role("link", name="Back to the invitations").click()
    expect(page.locator(f"#invitation-{inv.id}")).to_be_visible()
