"""The two-step schema migration of the seeds: upgrade, backfill, constraints, drift."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from invites import create_app
from invites.extensions import db

from .conftest import BACKEND, TEST_DATABASE_URL, base_config

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


@pytest.fixture
def empty_db_url(tmp_path):
    """A database of its own, empty, on the pass's backend."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    base = sa.engine.make_url(TEST_DATABASE_URL)
    name = f"{base.database}_migrations"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def migrating_app(empty_db_url):
    app = create_app(base_config(empty_db_url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_there_is_one_head():
    from alembic.config import Config

    config = Config(str(Path(MIGRATIONS) / "alembic.ini"))
    config.set_main_option("script_location", MIGRATIONS)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def insert_legacy_rows(conn):
    conn.execute(
        sa.text(
            "INSERT INTO users (id, email, name, password_hash, created_at) VALUES "
            "(1, 'boss@example.com', 'Boss', 'x', '2025-01-01 00:00:00'), "
            "(2, 'ann@example.com', 'Ann', 'x', '2025-01-01 00:00:00')"
        )
    )
    conn.execute(sa.text("INSERT INTO companies (id, name, created_at) VALUES (1, 'Acme', '2025-01-01 00:00:00')"))
    conn.execute(
        sa.text(
            "INSERT INTO company_invitations (id, code, email, status, company_id, inviter_id, created_at, expires_at) VALUES "
            "(1, 'pending-code', NULL, 'PENDING', 1, 1, '2025-01-01 00:00:00', '2025-01-08 00:00:00'), "
            "(2, 'accepted-code', 'x@example.com', 'ACCEPTED', 1, 2, '2025-01-01 00:00:00', '2025-01-08 00:00:00')"
        )
    )


def test_step_two_backfills_legacy_rows_as_seed_000(migrating_app):
    upgrade(directory=MIGRATIONS, revision="0001_base_schema")
    with db.engine.begin() as conn:
        insert_legacy_rows(conn)
    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT code, status, created_by, max_uses, used_count, is_active, revoked_at "
                "FROM company_invitations ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("pending-code", "PENDING", 1, 1, 0, True, None),
        ("accepted-code", "ACCEPTED", 2, 1, 1, True, None),
    ]


def test_both_steps_downgrade_and_upgrade_again(migrating_app):
    upgrade(directory=MIGRATIONS, revision="0001_base_schema")
    with db.engine.begin() as conn:
        insert_legacy_rows(conn)
    upgrade(directory=MIGRATIONS)
    downgrade(directory=MIGRATIONS, revision="0001_base_schema")
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT inviter_id FROM company_invitations ORDER BY id")).scalars().all() == [1, 2]
        assert "invitation_redemptions" not in sa.inspect(conn).get_table_names()
    downgrade(directory=MIGRATIONS, revision="base")
    with db.engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(directory=MIGRATIONS)


def test_names_from_seed_000_exist(migrating_app):
    upgrade(directory=MIGRATIONS)
    inspector = sa.inspect(db.engine)
    checks = {c["name"] for c in inspector.get_check_constraints("company_invitations")}
    assert {"chk_invitation_max_uses", "chk_invitation_used_count"} <= checks
    indexes = {i["name"]: i for i in inspector.get_indexes("company_invitations")}
    assert {"idx_invitation_revoked", "idx_invitation_created_by"} <= set(indexes)
    where = indexes["idx_invitation_revoked"].get("dialect_options", {})
    assert "revoked_at IS NOT NULL" in str(where.get(f"{BACKEND}_where", "")).replace("(", "").replace(")", "")


@pytest.mark.parametrize(
    "assignment",
    [
        "max_uses = 0",
        "max_uses = 101",
        "used_count = 2",
        "used_count = -1",
        "status = 'REVOKED'",
        "role = 'OWNER'",
        "allowed_domain = 'Acme.com'",
        "email = 'a@acme.com', allowed_domain = 'acme.com'",
        "label = ''",
        "version = 0",
    ],
)
def test_database_rejects_broken_invariants(migrating_app, assignment):
    upgrade(directory=MIGRATIONS)
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, name, password_hash, created_at, session_token) VALUES (1, 'a@example.com', 'A', 'x', '2025-01-01 00:00:00', 't1')"
            )
        )
        conn.execute(sa.text("INSERT INTO companies (id, name, created_at) VALUES (1, 'Acme', '2025-01-01 00:00:00')"))
        conn.execute(
            sa.text(
                "INSERT INTO company_invitations (id, code, status, company_id, created_by, created_at, expires_at, max_uses, used_count) "
                "VALUES (1, 'c', 'PENDING', 1, 1, '2025-01-01 00:00:00', '2025-01-08 00:00:00', 1, 0)"
            )
        )
    with pytest.raises(sa.exc.IntegrityError):
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE company_invitations SET {assignment} WHERE id = 1"))


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO users (email, name, password_hash, created_at, session_token) VALUES ('Mixed@Example.com', 'M', 'x', '2025-01-01 00:00:00', 't2')",
        "INSERT INTO memberships (user_id, company_id, role, created_at) VALUES (1, 1, 'KING', '2025-01-01 00:00:00')",
        "INSERT INTO memberships (user_id, company_id, role, created_at) VALUES (1, 1, 'MEMBER', '2025-01-01 00:00:00')",
        "INSERT INTO memberships (user_id, company_id, role, created_at) VALUES (99, 1, 'MEMBER', '2025-01-01 00:00:00')",
    ],
)
def test_database_rejects_bad_accounts(migrating_app, statement):
    upgrade(directory=MIGRATIONS)
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, name, password_hash, created_at, session_token) VALUES (1, 'a@example.com', 'A', 'x', '2025-01-01 00:00:00', 't1')"
            )
        )
        conn.execute(sa.text("INSERT INTO companies (id, name, created_at) VALUES (1, 'Acme', '2025-01-01 00:00:00')"))
        conn.execute(
            sa.text(
                "INSERT INTO memberships (user_id, company_id, role, created_at) VALUES (1, 1, 'OWNER', '2025-01-01 00:00:00')"
            )
        )
    with pytest.raises(sa.exc.IntegrityError):
        with db.engine.begin() as conn:
            conn.execute(sa.text(statement))


