"""The dashboard: where a signed-in user lands, and the company's invitations."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import login_required

from ..models import Role
from ..tenancy import current_membership, manager_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("")
@login_required
def home():
    """Send admins and owners to their invitations; others see their companies."""
    membership = current_membership()
    if membership is not None and membership.role_enum.manages_invitations:
        return redirect(url_for(".company"))
    return render_template("dashboard/home.html", membership=membership)


@bp.get("/company")
@manager_required
def company():
    """The current company's invitations."""
    return render_template("dashboard/index.html", membership=current_membership())
