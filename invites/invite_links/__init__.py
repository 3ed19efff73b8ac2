"""Shareable invite links: what an invitee sees and how they accept."""

from .routes import bp

__all__ = ["bp"]