def test_models_and_migrations_do_not_drift(migrating_app):
    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        assert compare_metadata(context, db.metadata) == []


def test_audit_rows_outlive_their_invitation_with_its_short_code(migrating_app):
    upgrade(directory=MIGRATIONS, revision="0004_dashboard_indexes")
    code = "Zx81kQpLm2VnAbCdEfGhIjKlMnOpQrSt"
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, name, password_hash, created_at) VALUES (1, 'a@example.com', 'A', 'x', '2025-01-01 00:00:00')"
            )
        )
        conn.execute(sa.text("INSERT INTO companies (id, name, created_at) VALUES (1, 'Acme', '2025-01-01 00:00:00')"))
        conn.execute(
            sa.text(
                "INSERT INTO company_invitations (id, code, status, company_id, created_by, created_at, expires_at, max_uses, used_count) "
                f"VALUES (1, '{code}', 'PENDING', 1, 1, '2025-01-01 00:00:00', '2025-01-08 00:00:00', 1, 0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO audit_events (id, company_id, actor_id, action, invitation_id, created_at) "
                "VALUES (1, 1, 1, 'invitation.create', 1, '2025-01-01 00:00:00')"
            )
        )
    upgrade(directory=MIGRATIONS)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM company_invitations WHERE id = 1"))
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT action, invitation_id, invitation_short_code FROM audit_events")).all()
    assert [tuple(r) for r in rows] == [("invitation.create", None, "Zx81kQpLm2Vn…")]


