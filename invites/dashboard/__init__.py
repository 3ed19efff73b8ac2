"""The invitation dashboard of a company's admins and owners."""

from . import exports  # noqa: F401  (its views: QR codes and CSV files, on the same blueprint)
from .routes import bp

__all__ = ["bp"]
