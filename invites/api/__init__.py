"""The JSON API of seed 003."""

from .routes import bp

__all__ = ["bp"]