@pytest.mark.postgresql
def test_index_only_migrations_build_concurrently_on_postgresql(migrating_app):
    """CREATE INDEX without CONCURRENTLY locks the table against writes for the whole build."""
    statements = []

    def log(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    upgrade(directory=MIGRATIONS, revision="0003_audit_trail")
    sa.event.listen(db.engine, "before_cursor_execute", log)
    try:
        upgrade(directory=MIGRATIONS, revision="0004_dashboard_indexes")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", log)
    index_statements = [s for s in statements if s.startswith(("CREATE INDEX", "DROP INDEX"))]
    assert len(index_statements) == 4, statements
    assert all("INDEX CONCURRENTLY" in s for s in index_statements), index_statements
    upgrade(directory=MIGRATIONS)


def test_emails_are_normalised_and_look_alike_accounts_reported_not_merged(migrating_app):
    import logging

    upgrade(directory=MIGRATIONS, revision="0005_audit_keeps_rows")
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, name, password_hash, created_at) VALUES "
                "(1, 'owner1@a-corp\uff0ecom', 'A', 'x', '2025-01-01 00:00:00'), "
                "(2, '\uff4fwner2@example.com', 'B', 'x', '2025-01-01 00:00:00'), "
                "(3, 'x@b-corp.com', 'C', 'x', '2025-01-01 00:00:00'), "
                "(4, 'x@b-corp\uff0ecom', 'D', 'x', '2025-01-01 00:00:00')"
            )
        )
        conn.execute(sa.text("INSERT INTO companies (id, name, created_at) VALUES (1, 'Acme', '2025-01-01 00:00:00')"))
        conn.execute(
            sa.text(
                "INSERT INTO company_invitations (id, code, email, status, company_id, created_by, created_at, expires_at) "
                "VALUES (1, 'c', 'John@Example\uff0eCOM', 'PENDING', 1, 1, '2025-01-01 00:00:00', '2025-01-08 00:00:00')"
            )
        )
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("invites.migrations")
    logger.addHandler(handler)
    try:
        upgrade(directory=MIGRATIONS)
    finally:
        logger.removeHandler(handler)
    with db.engine.connect() as conn:
        users = conn.execute(sa.text("SELECT id, email FROM users ORDER BY id")).all()
        target = conn.execute(sa.text("SELECT email FROM company_invitations")).scalar_one()
    assert [tuple(u) for u in users] == [
        (1, "owner1@a-corp.com"),
        (2, "owner2@example.com"),
        (3, "x@b-corp.com"),
        (4, "x@b-corp\uff0ecom"),
    ]
    assert target == "john@example.com"
    (record,) = records
    assert record.levelname == "WARNING" and "Accounts 3, 4 " in record.getMessage()
    assert "b-corp" not in record.getMessage()


def test_memberships_learn_the_invitation_they_came_from_and_uses_what_they_granted(migrating_app):
    """0009's backfill: a member's membership came from their latest use of an invitation of
    that company; a founder's from none; every earlier use granted MEMBER."""
    upgrade(directory=MIGRATIONS, revision="0008_invitation_controls")
    day = "'2025-01-0{} 00:00:00'"
    with db.engine.begin() as conn:
        for uid, email in ((1, "owner@example.com"), (2, "ann@example.com"), (3, "bob@example.com")):
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, email, name, password_hash, created_at) "
                    f"VALUES ({uid}, '{email}', 'U', 'x', {day.format(1)})"
                )
            )
        for cid in (1, 2):
            conn.execute(sa.text(f"INSERT INTO companies (id, name, created_at) VALUES ({cid}, 'C', {day.format(1)})"))
        # Invitations 10 and 11 to company 1, 20 to company 2.
        for iid, cid in ((10, 1), (11, 1), (20, 2)):
            conn.execute(
                sa.text(
                    "INSERT INTO company_invitations (id, code, status, company_id, created_by, created_at, "
                    f"expires_at, max_uses, used_count) VALUES ({iid}, 'c{iid}', 'PENDING', {cid}, 1, "
                    f"{day.format(1)}, {day.format(9)}, 5, 1)"
                )
            )
        # Ann used 10, left, came back through 11; Bob joined company 2 through 20.
        for rid, iid, uid, d in ((1, 10, 2, 2), (2, 11, 2, 4), (3, 20, 3, 3)):
            conn.execute(
                sa.text(
                    "INSERT INTO invitation_redemptions (id, invitation_id, user_id, created_at) "
                    f"VALUES ({rid}, {iid}, {uid}, {day.format(d)})"
                )
            )
        for uid, cid, role, d in ((1, 1, "OWNER", 1), (2, 1, "MEMBER", 4), (3, 2, "MEMBER", 3), (1, 2, "OWNER", 1)):
            conn.execute(
                sa.text(
                    "INSERT INTO memberships (user_id, company_id, role, created_at) "
                    f"VALUES ({uid}, {cid}, '{role}', {day.format(d)})"
                )
            )
    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as conn:
        origins = conn.execute(
            sa.text("SELECT user_id, company_id, invitation_id FROM memberships ORDER BY company_id, user_id")
        ).all()
        granted = conn.execute(sa.text("SELECT DISTINCT role FROM invitation_redemptions")).scalars().all()
    assert [tuple(r) for r in origins] == [(1, 1, None), (2, 1, 11), (1, 2, None), (3, 2, 20)]
    assert granted == ["MEMBER"]
    with pytest.raises(sa.exc.IntegrityError):
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE invitation_redemptions SET role = 'OWNER' WHERE id = 1"))
    with pytest.raises(sa.exc.IntegrityError):
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE memberships SET invitation_id = 99 WHERE user_id = 2"))


