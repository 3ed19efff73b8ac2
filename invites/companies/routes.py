"""The members page, role changes, removals, the activity page, and the company switcher."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import accounts, audit
from ..errors import error_response
from ..htmx import render_page_or_fragment
from ..models import Role
from ..tenancy import current_membership, switch_company
from ..web import (
    manager_required,
    member_required,
    membership_of_current_company,
    owner_required,
    parse_page,
    safe_next,
)
from .forms import CreateCompanyForm, RemoveMemberForm, RoleForm, SwitchCompanyForm

bp = Blueprint("companies", __name__, url_prefix="/company")


@bp.get("/members")
@member_required
def members():
    """Everyone in the current company, newest first, 50 to a page: name, email, role, joined.

    htmx paging swaps only the table and its page links (its ``members`` block).
    """
    page = accounts.members_page(current_membership().company_id, parse_page(request.args.get("page")))
    return render_page_or_fragment("companies/members.html", block="members", page=page)


@bp.get("/activity")
@manager_required
def activity():
    """The company's audit trail, newest first, a page at a time: who did what, and when.

    htmx paging swaps only the list (its ``events`` block).
    """
    page = audit.company_events(current_membership().company_id, parse_page(request.args.get("page")))
    return render_page_or_fragment("companies/activity.html", block="events", page=page)


@bp.post("/members/<int:membership_id>/role")
@owner_required
def change_role(membership_id: int):
    """The owner makes a member an admin, or back."""
    target = membership_of_current_company(membership_id)
    form = RoleForm()
    if not form.validate_on_submit():
        # The page only offers the three roles; anything else was made by hand.
        return error_response(400, accounts.ROLE_INVALID)
    name = target.user.name
    try:
        accounts.change_role(target, Role(form.role.data), current_user)
    except accounts.MemberGone as exc:
        # Removed by someone else since the page was shown: a vanished row is a 404.
        return error_response(404, exc.errors["member"])
    except accounts.AccountError as exc:
        flash(exc.errors["role"], "error")
    else:
        flash(f"{name} is now {form.role.data.lower()}.", "success")
    return redirect(url_for(".members"))


@bp.post("/members/<int:membership_id>/remove")
@owner_required
def remove(membership_id: int):
    """The owner removes a member from the company, once confirmed.

    With JavaScript a dialog confirms and sends ``confirm=yes``; without it the
    first POST answers a confirmation page (naming the person) whose button sends it.
    """
    target = membership_of_current_company(membership_id)
    name = target.user.name
    form = RemoveMemberForm()
    if not form.validate_on_submit():
        return error_response(400)
    if form.confirm.data != "yes":
        return render_template("companies/remove.html", target=target)
    try:
        accounts.remove_member(target, current_user)
    except accounts.MemberGone as exc:
        return error_response(404, exc.errors["member"])
    except accounts.AccountError as exc:
        flash(exc.errors["role"], "error")
    else:
        flash(f"{name} was removed.", "success")
    return redirect(url_for(".members"))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Create a company and become its owner: the way out for someone in no company yet."""
    form = CreateCompanyForm()
    if form.validate_on_submit():
        try:
            company = accounts.create_company(current_user, form.name.data)
        except accounts.AccountError as exc:
            form.name.errors = [exc.errors["name"]]
        else:
            switch_company(company.id)
            flash(f"You created {company.name}. Invite your team below.", "success")
            return redirect(url_for("dashboard.home"))
    status = 422 if form.errors else 200
    return render_template("companies/new.html", form=form), status


@bp.post("/switch")
@login_required
def switch():
    """Make another of the user's companies the current one."""
    form = SwitchCompanyForm()
    if form.validate_on_submit() and switch_company(form.company_id.data):
        flash(f"Switched to {current_membership().company.name}.", "info")
    else:
        flash("You are not a member of that company.", "error")
    return redirect(safe_next(form.next.data) or url_for("dashboard.home"))
