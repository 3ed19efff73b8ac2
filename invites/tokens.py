"""Signed tokens in emailed links: confirm an address, reset a password, open an invitation.

``itsdangerous.URLSafeTimedSerializer`` with the app's secret key and a salt per
purpose, so a token made for one purpose is worthless for another. Each payload
names something its use changes, which makes the token single use:

* confirm: the address, and only while the account is unverified;
* reset: a digest of the current password hash, which the reset replaces;
* invite: the invitation and its target address (proof of reading that mailbox,
  good while the invitation lasts).
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer


class Purpose(enum.Enum):
    """A token's purpose: its salt and how long it is valid, in seconds."""

    CONFIRM = ("invites.confirm-email", 48 * 3600)
    RESET = ("invites.reset-password", 3600)
    INVITE = ("invites.invitation-email", 31 * 24 * 3600)

    @property
    def salt(self) -> str:
        return self.value[0]

    @property
    def max_age(self) -> int:
        return self.value[1]


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=purpose.salt)


def make(purpose: Purpose, payload: dict[str, Any]) -> str:
    """A URL-safe token for ``payload``, signed for ``purpose``."""
    return _serializer(purpose).dumps(payload)


def read(purpose: Purpose, token: Any) -> dict[str, Any] | None:
    """The payload of a valid, unexpired token for ``purpose``, else None (never raises)."""
    if not isinstance(token, str) or not token or len(token) > 1000:
        return None
    try:
        payload = _serializer(purpose).loads(token, max_age=purpose.max_age)
    except BadData:
        return None
    return payload if isinstance(payload, dict) else None


def password_fingerprint(password_hash: str) -> str:
    """A short digest of a password hash: it changes with the password, and reveals nothing of it."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]
