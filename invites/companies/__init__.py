"""Companies: members, roles, and switching between companies."""

from .routes import bp

__all__ = ["bp"]