def _rows(conn) -> dict[str, int]:
    return {
        table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in ("users", "company_invitations", "invitation_redemptions", "memberships", "email_outbox")
    }


def _refused(statement: str) -> bool:
    """Whether the database refuses ``statement`` (rolled back either way)."""
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.text(statement))
            raise _Accepted
    except sa.exc.IntegrityError:
        return True
    except _Accepted:
        return False


class _Accepted(Exception):
    """The statement went through; rolled back so that the next one starts from the same rows."""


def test_0010_adds_the_email_state_check_and_not_null_session_tokens_on_both_databases(migrating_app):
    """On a database with rows: 0010 keeps every row (nothing pointing at the two rebuilt
    tables is lost on SQLite, where they are copied), gives a token to a user without one,
    and from then on the database refuses an unknown email state and a user without a
    session token, on SQLite as on PostgreSQL; 0008's CHECKs and the foreign keys still
    hold. Downgraded, the column takes NULL again (and SQLite drops its CHECK)."""
    upgrade(directory=MIGRATIONS, revision="0009_membership_origin")
    day = "'2025-01-0{} 00:00:00'"
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, name, password_hash, created_at, session_token) VALUES "
                f"(1, 'boss@example.com', 'B', 'x', {day.format(1)}, 'token-1'), "
                f"(2, 'ann@example.com', 'A', 'x', {day.format(1)}, NULL)"
            )
        )
        conn.execute(sa.text(f"INSERT INTO companies (id, name, created_at) VALUES (1, 'Acme', {day.format(1)})"))
        conn.execute(
            sa.text(
                "INSERT INTO company_invitations (id, code, status, company_id, created_by, created_at, "
                "expires_at, max_uses, used_count, email, email_state) VALUES "
                f"(1, 'c1', 'PENDING', 1, 1, {day.format(1)}, {day.format(9)}, 5, 1, NULL, NULL), "
                f"(2, 'c2', 'PENDING', 1, 1, {day.format(1)}, {day.format(9)}, 1, 0, 'ann@example.com', 'sent')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO invitation_redemptions (id, invitation_id, user_id, created_at) "
                f"VALUES (1, 1, 2, {day.format(2)})"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO memberships (user_id, company_id, role, created_at, invitation_id) VALUES "
                f"(1, 1, 'OWNER', {day.format(1)}, NULL), (2, 1, 'MEMBER', {day.format(2)}, 1)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO email_outbox (message_id, kind, recipient, subject, body_text, body_html, user_id, "
                "invitation_id, state, created_at, next_attempt_at, sent_at) VALUES "
                f"('<m1@x>', 'invitation', 'ann@example.com', 's', 't', 'h', NULL, 2, 'sent', {day.format(2)}, "
                f"{day.format(2)}, {day.format(2)})"
            )
        )
        before = _rows(conn)

    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as conn:
        assert (
            _rows(conn)
            == before
            == {
                "users": 2,
                "company_invitations": 2,
                "invitation_redemptions": 1,
                "memberships": 2,
                "email_outbox": 1,
            }
        )
        tokens = dict(conn.execute(sa.text("SELECT id, session_token FROM users")).tuples().all())
        assert tokens[1] == "token-1" and len(tokens[2]) >= 32
        assert conn.execute(sa.text("SELECT email_state FROM company_invitations WHERE id = 2")).scalar() == "sent"
        assert conn.execute(sa.text("SELECT invitation_id FROM memberships WHERE user_id = 2")).scalar() == 1
    assert _refused("UPDATE company_invitations SET email_state = 'lost' WHERE id = 1")
    assert not _refused("UPDATE company_invitations SET email_state = 'queued' WHERE id = 1")
    assert _refused("UPDATE users SET session_token = NULL WHERE id = 1")
    assert _refused(
        "INSERT INTO users (email, name, password_hash, created_at) VALUES ('cy@example.com', 'C', 'x', '2025-01-01')"
    )
    # What held before still holds: 0008's CHECKs (named now on SQLite too), and the
    # foreign keys, which the app's connections enforce again after the migration.
    for assignment in ("role = 'OWNER'", "label = ''", "version = 0", "allowed_domain = 'Acme.com'"):
        assert _refused(f"UPDATE company_invitations SET {assignment} WHERE id = 1"), assignment
    assert _refused("UPDATE memberships SET invitation_id = 99 WHERE user_id = 2")
    assert _refused("DELETE FROM users WHERE id = 1")  # invitations were created by them

    downgrade(directory=MIGRATIONS, revision="0009_membership_origin")
    with db.engine.connect() as conn:
        assert _rows(conn) == before
    assert not _refused("UPDATE users SET session_token = NULL WHERE id = 1")
    # PostgreSQL has had this CHECK since 0007; SQLite only from 0010.
    assert _refused("UPDATE company_invitations SET email_state = 'lost' WHERE id = 1") == (BACKEND == "postgresql")
    assert _refused("UPDATE company_invitations SET role = 'OWNER' WHERE id = 1")


