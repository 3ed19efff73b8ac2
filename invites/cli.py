"""Operator commands: ``flask --app app create-user …``."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from . import accounts
from .models import Role


def register(app: Flask) -> None:
    app.cli.add_command(create_user)


@click.command("create-user")
@click.argument("email")
@click.option("--password", required=True, help=f"At least {accounts.PASSWORD_MIN_LENGTH} characters.")
@click.option("--name", default=None, help="Display name (default: the part of the email before @).")
@click.option("--company", "company_name", default=None, help="Company to join; created if it does not exist.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role], case_sensitive=False),
    default=None,
    help="Role in --company (default OWNER).",
)
@with_appcontext
def create_user(email: str, password: str, name: str | None, company_name: str | None, role: str | None):
    """Create a user EMAIL, optionally in a company with a role."""
    if role is not None and company_name is None:
        raise click.UsageError("--role needs --company.")
    company = None
    if company_name is not None:
        company_name = company_name.strip()
        matches = accounts.find_company_by_name(company_name)
        if len(matches) > 1:
            raise click.ClickException(f"Several companies are named {company_name!r}; pick a unique name.")
        company = matches[0] if matches else None
    try:
        user = accounts.create_account(
            email=email,
            password=password,
            name=name or email.split("@")[0],
            company_name=company_name,
            role=Role((role or "OWNER").upper()),
            company=company,
        )
    except accounts.AccountError as exc:
        raise click.ClickException(" ".join(exc.errors.values())) from None
    where = f" as {(role or 'OWNER').upper()} of {company_name}" if company_name else ""
    click.echo(f"Created {user.email}{where}.")
