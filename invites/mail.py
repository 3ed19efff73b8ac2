"""Sending one email: the ``MAIL_URL`` backends (SMTP, SMTP+STARTTLS, SMTPS, console).

Like Django's email backends: SMTP in production, the console in development
(every email printed whole, links included, so a newcomer can follow them from
the terminal), and a real SMTP server in the tests. Messages are built with
Python's ``email`` package. Which emails exist and when they are sent is
``outbox``'s business; this module only knows how to hand one to a server and
how to read the server's answer.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

logger = logging.getLogger("invites.mail")

SCHEMES = {"smtp", "smtp+starttls", "smtps", "console"}
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
#: Seconds to wait for the server at each step; a worker never hangs on a silent one.
SMTP_TIMEOUT = 15


class MailConfigError(RuntimeError):
    """``MAIL_URL`` cannot be used."""


@dataclass(frozen=True)
class MailSettings:
    """A parsed ``MAIL_URL``."""

    scheme: str
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def console(self) -> bool:
        return self.scheme == "console"


def parse_mail_url(url: str | None) -> MailSettings:
    """``smtp://host:port``, ``smtp+starttls://user:pass@host:587``, ``smtps://…:465`` or ``console://``."""
    if not url:
        return MailSettings("console")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise MailConfigError(
            f"MAIL_URL must start with smtp://, smtp+starttls://, smtps:// or console://, not {parts.scheme or url!r}."
        )
    if scheme == "console":
        return MailSettings("console")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise MailConfigError("MAIL_URL has a port that is not a number.") from None
    if not parts.hostname:
        raise MailConfigError("MAIL_URL names no host.")
    return MailSettings(
        scheme,
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True)
class Outcome:
    """What the server said: sent, or a failure that is temporary or permanent, with its reply."""

    sent: bool
    permanent: bool = False
    reply: str = ""


def build_message(
    *, sender: str, recipient: str, subject: str, text: str, html: str, message_id: str, date
) -> EmailMessage:
    """A multipart/alternative message (plain text first, then HTML) with a fixed Message-ID."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(date)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()[:500]


def send(settings: MailSettings, message: EmailMessage) -> Outcome:
    """Hand ``message`` to the server; ``Outcome.sent`` only when it answered 250 to the data.

    Connection failures and 4xx replies are temporary (try again later); 5xx
    replies are permanent. A message refused for some recipients only (there is
    only ever one) counts as refused.
    """
    if settings.console:
        print_message(message)
        return Outcome(sent=True, reply="printed to the console")
    try:
        if settings.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT)
        with client:
            if settings.scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.username:
                client.login(settings.username, settings.password or "")
            refused = client.send_message(message)
            if refused:
                code, text = next(iter(refused.values()))
                return Outcome(sent=False, permanent=code >= 500, reply=_reply(code, text))
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return Outcome(sent=False, permanent=code >= 500, reply=_reply(code, text))
    except smtplib.SMTPResponseException as exc:
        return Outcome(sent=False, permanent=exc.smtp_code >= 500, reply=_reply(exc.smtp_code, exc.smtp_error))
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        return Outcome(sent=False, reply=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(sent=True, reply="250 accepted")


def print_message(message: EmailMessage) -> None:
    """The console backend: the whole plain-text email, links in full, on standard error.

    Written past the logging handlers on purpose: they mask invitation codes,
    and the point of this backend is a link the developer can follow.
    """
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    rule = "-" * 72
    sys.stderr.write(
        f"{rule}\nEmail (console backend, not sent)\nFrom: {message['From']}\nTo: {message['To']}\n"
        f"Subject: {message['Subject']}\nMessage-ID: {message['Message-ID']}\n\n{text.rstrip()}\n{rule}\n"
    )
    sys.stderr.flush()
