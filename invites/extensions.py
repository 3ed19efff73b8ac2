"""Flask extensions, created once here and bound to an app in ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base whose metadata names every constraint and index."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            # CHECK constraints keep the names written in the seeds
            # (``chk_invitation_max_uses``), so the prefix is added here.
            "ck": "chk_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
# Headers on: every 429 carries Retry-After (and limited answers X-RateLimit-*).
# The prefix keeps Invites' counters apart from anything else in the same Redis.
# The limits themselves are in ``invites/limits.py``.
limiter = Limiter(
    key_func=get_remote_address,
    headers_enabled=True,
    retry_after="delta-seconds",
    key_prefix="invites",
)
