"""The dashboard: where a signed-in user lands, and the company's invitations.

Every view is a thin caller of ``invitations``: it turns a request into one
domain call and the result into a page, a card fragment (htmx) or a redirect
with a flash (no JavaScript).
"""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from .. import audit, formatting, invitations, limits
from ..companies.forms import CreateCompanyForm
from ..errors import error_response
from ..extensions import limiter
from ..htmx import current_page, is_htmx, render_page_or_fragment, trigger
from ..links import invite_url, invite_url_pattern, url_pattern
from ..masking import short_code
from ..models import ID_MAX, Invitation
from ..tenancy import current_membership
from ..web import (
    invitation_of_current_company,
    invitation_row_of_current_company,
    manager_required,
    page_company_required,
    parse_page,
    refusal_status,
    safe_next,
)
from .cards import CardViews
from .forms import (
    CreateInvitationForm,
    EditInvitationForm,
    PauseAllForm,
    RemoveMembersForm,
    ResendForm,
    RevokeForm,
    ToggleForm,
)

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.context_processor
def _card_helpers() -> dict:
    """What the card partial needs, wherever it is rendered from.

    ``card_urls`` builds each kind of link on a card once per request (see
    ``links.url_pattern``): url_for for every link of every card cost a page
    of 50 cards over a millisecond. ``card_view`` gives a card everything it
    works out, in one call (``cards.CardViews``).
    """
    card_urls = _card_urls()
    membership = current_membership()
    # Whose dashboard it is decides what the cards offer (an admin edits no Admin invitation).
    viewer_role = membership.role_enum if membership is not None else None
    return {
        "invitations": invitations,
        "invite_url": invite_url,
        "return_to": _return_to(),
        "card_urls": card_urls,
        # One call per card for its state, actions and links, one clock reading per render.
        "card_view": CardViews(card_urls, invitations.utcnow(), viewer_role),
    }


def _card_urls() -> SimpleNamespace:
    """Each kind of link on a card, as a pattern (``links.url_pattern``).

    The same for every request with the same script root and ``PUBLIC_URL`` (the
    invite link's base; required in production): kept for the process then. In
    development without it, the invite link follows the request's host.
    """
    public_url = current_app.config.get("PUBLIC_URL")
    cache = current_app.extensions.setdefault("invites.card_urls", {})
    key = (request.script_root, public_url)
    urls = cache.get(key) if public_url else None
    if urls is None:
        urls = SimpleNamespace(
            set_active=url_pattern("dashboard.set_active", "invitation_id"),
            edit=url_pattern("dashboard.edit", "invitation_id"),
            revoke=url_pattern("dashboard.revoke", "invitation_id"),
            resend=url_pattern("dashboard.resend", "invitation_id"),
            redemptions=url_pattern("dashboard.redemptions", "invitation_id"),
            remove_members=url_pattern("dashboard.remove_members", "invitation_id"),
            activity=url_pattern("dashboard.activity", "invitation_id"),
            invite=invite_url_pattern(),
            qr=url_pattern("dashboard.qr", "invitation_id"),
        )
        if public_url:
            cache[key] = urls
    return urls


def _return_to() -> str:
    """The list the admin is looking at, for the no-JavaScript redirects after a change.

    A form posted from a card says so in ``next`` (as does the link to a card's own
    page, such as Edit without JavaScript); an htmx request names the page in ``HX-Current-URL``; a page load is that list itself. Anything not
    under the dashboard falls back to its first page.
    """
    home = url_for("dashboard.company")
    if request.form.get("next"):
        target = request.form["next"]
    elif request.args.get("next"):
        target = request.args["next"]
    elif is_htmx():
        target = current_page()
    elif request.method == "GET":
        target = request.full_path.rstrip("?")
    else:
        target = home
    target = safe_next(target)
    if target and urlsplit(target).path == home:
        return target
    return home


def _view_of(path: str) -> tuple[invitations.Filter, int, str]:
    """The filter, page number and search of a dashboard URL."""
    query = parse_qs(urlsplit(path).query)
    return (
        invitations.parse_filter(query.get("filter", [None])[0]),
        parse_page(query.get("page", [None])[0]),
        invitations.parse_search(query.get("q", [None])[0]),
    )


_UNCHANGED = object()


