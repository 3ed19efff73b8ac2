"""Security headers on every answer, and the CSRF token as templates ask for it.

Cookies are configured in ``config.py``: ``HttpOnly`` and ``SameSite=Lax``
always, ``Secure`` outside development.
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask, Response, current_app, g, request
from flask_wtf.csrf import generate_csrf

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


#: Pages and API answers carry codes, links, names and addresses: no browser or proxy
#: cache keeps them (a shared computer's Back button, a proxy's disk).
NO_STORE = "no-store"
#: A static file asked for with its content's fingerprint (``?v=``) never changes.
IMMUTABLE = "public, max-age=31536000, immutable"


#: ``SECURITY_HEADERS`` with the lower-case name each is looked up by.
_SECURITY_HEADERS = [(name.lower(), name, value) for name, value in SECURITY_HEADERS.items()]


def _add_headers(response: Response) -> Response:
    """Each header the view has not set itself (as ``setdefault`` would do).

    The names already present are read once: werkzeug's ``Headers.setdefault``
    raises and catches a ``KeyError`` for each missing name, about 3 µs apiece
    on every answer.
    """
    headers = response.headers
    present = {name.lower() for name in headers.keys()}
    for key, name, value in _SECURITY_HEADERS:
        if key not in present:
            headers.add(name, value)
    if request.is_secure and current_app.config.get("INVITES_ENV") == "production":
        headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    if request.endpoint != "static":
        if "cache-control" not in present:
            headers.add("Cache-Control", NO_STORE)
    elif response.status_code == 200 and request.args.get("v") == static_version(request.view_args["filename"]):
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers.pop("Expires", None)
    return response


# --- static files: a fingerprint in the URL, cached for a year ------------------

_static_versions: dict[str, tuple[float, str]] = {}


def static_version(filename: str) -> str:
    """The first 12 hex digits of the file's SHA-256 (kept per process, renewed when it changes)."""
    path = os.path.join(current_app.static_folder, filename)
    try:
        mtime = os.stat(path).st_mtime if current_app.debug or filename not in _static_versions else None
    except OSError:
        return ""
    known = _static_versions.get(filename)
    if known is not None and (mtime is None or known[0] == mtime):
        return known[1]
    with open(path, "rb") as file:
        digest = hashlib.sha256(file.read()).hexdigest()[:12]
    _static_versions[filename] = (mtime or 0.0, digest)
    return digest


def _fingerprint_static_urls(endpoint: str, values: dict) -> None:
    """``url_for('static', filename=…)`` adds ``?v=<fingerprint>``: a new file is a new URL."""
    if endpoint == "static" and "v" not in values and "filename" in values:
        version = static_version(values["filename"])
        if version:
            values["v"] = version


def csrf_token() -> str:
    """Flask-WTF's CSRF token, worked out once per request for every form on the page.

    ``generate_csrf`` gives the same token all request long too, but reads four
    settings on every call (about 4 µs); a page of 50 invitation cards has 100
    forms. Templates call ``csrf_token()`` as before (see ``serve_csrf_token``).
    """
    token = g.get("_template_csrf_token")
    if token is None:
        token = g._template_csrf_token = generate_csrf()
    return token


def serve_csrf_token(app: Flask) -> None:
    """Make templates' ``csrf_token()`` the one above (call after ``csrf.init_app``).

    Flask-WTF offers its own both as a template global and from a context
    processor, which wins over globals; this replaces both.
    """
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})


def register(app: Flask) -> None:
    """Add the headers to every response of ``app``; fingerprint static URLs."""
    app.after_request(_add_headers)
    app.url_defaults(_fingerprint_static_urls)
