"""Small helpers for answering htmx requests and plain browser requests alike."""
from __future__ import annotations

import json

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """True for an htmx request that wants a fragment (not a boosted page load)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render_page_or_fragment(
    template: str, block: str | None = None, status: int = 200, **context
) -> Response:
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
