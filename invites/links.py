"""Links: absolute links to invitations, and ``url_for`` for many rows of one page.

Absolute links (the API's ``url``, Copy Link, emails) come from ``public_base``
and ``invite_url`` only: ``PUBLIC_URL`` (required in production), or in
development the request's host when it is a loopback name. A ``Host`` header
can be forged; a link built on it would send invitees (and their codes)
wherever the forger likes.

``url_for`` asks the routing map to build each URL, a few microseconds a call.
A page of 50 invitation cards asked for about 170 links (Pause/Start, Revoke,
Who used it, the invite link), 1.3 ms of its rendering (docs/performance.md).
``url_pattern`` builds each kind of link once and fills in the varying part
per row, so the route table stays the only place that knows the shape of a URL.
``fixed_url_for``, templates' ``url_for``, keeps the links that take no value
(the navigation, static files with their fingerprint) once built.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from flask import current_app, has_request_context, request, url_for

# Stands in for the varying value while url_for builds the pattern: a number, so
# that integer routes accept it, and long enough never to occur in a URL by chance.
_MARKER = 918_273_645_564_738_291
# What werkzeug's converters leave unquoted in a path segment (BaseConverter.to_url),
# and the characters quoting never touches (invitation codes use only these).
_PATH_SAFE = "!$&'()*+,/:;=@"
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


@dataclass(frozen=True)
class UrlPattern:
    """One route's URL around a hole; calling it with a value gives what ``url_for`` would."""

    before: str
    after: str

    def __call__(self, value: int | str) -> str:
        text = str(value)
        # An id (the cards' links) never needs quoting; a code or other text is checked.
        if type(value) is not int and not _UNRESERVED.fullmatch(text):
            text = quote(text, safe=_PATH_SAFE)
        return f"{self.before}{text}{self.after}"


def url_pattern(endpoint: str, name: str, **values) -> UrlPattern:
    """``url_for(endpoint, name=…, **values)`` as a pattern, built once per request
    (``_external``: it holds the request's host) or once per process and script root.

    For routes whose ``name`` is an ``int`` or a plain string segment (the
    default converter); ``values`` are the parts that stay the same (``_external``).
    """
    key = (endpoint, name, tuple(sorted(values.items())))
    if not has_request_context():
        cache = {}
    elif values.get("_external"):
        # Kept in the WSGI environ: one request's host and scheme, never another's.
        cache = request.environ.setdefault("invites.url_patterns", {})
    else:
        # A path depends on the route table and the script root only: kept for the process.
        cache = current_app.extensions.setdefault("invites.url_patterns", {})
        key = (request.script_root, *key)
    pattern = cache.get(key)
    if pattern is None:
        url = url_for(endpoint, **{name: _MARKER}, **values)
        before, found, after = url.partition(str(_MARKER))
        if not found or "?" in before or str(_MARKER) in after:
            raise ValueError(f"{endpoint}: {name} is not one path segment of {url}")
        pattern = cache[key] = UrlPattern(before, after)
    return pattern


def _hostname(host: str) -> str | None:
    """The name in a ``Host`` value (``[::1]:5000`` → ``::1``), None if it is not one."""
    try:
        return urlsplit("//" + host).hostname
    except ValueError:
        return None


def is_loopback(hostname: str | None) -> bool:
    """``localhost``, ``*.localhost``, 127.0.0.0/8 or ``::1``: a name only this machine reaches."""
    if not hostname:
        return False
    name = hostname.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def public_base() -> str:
    """``scheme://host[:port]`` (and any prefix) that absolute links and the site's origin use.

    ``PUBLIC_URL`` when set. Otherwise (development only: production requires it)
    the request's own address if its host is a loopback name, else
    ``http://localhost:<the port the server listens on>``: a forged ``Host`` never
    makes it into a link.
    """
    public_url = current_app.config.get("PUBLIC_URL")
    if public_url:
        return public_url
    if is_loopback(_hostname(request.host)):
        return request.host_url.rstrip("/") + request.script_root
    return f"http://localhost:{request.environ.get('SERVER_PORT', '80')}{request.script_root}"


def invite_url_pattern() -> UrlPattern:
    """``invite_url`` as a pattern, worked out once for a page of many invitations."""
    public_url = current_app.config.get("PUBLIC_URL")
    if public_url:
        return UrlPattern(public_url + "/invite/", "")
    cache = request.environ.setdefault("invites.url_patterns", {})
    pattern = cache.get("invite_url")
    if pattern is None:
        path = url_pattern("invite.show", "code")  # starts with the script root
        base = public_base().removesuffix(request.script_root)
        pattern = cache["invite_url"] = UrlPattern(base + path.before, path.after)
    return pattern


def invite_url(code: str) -> str:
    """The shareable link for ``code``, on ``public_base()``."""
    return invite_url_pattern()(code)


def fixed_url_for(endpoint: str, **values) -> str:
    """Templates' ``url_for``: the same URL, kept for the process when it cannot vary.

    A link without values (``url_for('dashboard.home')``) or to a static file
    (``url_for('static', filename=…)``, fingerprinted by ``security``) is the same
    path on every request with the same script root; every page built the same
    dozen again (base.html), a few microseconds each. Anything else (values, a
    relative endpoint, ``_external``) goes to ``url_for`` as before. In debug
    mode static files are not kept: their fingerprint follows the file.
    """
    static = endpoint == "static" and values.keys() == {"filename"} and not current_app.debug
    if (values and not static) or endpoint.startswith(".") or not has_request_context():
        return url_for(endpoint, **values)
    cache = current_app.extensions.setdefault("invites.fixed_urls", {})
    key = (request.script_root, endpoint, values.get("filename"))
    url = cache.get(key)
    if url is None:
        url = cache[key] = url_for(endpoint, **values)
    return url
