"""The session cookie: Flask's signed cookie, with its signing serializer built once.

Flask's ``SecureCookieSessionInterface`` builds a new ``URLSafeTimedSerializer``
on every request to open the session (even without a cookie) and again to save
it: a dozen Python calls each time, for an object that only holds the keys, the
salt and the JSON serializer. This one keeps it for as long as the secret keys
stay the same. The serializer holds no state between calls (it makes a signer
per ``loads``/``dumps``), so threads share it safely; cookies are signed and
read exactly as before.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with one serializer per set of secret keys."""

    def __init__(self) -> None:
        self._serializer: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        known = self._serializer
        if known is not None and known[0] == keys:
            return known[1]
        serializer = super().get_signing_serializer(app)
        self._serializer = (keys, serializer)
        return serializer
