"""Gunicorn's access log without invitation codes (``gunicorn.conf.py`` selects it).

Gunicorn formats each access line from "atoms": the request line, path,
query string, Referer, any request or response header, environ values. An
invite link puts its code in the path, and from there it reaches the
Referer of the next request and ``next=`` parameters and redirect Locations;
every string atom is therefore masked before formatting, whatever
``access_log_format`` an operator chooses.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from .masking import mask_codes


class CodeMaskingLogger(Logger):
    """Gunicorn's logger with every invitation code masked in access lines."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: mask_codes(value) if isinstance(value, str) else value for name, value in atoms.items()}