def _list_context(which: invitations.Filter, page: int, search: str = "", paused_at=_UNCHANGED) -> dict:
    """The list part of the dashboard: one page of cards, the filters, the live-usage cursor.

    ``paused_at``: pause all's state when this request has just changed it (the
    current membership is a snapshot read before the change).
    """
    company_id = current_membership().company_id
    return {
        "membership": current_membership(),
        "paused_at": current_membership().company.invitations_paused_at if paused_at is _UNCHANGED else paused_at,
        "page": invitations.list_for_company(
            company_id, which, page, per_page=current_app.config["INVITATIONS_PER_PAGE"], search=search
        ),
        "filters": list(invitations.Filter),
        "cursor": audit.latest_id(company_id),
    }


def _card(invitation: Invitation, status: int = 200, message: str | None = None):
    """The card partial (never a page), for htmx swaps."""
    return make_response(render_template("dashboard/_card.html", inv=invitation, message=message), status)


def _changed(invitation: Invitation, message: str):
    """After a change: the card and an announcement (htmx), or a flash and the list."""
    if is_htmx():
        return trigger(_card(invitation), "announce", message)
    flash(message, "success")
    return redirect(_return_to())


def _refused(invitation: Invitation, refusal: invitations.InvitationRefused):
    """A change the domain refused: its status (409 for a state) with the card as it really is now, and why."""
    return _not_changed(invitation, refusal_status(refusal.reason), refusal.message)


# A card the owner-only Admin rule refused to change (an admin's Edit or Start of an Admin
# invitation) answers htmx 409, like every other refused card: htmx swaps 409 and not 403
# (base.html's responseHandling), so the card shown becomes the card as it is, without
# the button, and says why. The API answers the same refusal 403 with ``fields.role``.
CARD_REFUSED = 409


def _not_changed(invitation: Invitation, status: int, reason: str):
    """The card as it really is now with why it was not changed (htmx), or a flash and the list."""
    # Refusals read "This invitation has been revoked"; a field's message ends its own sentence.
    message = f"Invitation {short_code(invitation.code)} was not changed: {reason.rstrip('.')}."
    if is_htmx():
        return trigger(_card(invitation, status, reason), "announce", message)
    flash(message, "error")
    return redirect(_return_to())


@bp.get("")
@login_required
def home():
    """Send admins and owners to their invitations; others see their companies."""
    membership = current_membership()
    if membership is not None and membership.role_enum.manages_invitations:
        return redirect(url_for(".company"))
    company_form = CreateCompanyForm(formdata=None) if membership is None else None
    return render_template("dashboard/home.html", membership=membership, company_form=company_form)


@bp.get("/company")
@manager_required
def company():
    """The current company's invitations: the create form and one filtered, searched page of cards.

    The search box's active search (htmx) gets the list alone; a plain GET of the
    same URL (its form without JavaScript, a reload, a shared link) the page.
    """
    which = invitations.parse_filter(request.args.get("filter"))
    page = parse_page(request.args.get("page"))
    search = invitations.parse_search(request.args.get("q"))
    return render_page_or_fragment(
        "dashboard/index.html",
        block="invitation_results",
        form=CreateInvitationForm(),
        **_list_context(which, page, search),
    )


@bp.post("/company/invitations")
@limits.invitation_creation
@manager_required
@page_company_required
def create():
    """Create an invitation from the form.

    Invalid input: 422 with the form and its errors (the form alone for htmx).
    Valid: htmx gets a fresh form plus the new card for the top of the list
    (out of band); a plain POST is redirected to the list with a flash.
    """
    form = CreateInvitationForm()
    membership = current_membership()
    invitation = None
    if form.validate_on_submit():
        try:
            invitation = invitations.create(
                membership.company_id, current_user, form.new_invitation, creator_role=membership.role_enum
            )
        except invitations.GrantRefused as refused:
            # An admin asking for an Admin invitation: the role field's error, like any other.
            form[refused.field].errors = [*form[refused.field].errors, refused.message]
    if invitation is None:
        response = render_page_or_fragment(
            "dashboard/index.html",
            block="create_form",
            status=422,
            form=form,
            **_list_context(invitations.Filter.ALL, 1),
        )
        return trigger(response, "announce", "The invitation was not created. Check the form.")

    message = f"Invitation {short_code(invitation.code)} created."
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for(".company"))
    which, page, search = _view_of(_return_to())
    shown = which.shows_new and page == 1 and not search
    if not shown:
        message += " Clear the search to see it." if search else " Show all invitations to see it."
    response = render_page_or_fragment(
        "dashboard/index.html",
        block="create_form",
        form=CreateInvitationForm(formdata=None),
        created=invitation,
        created_shown=shown,
        created_message=message,
    )
    # Where the card is not shown, a flash (itself a live region) says it instead.
    return trigger(response, "announce", message) if shown else response


