"""The invite page at ``/invite/<code>``."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("invite", __name__, url_prefix="/invite")


@bp.get("/<code>")
def show(code: str):
    """Placeholder for the invite page, so that ``links.invite_url`` can build links.

    The invite-links issue replaces this view with the real page.
    """
    return "The invite page is not built yet.", 200, {"Content-Type": "text/plain; charset=utf-8"}
