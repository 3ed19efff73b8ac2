"""One app instance in its own process: ``python -m tests.limit_process EMAIL N``.

Builds the app from the environment (``DATABASE_URL``, ``REDIS_URL``,
``SECRET_KEY``) as a server would, makes N failed log-in attempts for EMAIL,
and prints their statuses as JSON. ``test_limits_redis`` runs it twice, one
process after the other, to show whether they share one counter.
"""

from __future__ import annotations

import json
import sys

from invites import create_app
from invites.extensions import limiter


def main(email: str, attempts: int) -> None:
    app = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_LOGIN_PER_EMAIL": "3 per hour",
            "RATELIMIT_LOGIN_PER_CLIENT": "1000 per hour",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    client = app.test_client()
    statuses = [
        client.post("/login", data={"email": email, "password": "wrong password"}).status_code for _ in range(attempts)
    ]
    print(json.dumps({"statuses": statuses, "storage": type(limiter.storage).__name__}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
