"""Configuration: defaults here, overridden by the environment, then by tests."""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit


def _flag(name: str, default: bool) -> bool:
    """Read a boolean environment variable (``false``/``0``/``no``/``off`` are false)."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def _whole_number(name: str, default: int) -> int:
    """Read a non-negative integer environment variable; anything else is an error at start-up."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise RuntimeError(f"{name} must be a whole number, not {value!r}.")
    return int(value)


def _seconds_below_worker_timeout(name: str, default: int) -> int:
    """A database wait in whole seconds, from 1 to 29: gunicorn kills a worker at 30."""
    value = _whole_number(name, default)
    if not 1 <= value < 30:
        raise RuntimeError(f"{name} must be from 1 to 29 seconds (gunicorn's worker timeout is 30), not {value}.")
    return value


def _database_url(instance_path: Path) -> str:
    """``DATABASE_URL``, with a plain ``postgresql://`` URL mapped to psycopg 3."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{instance_path / 'invites.sqlite3'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _public_url(development: bool) -> str | None:
    """``PUBLIC_URL`` without its trailing slash: required in production, checked always.

    Absolute links (the API's ``url``, Copy Link, emails) are built on it; without
    it a forged ``Host`` header would choose where an invite link points.
    """
    value = os.environ.get("PUBLIC_URL", "").strip().rstrip("/")
    if not value:
        if not development:
            raise RuntimeError(
                "PUBLIC_URL is not set. Set it to the address people open, e.g. "
                "https://invites.example.com: invite links are built on it. "
                "Or set INVITES_ENV=development to build them from a loopback request's host."
            )
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise RuntimeError(f"PUBLIC_URL must be an http:// or https:// address, not {value!r}.")
    return value


def _trusted_hosts(public_url: str | None, development: bool) -> list[str] | None:
    """Host names the app answers to (Flask's ``TRUSTED_HOSTS``); others get 400.

    Production: ``PUBLIC_URL``'s host, plus any in ``TRUSTED_HOSTS`` (comma-separated,
    e.g. the address a load balancer's health check uses). Development: any host
    (links are still built only from loopback ones: ``links.public_base``).
    """
    extra = [h.strip().lower() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()]
    if development and not extra:
        return None
    hosts = [urlsplit(public_url).hostname] if public_url else []
    return hosts + [h for h in extra if h not in hosts]


def _development_secret(instance_path: Path) -> str:
    """A secret generated once per checkout and kept under ``instance/``."""
    path = instance_path / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(instance_path: str) -> dict:
    """Build the configuration mapping from the environment.

    ``INVITES_ENV`` is ``production`` unless set to ``development`` (the
    ``.flaskenv`` of a checkout does that for the ``flask`` command), so a
    server started without it is strict: it needs ``SECRET_KEY`` and
    ``PUBLIC_URL``, answers only to ``PUBLIC_URL``'s host (and ``TRUSTED_HOSTS``),
    and sends cookies only over HTTPS.
    """
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    development = os.environ.get("INVITES_ENV", "production").strip().lower() == "development"

    secret_key = os.environ.get("SECRET_KEY", "").strip()
    if not secret_key:
        if not development:
            raise RuntimeError(
                "SECRET_KEY is not set. Set it to a long random value "
                "(python -c 'import secrets; print(secrets.token_hex(32))'), "
                "or set INVITES_ENV=development to use a generated one."
            )
        secret_key = _development_secret(instance)

    public_url = _public_url(development)
    redis_url = os.environ.get("REDIS_URL", "").strip() or None
    rate_limits = _flag("RATELIMIT_ENABLED", True)
    storage = os.environ.get("RATELIMIT_STORAGE_URI", "").strip() or redis_url
    if storage is None:
        if rate_limits and not development:
            # Counted in each process's memory, every gunicorn worker and host would
            # grant the full allowance again: a guesser would get N times the tries.
            raise RuntimeError(
                "REDIS_URL is not set: rate limits need storage that every worker and host "
                "shares. Set REDIS_URL, or RATELIMIT_STORAGE_URI=memory:// for a single "
                "process, or RATELIMIT_ENABLED=false."
            )
        storage = "memory://"
    mail_url, mail_from = _mail(development)
    return {
        "INVITES_ENV": "development" if development else "production",
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": _database_url(instance),
        "REDIS_URL": redis_url,
        # Flask-Limiter's keys: Redis shares the counters between processes and hosts.
        "RATELIMIT_ENABLED": rate_limits,
        "RATELIMIT_STORAGE_URI": storage,
        # If Redis goes away, count in memory (per process) and log it, rather than
        # answer every rate-limited request with a 500 (``limits.register``).
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": not storage.startswith("memory://"),
        # How many proxies in front of the app set X-Forwarded-For/-Proto/-Host.
        # Rate limits per client need the real address, and Flask-WTF's HTTPS
        # referrer check needs to know the request came over HTTPS.
        "TRUSTED_PROXIES": _whole_number("TRUSTED_PROXIES", 0),
        "PUBLIC_URL": public_url,
        "TRUSTED_HOSTS": _trusted_hosts(public_url, development),
        # Seconds; see ``invites.DATABASE_CONNECT_TIMEOUT``.
        "DATABASE_CONNECT_TIMEOUT": _seconds_below_worker_timeout("DATABASE_CONNECT_TIMEOUT", 3),
        "DATABASE_STATEMENT_TIMEOUT": _seconds_below_worker_timeout("DATABASE_STATEMENT_TIMEOUT", 10),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not development,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": not development,
        # Forms have no time limit of their own; the session's CSRF secret is enough.
        "WTF_CSRF_TIME_LIMIT": None,
        "INVITATIONS_PER_PAGE": 50,
        # Email (see invites/mail.py and invites/outbox.py, README "Email").
        "MAIL_URL": mail_url,
        "MAIL_FROM": mail_from,
        "MAIL_QUEUE_URL": os.environ.get("MAIL_QUEUE_URL", "").strip() or None,
        "MAIL_SWEEP_SECONDS": _whole_number("MAIL_SWEEP_SECONDS", 15),
        "MAIL_RETRY_SECONDS": _whole_number("MAIL_RETRY_SECONDS", 30),
        "MAIL_LEASE_SECONDS": _whole_number("MAIL_LEASE_SECONDS", 120),
        "MAIL_GIVE_UP_SECONDS": _whole_number("MAIL_GIVE_UP_SECONDS", 24 * 3600),
        "MAIL_QUEUE_NAME": os.environ.get("MAIL_QUEUE_NAME", "").strip() or "invites-mail",
    }


def _mail(development: bool) -> tuple[str | None, str | None]:
    """``MAIL_URL`` and ``MAIL_FROM``, checked: production sends real email or says it will not.

    Without ``MAIL_URL`` development prints emails to the console; production
    refuses to start unless ``MAIL_URL=console://`` is set explicitly.
    """
    from .mail import MailConfigError, parse_mail_url

    url = os.environ.get("MAIL_URL", "").strip() or None
    sender = os.environ.get("MAIL_FROM", "").strip() or None
    try:
        settings = parse_mail_url(url)
    except MailConfigError as exc:
        raise RuntimeError(str(exc)) from None
    if url is None and not development:
        raise RuntimeError(
            "MAIL_URL is not set: invitation, confirmation and password-reset emails need a mail "
            "server (smtp://host:25, smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465), "
            "or MAIL_URL=console:// to print them to the log instead."
        )
    if not settings.console and sender is None:
        raise RuntimeError(
            "MAIL_FROM is not set: emails need a sender, e.g. MAIL_FROM='Invites <invites@example.com>'."
        )
    return url, sender
