"""Security headers on every answer: pages, htmx fragments, JSON, errors, static files.

Cookies are configured in ``config.py``: ``HttpOnly`` and ``SameSite=Lax``
always, ``Secure`` outside development.
"""
from __future__ import annotations

from flask import Flask, Response, current_app, request

#: Only this site's own files run or style anything: no inline ``<script>``, no
#: ``style=`` attributes, no ``eval`` (htmx is configured for that in base.html:
#: ``allowEval: false``, ``includeIndicatorStyles: false``). Pico CSS draws its
#: icons with ``data:`` SVGs, hence ``img-src data:``. ``frame-ancestors 'none'``
#: stops clickjacking of the Join and Revoke buttons; ``base-uri 'none'`` and
#: ``form-action 'self'`` keep injected markup from redirecting links or forms.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

#: Why ``same-origin``: an invite link carries its code in the path, so any
#: Referer sent to another site from the invite page (a link the company put in
#: its name, a mail client's preview) would hand the code to that site's logs.
#: ``same-origin`` sends no Referer at all across origins. ``no-referrer`` would
#: be stricter still but breaks Flask-WTF: over HTTPS (``WTF_CSRF_SSL_STRICT``,
#: on by default) it refuses any form POST or htmx request whose Referer is
#: missing or from another origin. ``same-origin`` keeps the full Referer on our
#: own requests, so that check passes.
REFERRER_POLICY = "same-origin"

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": REFERRER_POLICY,
    "X-Content-Type-Options": "nosniff",
    # For browsers that predate frame-ancestors.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

#: Sent only over HTTPS in production: once a browser sees it, it never uses
#: plain HTTP for this host again.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def _add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure and current_app.config.get("INVITES_ENV") == "production":
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response


def register(app: Flask) -> None:
    """Add the headers to every response of ``app``."""
    app.after_request(_add_headers)
