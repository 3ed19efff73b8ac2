"""The floor of ``make bench``: a bare Flask app doing the least each measured endpoint needs.

Served side by side with Invites (same Flask, same gunicorn settings, same
database, the same prepared requests), it answers the question absolute
requests/s cannot on a shared machine: how far Invites is from what Flask
itself allows. ``make bench`` reports Invites' requests/s divided by the
floor's, run after run (``benchmarks/run.py``).

Each route does only what its endpoint cannot do without:

- validate: the signed-cookie session says who is signed in; one SELECT by code
  (with the company's name); JSON.
- invite page: one SELECT by code (company and inviter); a small Jinja page.
- accept: the session; one conditional UPDATE … RETURNING in a transaction,
  on ``floor_invitations`` (a copy made by ``prepare``) so that Invites' own
  counters and redemptions stay equal for the invariant check.
- toggle: the session; one UPDATE of the company's invitation … RETURNING; the
  card fragment.
- dashboard: the session; one SELECT of the company's 50 newest invitations;
  a Jinja page of 50 cards with their two forms, copy button and link.

No ORM, no Flask-Login, no CSRF check, no rate limiter, no request log of its
own (gunicorn's access log is on, as for Invites). Start it with
``gunicorn 'benchmarks.floor:create_app()'``; it reads ``DATABASE_URL`` and
``SECRET_KEY`` as Invites does.
"""

from __future__ import annotations

import json
import os

import sqlalchemy as sa
from flask import Flask, abort, render_template, request, session
from jinja2 import DictLoader

#: The session keys Invites puts there: Flask-Login's user id and the current company.
USER_KEY = "_user_id"
COMPANY_KEY = "company_id"
PER_PAGE = 50

# The same markup as Invites' pages (templates/base.html, invite/show.html,
# dashboard/_card.html), filled in with plain expressions: a page of the same weight.
TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false, "allowScriptTags": false, "selfRequestsOnly": true, "historyCacheSize": 10, "responseHandling": [{"code": "204", "swap": false}, {"code": "[23]..", "swap": true}, {"code": "422", "swap": true}, {"code": "409", "swap": true}, {"code": "[45]..", "swap": false, "error": true}]}'>
  <title>{% block title %}{% endblock %} · Invites</title>
  <link rel="icon" type="image/svg+xml" href="/static/favicon.svg">
  <link rel="stylesheet" href="/static/vendor/pico-2.1.1/pico.min.css">
  <link rel="stylesheet" href="/static/app.css">
  <script src="/static/vendor/htmx-2.0.11/htmx.min.js" defer></script>
  <script src="/static/app.js" defer></script>
</head>
<body hx-headers='{"X-CSRFToken": "{{ csrf }}"}'>
  <a class="skip-link" href="#main">Skip to content</a>
  <header class="container"><nav aria-label="Main"><ul><li><a href="/" class="brand"><strong>Invites</strong></a></li></ul>
    <ul>{% if company %}<li><a href="/dashboard">Dashboard</a></li><li><a href="/company/members">Members</a></li>
      <li><a href="/company/activity">Activity</a></li><li><span class="company-name">{{ company }}</span></li>
      <li><form action="/logout" method="post" class="inline"><input type="hidden" name="csrf_token" value="{{ csrf }}">
      <button type="submit" class="secondary outline">Log out</button></form></li>
    {%- else %}<li><a href="/login">Log in</a></li><li><a href="/register" role="button">Sign up</a></li>{% endif %}</ul>
  </nav></header>
  <main class="container" id="main"><div id="flashes" aria-live="polite"></div>{% block content %}{% endblock %}</main>
  <div id="announcer" class="visually-hidden" aria-live="polite" role="status"></div>
</body>
</html>""",
    "invite.html": """{% extends "base.html" %}{% block title %}Invitation to {{ row.company }}{% endblock %}
{% block content %}<article id="invite" class="invite narrow" hx-history="false">
    <h1>Join {{ row.company }}</h1>
    <p><strong>{{ row.inviter }}</strong> invited you to join <strong>{{ row.company }}</strong>.</p>
    <ul class="invite-facts">
      <li>{{ row.max_uses - row.used_count }} of {{ row.max_uses }} spots left</li>
      <li>Expires <time datetime="{{ row.expires_at }}">{{ row.expires_at }}</time></li>
    </ul>
      <p class="invite-actions">
        <a href="/login?next=%2Finvite%2F{{ row.code }}" role="button">Log in to accept</a>
        <a href="/register?next=%2Finvite%2F{{ row.code }}" role="button" class="secondary outline">Create an account to accept</a>
      </p>
