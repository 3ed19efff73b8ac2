"""A real SMTP server for the tests: aiosmtpd on a loopback port, in a thread.

It keeps every message it accepted; ``mode`` makes it answer as a server in
trouble would: ``"accept"``, ``"tempfail"`` (451 to the data), ``"reject"``
(550), or ``"stall"`` (wait before answering the data, for kill tests).
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One accepted message, parsed."""

    recipients: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()

    def link(self) -> str:
        """The one link of the plain-text part."""
        return re.search(r"https?://\S+", self.text).group(0)


@dataclass
class Handler:
    mode: str = "accept"
    stall_seconds: float = 30.0
    received: list[Received] = field(default_factory=list)
    data_started: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):
        self.data_started.set()
        if self.mode == "tempfail":
            return "451 4.3.0 Try again later"
        if self.mode == "reject":
            return "550 5.1.1 No such mailbox here"
        if self.mode == "stall":
            import asyncio

            # A server that never answered: whatever happens meanwhile, this copy is not taken.
            await asyncio.sleep(self.stall_seconds)
            return "451 4.4.2 Timed out"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 2.0.0 Queued"


class SMTPServer:
    """``with SMTPServer() as smtp: … smtp.url … smtp.received``."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = Handler()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> "SMTPServer":
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]
