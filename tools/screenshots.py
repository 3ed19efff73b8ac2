"""The README's screenshots, taken from a freshly seeded instance so that they stay true.

    .venv/bin/python -m tools.screenshots            # writes docs/images/*.png
    .venv/bin/python -m tools.screenshots --out DIR

It migrates a throw-away SQLite database, seeds Acme (an owner, an admin, a few
members, invitations in every state of seed 003, some of them used), serves the
app on a free local port, and drives Debian's Chromium (``/usr/bin/chromium``, or
``CHROMIUM``) through Playwright: the dashboard and the invite page at 1280×800,
the members page and the dashboard at phone width (390×844).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.serving import make_server

from invites import accounts, create_app, invitations
from invites.extensions import db
from invites.models import Invitation, Role, utcnow

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "screenshots only"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def seed() -> dict[str, str]:
    """Acme and its people and invitations; the codes worth showing, by name."""
    owner = accounts.create_account("olivia@acme.example.com", PASSWORD, "Olivia Owner", company_name="Acme")
    company = owner.memberships[0].company
    people = [
        ("adam@acme.example.com", "Adam Admin", Role.ADMIN),
        ("maria@acme.example.com", "Maria Martínez", Role.MEMBER),
        ("kenji@acme.example.com", "Kenji Sato", Role.MEMBER),
    ]
    for email, name, role in people:
        accounts.create_account(email, PASSWORD, name, company=company, role=role)

    def make(email=None, max_uses=1, days=7, **state) -> Invitation:
        invitation = invitations.create(company.id, owner, invitations.parse_new_invitation(email, max_uses, days))
        values = {}
        if state.get("paused"):
            values["is_active"] = False
        if state.get("revoked"):
            values["revoked_at"] = utcnow()
        if state.get("expired"):
            created = utcnow() - timedelta(days=days + 1)
            values.update(created_at=created, expires_at=created + timedelta(days=days))
        if values:
            db.session.execute(sa.update(Invitation).where(Invitation.id == invitation.id).values(**values))
            db.session.commit()
        return invitation

    make(days=3, expired=True)
    make(email="contractor@partner.example.com", revoked=True)
    full = make(max_uses=2)
    make(max_uses=3, paused=True)
    team = make(max_uses=5, days=14)
    make(email="new.hire@acme.example.com")
    for n, (name, target) in enumerate(
        [("Lena Lopez", team), ("Ravi Rao", team), ("Ines Ito", full), ("Tom Tan", full)]
    ):
        user = accounts.create_account(f"joiner{n}@example.com", PASSWORD, name)
        invitations.accept(target.code, user)
    return {"team": team.code}


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_port}"


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def photograph(browser, base: str, codes: dict[str, str], out: Path, shots: list[Path]) -> None:
    """The pictures, in the order of the README."""
    contexts = []

    def page_for(viewport, email=None):
        context = browser.new_context(base_url=base, viewport=viewport, color_scheme="light", device_scale_factor=1)
        contexts.append(context)
        page = context.new_page()
        if email:
            sign_in(page, email)
        return page

    def shot(page, name, full_page=False):
        path = out / name
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        shots.append(path)

    try:
        owner = page_for(DESKTOP, "olivia@acme.example.com")
        owner.goto("/dashboard/company")
        shot(owner, "dashboard.png", full_page=True)

        invitee = page_for(DESKTOP)
        invitee.goto(f"/invite/{codes['team']}")
        shot(invitee, "invite-page.png")

        phone = page_for(PHONE, "olivia@acme.example.com")
        phone.goto("/company/members")
        shot(phone, "phone-members.png")
        phone.goto("/dashboard/company")
        phone.locator("#list-heading").evaluate("heading => heading.scrollIntoView()")
        shot(phone, "phone-dashboard.png")
    finally:
        for context in contexts:
            context.close()


def take(out: Path, browser=None) -> list[Path]:
    """Seed, serve and photograph; ``browser``: a Playwright Chromium already running, if any."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'screenshots.sqlite3'}"
        # The app's own configuration from the environment, as a development server has it
        # (the caller's environment is put back afterwards).
        settings = {
            "INVITES_ENV": "development",
            "SECRET_KEY": "screenshots only",
            "DATABASE_URL": url,
            "RATELIMIT_ENABLED": "false",
            "PUBLIC_URL": "https://invites.example.com",
            "REDIS_URL": "",
            "RATELIMIT_STORAGE_URI": "",
        }
        saved = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        try:
            app = create_app({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            codes = seed()
        server, base = serve(app)
        shots = []
        try:
            if browser is not None:
                photograph(browser, base, codes, out, shots)
            else:
                with sync_playwright() as playwright:
                    chromium = playwright.chromium.launch(
                        executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                    )
                    photograph(chromium, base, codes, out, shots)
                    chromium.close()
        finally:
            server.shutdown()
            with app.app_context():
                db.engine.dispose()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in take(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