BROKEN_MIGRATION = '''"""A migration that breaks a foreign key (test only)."""
import sqlalchemy as sa
from alembic import op

revision = "9999_breaks_a_foreign_key"
down_revision = "{head}"


def upgrade():
    op.create_table("scratch", sa.Column("id", sa.Integer, primary_key=True))
    op.execute(
        "INSERT INTO companies (id, name, created_at) VALUES (1, 'Acme', '2025-01-01 00:00:00')"
    )
    op.execute(
        "INSERT INTO memberships (user_id, company_id, role, created_at) "
        "VALUES (42, 1, 'MEMBER', '2025-01-01 00:00:00')"
    )


def downgrade():
    pass
'''


def test_an_upgrade_that_fails_leaves_the_database_as_it_was(migrating_app, tmp_path):
    """One transaction for the whole upgrade, on SQLite too: a migration that breaks a foreign
    key (SQLite's is checked after the migrations, with foreign keys off during them; PostgreSQL's
    at once) leaves no table, no row and no version behind."""
    import shutil

    from alembic.config import Config

    config = Config(str(Path(MIGRATIONS) / "alembic.ini"))
    config.set_main_option("script_location", MIGRATIONS)
    (head,) = ScriptDirectory.from_config(config).get_heads()
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "9999_breaks_a_foreign_key.py").write_text(BROKEN_MIGRATION.format(head=head))

    upgrade(directory=MIGRATIONS)
    # SQLite: env.py's foreign key check raises, which Flask-Migrate reports and exits 1 on;
    # PostgreSQL: the INSERT itself.
    with pytest.raises((SystemExit, sa.exc.IntegrityError)):
        upgrade(directory=str(copy))

    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == head
        assert "scratch" not in sa.inspect(conn).get_table_names()
        assert conn.execute(sa.text("SELECT count(*) FROM companies")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM memberships")).scalar_one() == 0
