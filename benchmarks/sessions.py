"""Session cookies for seeded users, signed with the app's own session interface.

Logging 1,000 users in through ``POST /login`` would cost 1,000 password hashes
(scrypt: seconds of CPU each batch, on the machine being measured) and a CSRF
round trip each. Instead, inside a request context of the same app and secret,
Flask-Login's ``login_user`` fills the session exactly as a real login does,
Flask-WTF's ``generate_csrf`` adds the CSRF secret, and the app's session
interface signs the result: the server cannot tell these cookies from ones it
issued itself. Flask-Login's session protection binds a session to the client's
address and User-Agent, so the load generator must send ``USER_AGENT`` from
127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, session
from flask_login import login_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from invites.extensions import db
from invites.models import User
from invites.tenancy import SESSION_KEY

USER_AGENT = "invites-bench/1"


@dataclass(frozen=True)
class SignedSession:
    """A session cookie (``name=value``) and the CSRF token that goes with it."""

    cookie_name: str
    cookie_value: str
    csrf_token: str

    @property
    def cookie_header(self) -> str:
        return f"{self.cookie_name}={self.cookie_value}"


def signed_session(
    app: Flask,
    user_id: int,
    company_id: int | None = None,
    *,
    user_agent: str = USER_AGENT,
    remote_addr: str = "127.0.0.1",
) -> SignedSession:
    """Sign a session in which ``user_id`` is logged in (and ``company_id`` is current)."""
    with app.test_request_context("/", headers={"User-Agent": user_agent}, environ_base={"REMOTE_ADDR": remote_addr}):
        # A transient User: login_user only needs its id and session token (the cookie
        # carries "<id>:<token>", which the loader checks); nothing else is loaded or stored.
        token = db.session.scalar(select(User.session_token).where(User.id == user_id))
        login_user(User(id=user_id, session_token=token))
        if company_id is not None:
            session[SESSION_KEY] = company_id
        token = generate_csrf()
        value = app.session_interface.get_signing_serializer(app).dumps(dict(session))
    return SignedSession(app.config["SESSION_COOKIE_NAME"], value, token)