@bp.post("/company/invitations/<int:invitation_id>/active")
@manager_required
@page_company_required
def set_active(invitation_id: int):
    """Pause (``active=0``) or start (``active=1``) an invitation; answers its card.

    Only an owner starts an invitation that grants ADMIN: an admin is refused (409 to
    htmx, with the card as it is, see ``CARD_REFUSED``; a flash and the list without JavaScript), as for its Edit.
    """
    invitation = invitation_row_of_current_company(invitation_id)
    form = ToggleForm()
    if not form.validate_on_submit():
        return error_response(400, "Choose whether to pause or start the invitation.")
    active = form.active.data == "1"
    try:
        invitations.set_active(invitation, current_user, active, actor_role=current_membership().role_enum)
    except invitations.InvitationRefused as refusal:
        return _refused(invitation, refusal)
    except invitations.GrantRefused as refused:  # an admin starting an Admin invitation
        return _not_changed(invitation, CARD_REFUSED, refused.message)
    verb = "started" if active else "paused"
    return _changed(invitation, f"Invitation {short_code(invitation.code)} {verb}.")


@bp.post("/company/invitations/<int:invitation_id>/revoke")
@manager_required
@page_company_required
def revoke(invitation_id: int):
    """Revoke an invitation for good, once confirmed; answers its card.

    htmx confirms in a dialog and sends ``confirm=yes``; without JavaScript the
    first POST answers a confirmation page whose button sends it.
    """
    invitation = invitation_of_current_company(invitation_id)
    form = RevokeForm()
    if not form.validate_on_submit():
        return error_response(400)
    if form.confirm.data != "yes":
        return render_template("dashboard/revoke.html", inv=invitation)
    try:
        invitations.revoke(invitation, current_user)
    except invitations.InvitationRefused as refusal:
        return _refused(invitation, refusal)
    return _changed(invitation, f"Invitation {short_code(invitation.code)} revoked.")