</article>{% endblock %}""",
    "_card.html": """{% macro card(inv) -%}
{%- set name = inv.code[:12] ~ '…' -%}
{%- set card_id = 'invitation-' ~ inv.id -%}
{%- set url = '/dashboard/company/invitations/' ~ inv.id -%}
<article id="{{ card_id }}" class="invitation-card"
         hx-target="this" hx-swap="outerHTML"
         aria-labelledby="{{ card_id }}-code" tabindex="-1">
  <header class="card-head">
    <code id="{{ card_id }}-code" class="invitation-code">{{ name }}</code>
    <span class="badge badge-pending">PENDING</span>
    <span class="badge badge-uses">{{ inv.used_count }}/{{ inv.max_uses }} uses</span>
  </header>
  <p class="card-line"><span aria-hidden="true">📅</span>
    Expires:
    <time datetime="{{ inv.expires_at }}">{{ inv.expires_at }}</time>
  </p>
  <footer class="actions">
    <form action="{{ url }}/active" method="post" class="inline"
          hx-post="{{ url }}/active" hx-indicator="find .spinner" hx-disabled-elt="find button">
      <input type="hidden" name="csrf_token" value="{{ csrf }}">
      <input type="hidden" name="next" value="/dashboard/company">
      <input type="hidden" name="company_id" value="{{ company_id }}">
      <input type="hidden" name="active" value="{{ '0' if inv.is_active else '1' }}">
      <button type="submit" id="{{ card_id }}-toggle" class="secondary" aria-label="Pause invitation {{ name }}">
        <span class="spinner htmx-indicator" aria-hidden="true"></span> {{ 'Pause' if inv.is_active else 'Start' }}
      </button>
    </form>
    <button type="button" id="{{ card_id }}-copy" class="copy-link outline" data-link="{{ base }}invite/{{ inv.code }}"
            aria-label="Copy link of invitation {{ name }}">Copy Link</button>
    <input type="text" readonly class="link-field" id="{{ card_id }}-link" value="{{ base }}invite/{{ inv.code }}"
           aria-label="Link of invitation {{ name }}">
    <form action="{{ url }}/revoke" method="post" class="inline"
          hx-post="{{ url }}/revoke" hx-vals='{"confirm": "yes"}'
          hx-confirm="Revoke invitation {{ name }}? Nobody will be able to join with it any more."
          hx-indicator="find .spinner" hx-disabled-elt="find button">
      <input type="hidden" name="csrf_token" value="{{ csrf }}">
      <input type="hidden" name="next" value="/dashboard/company">
      <input type="hidden" name="company_id" value="{{ company_id }}">
      <button type="submit" id="{{ card_id }}-revoke" class="contrast outline" aria-label="Revoke invitation {{ name }}">
        <span class="spinner htmx-indicator" aria-hidden="true"></span> Revoke
      </button>
    </form>
  </footer>
  <details class="invitation-activity" hx-get="{{ url }}/activity" hx-trigger="toggle once"
           hx-target="find .invitation-activity-body" hx-swap="innerHTML">
    <summary>Activity</summary>
    <div class="invitation-activity-body" aria-live="polite">
      <a href="{{ url }}/activity">See the activity of invitation {{ name }}</a>
    </div>
  </details>
</article>
{%- endmacro %}{% if inv is defined %}{{ card(inv) }}{% endif %}""",
    "dashboard.html": """{% extends "base.html" %}{% block title %}Invitations{% endblock %}
{% block content %}{% from "_card.html" import card with context %}<h1>Invitations of {{ company }}</h1>
<section class="invitations" aria-labelledby="list-heading">
  <h2 id="list-heading">Invitations</h2>
  <div id="invitation-list" class="invitation-list">
    {%- for inv in rows %}
    {{ card(inv) }}
    {%- endfor %}
  </div>
