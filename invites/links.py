"""Absolute links to invitations, for copying and sharing."""
from __future__ import annotations

from flask import current_app, url_for


def invite_url(code: str) -> str:
    """The shareable link for ``code``: under ``PUBLIC_URL`` when set, else this request's host."""
    public_url = current_app.config.get("PUBLIC_URL")
    if public_url:
        return public_url + "/invite/" + code
    return url_for("invite.show", code=code, _external=True)
