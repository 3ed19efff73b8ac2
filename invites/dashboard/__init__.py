"""The invitation dashboard of a company's admins and owners."""
from .routes import bp

__all__ = ["bp"]
