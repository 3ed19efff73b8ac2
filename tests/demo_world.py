"""A demo company at scale (``invites.demo``) in the test database, for a whole test module."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask

from invites import create_app, demo
from invites.extensions import db

from .conftest import _empty_all_tables, base_config


@dataclass
class World:
    """An app over a database holding one demo company of a given size."""

    app: Flask
    data: demo.DemoData
    size: int
    _next_ready: int = 0

    def ready_user(self) -> int:
        """The index of a ready user (in no company yet) not handed out before."""
        self._next_ready += 1
        return self._next_ready - 1


@contextmanager
def demo_world(database_url: str, invitations_count: int, **seed_options):
    """Seed the demo company, yield it, then empty every table (even if the tests failed)."""
    app = create_app(base_config(database_url))
    try:
        with app.app_context():
            data = demo.seed(invitations_count=invitations_count, **seed_options)
            db.session.remove()
        yield World(app, data, invitations_count)
    finally:
        with app.app_context():
            db.session.remove()
            _empty_all_tables()
            db.engine.dispose()
