"""The invite page at ``/invite/<code>``."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("invite", __name__, url_prefix="/invite")