</section>{% endblock %}""",
}

#: The accept's condition, judged by the database's clock as Invites' is.
DB_NOW = {"sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')", "postgresql": "clock_timestamp()"}


def prepare(engine: sa.Engine) -> None:
    """Copy the invitations' counters to ``floor_invitations``, where the floor's accepts count."""
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS floor_invitations"))
        conn.execute(
            sa.text(
                "CREATE TABLE floor_invitations AS SELECT id, code, is_active, revoked_at, expires_at, "
                "max_uses, used_count FROM company_invitations"
            )
        )
        conn.execute(sa.text("CREATE UNIQUE INDEX uq_floor_invitations_code ON floor_invitations (code)"))


def create_app() -> Flask:
    """The floor app, configured from ``DATABASE_URL`` and ``SECRET_KEY``."""
    app = Flask(__name__, static_folder=None)
    app.secret_key = os.environ["SECRET_KEY"]
    app.jinja_loader = DictLoader(TEMPLATES)
    url = os.environ["DATABASE_URL"]
    engine = sa.create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    app.extensions["floor_engine"] = engine
    now = DB_NOW[engine.dialect.name]
    by_code = sa.text(
        "SELECT i.code, i.email, i.max_uses, i.used_count, i.is_active, i.expires_at, i.revoked_at, "
        "c.id AS company_id, c.name AS company, u.name AS inviter FROM company_invitations i "
        "JOIN companies c ON c.id = i.company_id JOIN users u ON u.id = i.created_by WHERE i.code = :code"
    )
    use_one = sa.text(
        "UPDATE floor_invitations SET used_count = used_count + 1 WHERE code = :code AND is_active "
        f"AND revoked_at IS NULL AND expires_at > {now} AND used_count < max_uses "
        "RETURNING used_count, max_uses"
    )
    set_active = sa.text(
        "UPDATE company_invitations SET is_active = :active WHERE id = :id AND company_id = :company "
        "RETURNING id, code, is_active, used_count, max_uses, expires_at"
    )
    page = sa.text(
        "SELECT i.id, i.code, i.is_active, i.used_count, i.max_uses, i.expires_at, c.name AS company "
        "FROM company_invitations i JOIN companies c ON c.id = i.company_id "
        "WHERE i.company_id = :company ORDER BY i.created_at DESC, i.id DESC LIMIT :n"
    )

    def signed_in() -> None:
        if USER_KEY not in session:
            abort(401)

    def code_from_body() -> str:
        body = json.loads(request.get_data() or b"{}")
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str):
            abort(400)
        return code

    @app.post("/api/companies/invitations/validate")
    def validate():
        signed_in()
        with engine.connect() as conn:
            row = conn.execute(by_code, {"code": code_from_body()}).first()
        if row is None:
            return {"error": "Invitation not found"}, 404
        return {
            "valid": True,
            "invitation": {
                "code": row.code,
                "email": None,
                "maxUses": row.max_uses,
                "usedCount": row.used_count,
                "remainingUses": row.max_uses - row.used_count,
                "status": "PENDING",
                "isActive": bool(row.is_active),
                "expiresAt": str(row.expires_at),
                "company": {"id": row.company_id, "name": row.company},
            },
        }

    @app.get("/invite/<code>")
    def invite(code: str):
        with engine.connect() as conn:
            row = conn.execute(by_code, {"code": code}).first()
        if row is None:
            abort(404)
        return render_template("invite.html", row=row, csrf="")

    @app.post("/api/companies/invitations/accept")
    def accept():
        signed_in()
        with engine.begin() as conn:
            row = conn.execute(use_one, {"code": code_from_body()}).first()
        if row is None:
            return {"error": "This invitation has reached its maximum number of uses"}, 409
        return {"success": True, "invitation": {"usedCount": row.used_count, "maxUses": row.max_uses}}

    @app.post("/dashboard/company/invitations/<int:invitation_id>/active")
    def toggle(invitation_id: int):
        signed_in()
        active = request.form.get("active") == "1"
        with engine.begin() as conn:
            row = conn.execute(
                set_active, {"active": active, "id": invitation_id, "company": session.get(COMPANY_KEY)}
            ).first()
        if row is None:
            abort(404)
        return render_template(
            "_card.html",
            inv=row,
            csrf=session.get("csrf_token", ""),
            base=request.host_url,
            company_id=session.get(COMPANY_KEY),
        )

    @app.get("/dashboard/company")
    def dashboard():
        signed_in()
        with engine.connect() as conn:
            rows = conn.execute(page, {"company": session.get(COMPANY_KEY), "n": PER_PAGE}).all()
        return render_template(
            "dashboard.html",
            rows=rows,
            csrf=session.get("csrf_token", ""),
            base=request.host_url,
            company_id=session.get(COMPANY_KEY),
            company=rows[0].company if rows else "",
        )

    @app.get("/healthz")
    def healthz():
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {"status": "ok"}

    return app