@bp.post("/company/invitations/<int:invitation_id>/resend")
@manager_required
@page_company_required
def resend(invitation_id: int):
    """Send a targeted invitation's email again (at most 3 times in 24 hours); answers its card."""
    invitation = invitation_of_current_company(invitation_id)
    if not ResendForm().validate_on_submit():
        return error_response(400)
    try:
        invitations.resend(invitation, current_user)
    except invitations.InvitationRefused as refusal:
        return _refused(invitation, refusal)
    except (invitations.ResendLimitReached, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        if is_htmx():
            # 409 (not 429): htmx swaps it, so the card shows why next to the button.
            return trigger(_card(invitation, 409, message), "announce", message)
        flash(message, "error")
        return redirect(_return_to())
    return _changed(invitation, f"Invitation {short_code(invitation.code)}: email sent again to {invitation.email}.")


@bp.get("/company/invitations/<int:invitation_id>/redemptions")
@manager_required
def redemptions(invitation_id: int):
    """Who used an invitation and when: a page, or the fragment a card loads lazily."""
    invitation = invitation_of_current_company(invitation_id)
    return render_page_or_fragment(
        "dashboard/redemptions.html",
        block="redemptions",
        inv=invitation,
        redemptions=invitations.redemptions_with_roles(invitation),
        plan=invitations.removal_plan(invitation, current_membership().role_enum),
        # In a card the removal swaps the card; on the page it is a plain form.
        in_card=is_htmx(),
    )


def _people(joiners: list, reasons: bool = False, shown: int = 10) -> str:
    """``Ann, Bob and 3 others``; with ``reasons``, each followed by why they were kept."""
    names = [f"{j.name} ({j.kept_because})" if reasons else j.name for j in joiners[:shown]]
    if len(joiners) > shown:
        names.append(f"{len(joiners) - shown} others")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def removal_message(result: invitations.MembersRemoval) -> str:
    """What a removal did, in one paragraph: who was removed, who was kept and why, the revoke."""
    name = short_code(result.invitation.code)
    if result.removed:
        parts = [
            f"Removed {formatting.people(len(result.removed))} who joined through invitation {name}: {_people(result.removed)}."
        ]
    else:
        parts = [f"Nobody who joined through invitation {name} was removed."]
    if result.kept:
        parts.append(f"Kept {formatting.people(len(result.kept))}: {_people(result.kept, reasons=True)}.")
    if result.revoked:
        parts.append("The invitation is revoked: its link admits nobody now.")
    return " ".join(parts)


@bp.post("/company/invitations/<int:invitation_id>/remove-members")
@manager_required
@page_company_required
def remove_members(invitation_id: int):
    """Remove everyone who joined through an invitation, and revoke it, once confirmed.

    htmx (from the card's "Who used it") confirms in a dialog naming how many and
    sends ``confirm=yes``: the answer is the revoked card, with what happened as a
    flash. Without JavaScript the first POST answers a confirmation page naming
    them; its button removes, and the "Who used it" page shows who is gone.
    """
    invitation = invitation_of_current_company(invitation_id)
    form = RemoveMembersForm()
    if not form.validate_on_submit():
        return error_response(400)
    actor_role = current_membership().role_enum
    if form.confirm.data != "yes":
        plan = invitations.removal_plan(invitation, actor_role)
        return render_template("dashboard/remove_members.html", inv=invitation, plan=plan)
    result = invitations.remove_members(invitation, current_user, actor_role)
    message = removal_message(result)
    if is_htmx():
        response = make_response(render_template("dashboard/_members_removed.html", inv=invitation, summary=message))
        return trigger(response, "announce", message)
    flash(message, "success")
    return redirect(url_for(".redemptions", invitation_id=invitation.id))


@bp.get("/company/invitations/<int:invitation_id>/activity")
@manager_required
def activity(invitation_id: int):
    """What happened to one invitation, newest first: a page, or the fragment its card loads."""
    invitation = invitation_of_current_company(invitation_id)
    return render_page_or_fragment(
        "dashboard/activity.html",
        block="activity",
        inv=invitation,
        events=audit.invitation_events(invitation.id),
    )


_SWITCH_ACTIONS = frozenset({audit.Action.PAUSE_ALL.value, audit.Action.RESUME_ALL.value})


@bp.get("/company/changes")
# Every open dashboard asks every 3 s; a limit here would stop live usage, never an attacker.
@limiter.exempt
@manager_required
def changes():
    """Live usage: the cards changed since the audit cursor ``after``, out of band.

    The dashboard asks every few seconds. Nothing new: 204 and no body, after
    one query on ``audit_events``. Otherwise the changed cards, each swapped
    in by its id, and a poller carrying the new cursor. Changes made by this
    admin count too: they have other tabs and devices. Cards of the last few
    seconds are sent again (see ``audit.RECENT``); only what is new past the
    cursor is announced.
    """
    try:
        after = int(request.args.get("after", ""))
    except ValueError:
        abort(400)
    # A cursor is an audit row's id (0: none yet); beyond any id it is no cursor at all.
    if not 0 <= after <= ID_MAX:
        abort(400)
    company_id = current_membership().company_id
    events = audit.changes_since(company_id, after)
    if not events:
        return "", 204
    if any(e.action in _SWITCH_ACTIONS and e.id > after for e in events):
        # Pause all or resume all changed the whole list (banner, switch, every usable
        # card): this dashboard loads again. The tab that pressed it got the list with a
        # cursor past the switch's row, so it is not reloaded.
        response = make_response("", 200)
        response.headers["HX-Refresh"] = "true"
        return response
    touched = [e.invitation_id for e in events if e.invitation_id is not None]
    changed = invitations.get_many_for_company(list(dict.fromkeys(touched)), company_id)
    response = make_response(
        render_template("dashboard/_changes.html", changed=changed, cursor=max(after, *(e.id for e in events)))
    )
    used = {e.invitation_id for e in events if e.action == audit.Action.ACCEPT.value and e.id > after}
    news = [
        f"Invitation {short_code(inv.code)} now has {inv.used_count}/{inv.max_uses} uses."
        for inv in changed
        if inv.id in used
    ]
    if news:
        trigger(response, "announce", " ".join(news[:3]))
    return response


# --- editing an invitation (click to edit) ------------------------------------------


def _edit_form_answer(invitation: Invitation, form: EditInvitationForm, status: int = 200):
    """The edit form: the card-sized fragment for htmx, a page of its own without JavaScript."""
    # Several cards may be open for editing at once: their fields need ids of their own.
    for field in form:
        field.id = field.label.field_id = f"invitation-{invitation.id}-{field.name.replace('_', '-')}"
    return render_page_or_fragment("dashboard/edit.html", block="edit_form", status=status, inv=invitation, form=form)


@bp.get("/company/invitations/<int:invitation_id>/card")
@manager_required
def card(invitation_id: int):
    """The card as it is now (the edit form's Cancel); without JavaScript, back to the list."""
    invitation = invitation_of_current_company(invitation_id)
    if is_htmx():
        response = _card(invitation)
        response.vary.add("HX-Request")
        return response
    return redirect(_return_to())


@bp.route("/company/invitations/<int:invitation_id>/edit", methods=["GET", "POST"])
@manager_required
@page_company_required
def edit(invitation_id: int):
    """Edit an invitation in place: GET answers the form, POST saves and answers the card.

    With htmx the card's Edit swaps the card for the form, and Save or Cancel swap the
    card back. Without JavaScript, Edit is a link to this page, and a save redirects to
    the list with a flash. Invalid input: 422 with the form and its errors. Revoked,
    expired or changed by someone else since the form was made: 409 with the card as it
    is now (a flash and the list without JavaScript).
    """
    invitation = invitation_of_current_company(invitation_id)
    refused = invitations.edit_refusal(invitation)
    if refused is not None:
        return _refused(invitation, refused)
    if not invitations.may_edit(invitation, current_membership().role_enum):
        return _not_changed(invitation, CARD_REFUSED, invitations.ADMIN_ROLE_ERROR)
    if request.method == "GET":
        form = EditInvitationForm.for_invitation(invitation)
        form.next.data = _return_to()
        return _edit_form_answer(invitation, form)
    form = EditInvitationForm()
    if form.validate_on_submit():
        try:
            changed = invitations.edit(
                invitation, current_user, current_membership().role_enum, form.changes, form.expected_version
            )
        except invitations.InvitationRefused as refusal:
            return _refused(invitation, refusal)
        except invitations.InvalidInvitation as exc:
            form.add_errors(exc.errors)
        else:
            name = short_code(invitation.code)
            return _changed(
                invitation, f"Invitation {name} updated." if changed else f"Invitation {name}: nothing to change."
            )
    response = _edit_form_answer(invitation, form, status=422)
    return trigger(response, "announce", "The invitation was not changed. Check the form.")


# --- pause all -----------------------------------------------------------------------


def _pause_all_answer(result: invitations.PauseAll):
    """After pause/resume all: htmx gets the list region again (banner, switch, cards); a
    plain POST is redirected to the list with a flash."""
    if result.paused:
        message = "All invitations are paused." if result.changed else "All invitations were already paused."
    else:
        message = "Invitations resumed." if result.changed else "Invitations were not paused."
    if not is_htmx():
        flash(message, "success")
        return redirect(_return_to())
    response = render_page_or_fragment(
        "dashboard/index.html",
        block="invitation_list",
        **_list_context(*_view_of(_return_to()), paused_at=result.paused_at),
    )
    return trigger(response, "announce", message)


@bp.post("/company/invitations/pause-all")
@manager_required
@page_company_required
def pause_all():
    """Stop every invitation of the company from being used, until resumed."""
    if not PauseAllForm().validate_on_submit():
        return error_response(400)
    return _pause_all_answer(invitations.pause_all(current_membership().company_id, current_user))


@bp.post("/company/invitations/resume-all")
@manager_required
@page_company_required
def resume_all():
    """Undo pause all: each invitation is back to its own paused or started state."""
    if not PauseAllForm().validate_on_submit():
        return error_response(400)
    return _pause_all_answer(invitations.resume_all(current_membership().company_id, current_user))
