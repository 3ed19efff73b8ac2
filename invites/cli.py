"""Operator commands: ``flask --app app create-user …``, ``flask --app app seed-demo``."""

from __future__ import annotations

import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import accounts, demo
from .models import Role


def register(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(seed_demo)
    app.cli.add_command(worker)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Sweep once, send what is queued, and stop.")
@with_appcontext
def worker(burst: bool):
    """Send the emails of the outbox: an RQ worker on REDIS_URL, with the outbox sweep beside it."""
    from flask import current_app

    from . import outbox

    outbox.run_worker(current_app._get_current_object(), burst=burst)


@click.command("create-user")
@click.argument("email")
@click.option("--password", required=True, help=f"At least {accounts.PASSWORD_MIN_LENGTH} characters.")
@click.option("--name", default=None, help="Display name (default: the part of the email before @).")
@click.option("--company", "company_name", default=None, help="Company to join; created if it does not exist.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role], case_sensitive=False),
    default=None,
    help="Role in --company (default: OWNER of a company it creates, MEMBER of an existing one).",
)
@click.option(
    "--unverified",
    is_flag=True,
    default=False,
    help="Leave the address unconfirmed and email a confirmation link (default: the operator vouches for it).",
)
@with_appcontext
def create_user(
    email: str, password: str, name: str | None, company_name: str | None, role: str | None, unverified: bool
):
    """Create a user EMAIL, optionally in a company with a role; verified unless --unverified."""
    if role is not None and company_name is None:
        raise click.UsageError("--role needs --company.")
    company = None
    if company_name is not None:
        company_name = company_name.strip()
        if not company_name:
            raise click.UsageError("--company needs a name.")
        matches = accounts.find_company_by_name(company_name)
        if len(matches) > 1:
            raise click.ClickException(f"Several companies are named {company_name!r}; pick a unique name.")
        company = matches[0] if matches else None
    # Joining someone else's company makes a member unless a role is asked for.
    chosen = Role(role.upper()) if role else (Role.MEMBER if company is not None else Role.OWNER)
    try:
        user = accounts.create_account(
            email=email,
            password=password,
            name=name or email.split("@")[0],
            company_name=company_name,
            role=chosen,
            company=company,
            verified=not unverified,
        )
    except accounts.AccountError as exc:
        raise click.ClickException(" ".join(exc.errors.values())) from None
    where = f" as {chosen.value} of {company_name}" if company_name else ""
    click.echo(f"Created {user.email}{where}.")


@click.command("seed-demo")
@click.option(
    "--invitations",
    "invitations_count",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Invitations of the demo company, in realistic states.",
)
@click.option(
    "--users",
    default=1_000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Users in no company yet, each with a place on an event link (max uses 100).",
)
@click.option("--admins", default=9, show_default=True, type=click.IntRange(min=0, max=99))
@click.option("--company", "company_name", default="Demo Co", show_default=True)
@click.option(
    "--email-domain",
    default=demo.DEFAULT_EMAIL_DOMAIN,
    show_default=True,
    help="Every demo account is NAME@this domain; it must not be in use yet.",
)
@click.option(
    "--password",
    default=demo.DEFAULT_PASSWORD,
    show_default=True,
    help="The password of every demo account (hashed once).",
)
@with_appcontext
def seed_demo(invitations_count: int, users: int, admins: int, company_name: str, email_domain: str, password: str):
    """Create a demo company with many invitations, members and users ready to accept.

    Refused in production: every demo account shares one password, printed below
    and known to anyone who has read this code.
    """
    if current_app.config.get("INVITES_ENV") != "development":
        raise click.ClickException(
            "seed-demo is refused in production: its accounts share a public password. "
            "Run it with INVITES_ENV=development, on a database of its own."
        )
    started = time.perf_counter()
    try:
        data = demo.seed(
            invitations_count,
            users,
            admins,
            company_name=company_name,
            email_domain=email_domain,
            password=password,
        )
    except (demo.DemoError, accounts.AccountError) as exc:
        raise click.ClickException(str(exc)) from None
    states = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(data.states.items()))
    click.echo(
        f"Seeded {company_name} in {time.perf_counter() - started:.1f} s: {sum(data.states.values())} invitations "
        f"({states}), {data.members} members, {len(data.manager_ids)} owner and admins, "
        f"{len(data.ready_user_ids)} users ready to accept."
    )
    click.echo(f"Log in as {data.owner_email} with the password {password!r}.")
