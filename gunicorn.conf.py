"""Gunicorn settings for Invites: ``gunicorn app:app`` reads this file from the working directory.

Every setting can be overridden on the command line or in ``GUNICORN_CMD_ARGS``
(``--workers 8``). See README, "Running on PostgreSQL with gunicorn".
"""

import multiprocessing
import os

wsgi_app = "app:app"
bind = os.environ.get("BIND", "0.0.0.0:8000")
# Workers share nothing but PostgreSQL and Redis (rate limits), so any number works.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
timeout = 30
graceful_timeout = 30

# The access log to stdout ("-" means stdout for gunicorn's access log), the error log
# and the app's own log to stderr; the process manager collects both. The access log
# masks invitation codes in every field (path, query, Referer, headers): see
# invites/gunicorn_logging.py. The app writes its own request line too
# (logger "invites.request"); turn one of them off if you want only one.
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
logger_class = "invites.gunicorn_logging.CodeMaskingLogger"
# The combined format plus the duration in milliseconds and the worker's pid.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms %(p)s'

# Invites does not use gunicorn's control socket; without this, two instances on
# one host would fight over the same default socket path.
control_socket_disable = True

# X-Forwarded-Proto/-Ssl (the scheme) and SCRIPT_NAME/PATH_INFO headers: gunicorn
# believes them only from these addresses. With TRUSTED_PROXIES=0 (the default, no
# proxy in front) from none at all: otherwise any local process, or a proxy that passes
# them through, could make the app think it serves https or lives under another prefix.
# With proxies, from FORWARDED_ALLOW_IPS (default: this host). The app reads
# X-Forwarded-For/-Proto/-Host itself, through TRUSTED_PROXIES (werkzeug's ProxyFix).
_trusted_proxies = int(os.environ.get("TRUSTED_PROXIES", "").strip() or 0)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1") if _trusted_proxies else ""
