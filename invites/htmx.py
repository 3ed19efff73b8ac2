"""Small helpers for answering htmx requests and plain browser requests alike."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx_request() -> bool:
    """True for any request made by htmx, fragment or not."""
    return request.headers.get("HX-Request") == "true"


def is_htmx() -> bool:
    """True for an htmx request that wants a fragment.

    Not a boosted link (it wants the whole page) and not a history restore:
    htmx 2 sends those with ``HX-Request`` too when its snapshot is gone, and
    they must get the whole page back, or Back shows a bare fragment.
    """
    return (
        is_htmx_request()
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def current_page() -> str | None:
    """Path and query of the page an htmx request came from (``HX-Current-URL``).

    None when the header is missing or is not a URL at all; callers still pass
    the result through ``safe_next`` before redirecting to it.
    """
    try:
        parts = urlsplit(request.headers.get("HX-Current-URL", ""))
    except ValueError:
        return None
    if not parts.path:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def render_page_or_fragment(template: str, block: str | None = None, status: int = 200, **context) -> Response:
    """Render the whole page, or, for htmx, only its named ``block``.

    The one place that decides; the answer varies on ``HX-Request`` so that
    caches keep the two apart.
    """
    if block is not None and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def trigger(response: Response, event: str, detail: object = True) -> Response:
    """Add an ``HX-Trigger`` event so other parts of the page react to a change."""
    existing = response.headers.get("HX-Trigger")
    events = json.loads(existing) if existing else {}
    events[event] = detail
    response.headers["HX-Trigger"] = json.dumps(events)
    return response
