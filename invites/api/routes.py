"""JSON endpoints under ``/api``: seed 003's invitation API, with a cookie login.

Thin views: every rule is in ``invitations`` and ``accounts``. Refusals from the
domain become status codes in one table (``web.REFUSAL_STATUS``); the description
of all of it is served at ``/api/openapi.json``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, request, session
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts, invitations, limits
from ..dashboard.forms import CreateInvitationForm, EditInvitationForm
from ..extensions import csrf, db, login_manager
from ..invitations import InvalidInvitation, InvitationRefused, Refusal
from ..links import public_base
from ..tenancy import SESSION_KEY, current_membership
from ..web import (
    REFUSAL_STATUS,
    InvitationNotFound,
    RoleRefused,
    invitation_of_current_company,
    manager_required,
    parse_page,
)
from . import openapi
from .schemas import (
    FIELDS_INVALID,
    MAX_BODY_BYTES,
    ApiError,
    company_json,
    field_errors,
    invitation_code,
    invitation_json,
    invitation_preview_json,
    json_object,
    members_removal_json,
    membership_json,
    timestamp,
    usage_json,
    user_json,
)

bp = Blueprint("api", __name__, url_prefix="/api")

# The API rides the session cookie but carries no CSRF token: cross-site requests are
# refused by their Sec-Fetch-Site and Origin headers instead (see ``refuse_cross_site``).
csrf.exempt(bp)
# No login page to redirect to: Flask-Login aborts with 401, which errors.py answers in JSON.
login_manager.blueprint_login_views[bp.name] = None

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE = "Cross-site requests are not allowed."
NOT_A_MANAGER = "Only owners and admins of the company can manage its invitations."


# --- request guards and error answers ----------------------------------------


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower-cased; None if it is not a URL at all."""
    try:
        parts = urlsplit(url.strip().lower())
    except ValueError:  # e.g. "http://[" (an unclosed IPv6 literal)
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _own_origin() -> str | None:
    """This site's origin: ``PUBLIC_URL``'s (``links.public_base``), never the request's ``Host``."""
    return _origin(public_base())


@bp.before_request
def refuse_cross_site():
    """Refuse state-changing requests that a browser says come from another site.

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` with such requests; a page
    elsewhere cannot forge them. Clients that send neither (curl, scripts) are
    not browsers riding someone's cookie, so they pass.
    """
    request.max_content_length = MAX_BODY_BYTES
    if request.method in SAFE_METHODS:
        return None
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        raise ApiError(403, CROSS_SITE)
    origin = request.headers.get("Origin")
    if origin is not None and (_origin(origin) is None or _origin(origin) != _own_origin()):
        raise ApiError(403, CROSS_SITE)
    return None


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    """Bad input, a refused login, a wrong role: ``{error, fields?}`` with the status."""
    return jsonify(exc.body()), exc.status


@bp.errorhandler(InvitationRefused)
def invitation_refused(exc: InvitationRefused):
    """The domain refused: the status from ``REFUSAL_STATUS``, the domain's message."""
    return jsonify(error=exc.message), REFUSAL_STATUS[exc.reason]


@bp.errorhandler(InvalidInvitation)
def invalid_invitation(exc: InvalidInvitation):
    """Field errors from ``parse_new_invitation``, worded as on the form, keyed in camelCase."""
    return jsonify(error=FIELDS_INVALID, fields=field_errors(exc.errors)), 400


@bp.errorhandler(invitations.GrantRefused)
def grant_refused(exc: invitations.GrantRefused):
    """An admin asked for (or to start) an invitation that grants ADMIN: 403, with the field that says why."""
    return jsonify(error=exc.message, fields=field_errors(exc.errors)), 403


@bp.errorhandler(RoleRefused)
def role_refused(exc: RoleRefused):
    """``web.manager_required`` refused: the API's 403 in JSON."""
    return jsonify(error=NOT_A_MANAGER), 403


@bp.errorhandler(InvitationNotFound)
def invitation_not_found(exc: InvitationNotFound):
    """Another company's invitation (or none): "not found", never confirmed."""
    return jsonify(error=Refusal.NOT_FOUND.value), REFUSAL_STATUS[Refusal.NOT_FOUND]


# --- the description ------------------------------------------------------------


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi.document())


# --- auth --------------------------------------------------------------------------


@bp.post("/auth/login")
@limits.login_attempts
def login():
    """Sign in with ``{email, password}``: sets the session cookie, answers the user and companies."""
    body = json_object()
    email, password = body.get("email"), body.get("password")
    errors = {}
    if not isinstance(email, str) or not email:
        errors["email"] = accounts.EMAIL_REQUIRED
    if not isinstance(password, str) or not password:
        errors["password"] = accounts.PASSWORD_REQUIRED
    if errors:
        raise ApiError(400, FIELDS_INVALID, errors)
    # PostgreSQL text cannot hold NUL; no account's email contains one anyway.
    user = None if "\x00" in email else accounts.authenticate(email.strip(), password)
    if user is None:
        raise ApiError(401, accounts.LOGIN_FAILED)
    session.pop(SESSION_KEY, None)
    login_user(user)
    current = current_membership()
    return jsonify(
        user=user_json(user),
        companies=[membership_json(m, current) for m in accounts.memberships_of(user.id)],
    )


@bp.post("/auth/logout")
def logout():
    """Sign out; signing out when not signed in is not an error.

    The account's session token changes: a copy of the cookie signs nobody in.
    """
    if current_user.is_authenticated:
        accounts.end_sessions(current_user.id)
        db.session.commit()
    logout_user()
    session.pop(SESSION_KEY, None)
    return jsonify(success=True)


# --- invitations -----------------------------------------------------------------


@bp.get("/companies/invitations")
@manager_required
def list_invitations():
    """The current company's invitations, newest first, with the dashboard's filter, search and pages."""
    which = invitations.parse_filter(request.args.get("filter"))
    page = parse_page(request.args.get("page"))
    search = invitations.parse_search(request.args.get("q"))
    result = invitations.list_for_company(
        current_membership().company_id, which, page, current_app.config["INVITATIONS_PER_PAGE"], search=search
    )
    return jsonify(
        invitations=[invitation_json(i) for i in result.items],
        invitationsPaused=current_membership().company.invitations_paused_at is not None,
        filter=result.filter.value,
        q=result.search,
        page=result.page,
        hasNext=result.has_next,
        hasPrev=result.has_prev,
    )


@bp.post("/companies/invitations/create")
@limits.invitation_creation
@manager_required
def create_invitation():
    """Create an invitation for the current company:
    ``{email?, expiresInDays?, maxUses?, role?, allowedDomain?, label?}``.

    Only an OWNER may create one that grants ADMIN: 403 for an ADMIN, nothing stored.
    """
    form = CreateInvitationForm.from_json(json_object())
    if not form.validate():
        raise ApiError(400, FIELDS_INVALID, form.json_errors())
    membership = current_membership()
    invitation = invitations.create(membership.company_id, current_user, form.new_invitation, membership.role_enum)
    return jsonify(invitation=invitation_json(invitation)), 201


@bp.post("/companies/invitations/validate")
@limits.code_guessing
@login_required
def validate_invitation():
    """Whether ``{code}`` can be used now, with what is left of it and whose company it is.

    A targeted invitation asked about by its (unverified) addressee answers the
    refusal accept would give: confirm the address first.
    """
    invitation = invitations.check(invitation_code(json_object()))
    reason = invitations.unverified_refusal(invitation, current_user)
    if reason is not None:
        raise InvitationRefused(reason, invitation)
    return jsonify(valid=True, invitation=invitation_preview_json(invitation))


@bp.post("/companies/invitations/accept")
@limits.code_guessing
@login_required
def accept_invitation():
    """Use one place on ``{code}`` and join its company with the role it grants (MEMBER or ADMIN)."""
    code = invitation_code(json_object())
    result = invitations.accept(code, current_user._get_current_object())
    return jsonify(
        success=True,
        company=company_json(result.company),
        role=result.membership.role,
        invitation=usage_json(result.invitation),
    )


@bp.post("/companies/invitations/<int:invitation_id>/toggle")
@manager_required
def toggle_invitation(invitation_id: int):
    """Pause an active invitation, or start a paused one (one that grants ADMIN: OWNER only, else 403)."""
    invitation = invitations.set_active(
        invitation_of_current_company(invitation_id), current_user, actor_role=current_membership().role_enum
    )
    return jsonify(success=True, isActive=invitation.is_active)


@bp.post("/companies/invitations/<int:invitation_id>/resend")
@manager_required
def resend_invitation_email(invitation_id: int):
    """Send a targeted invitation's email again: 409 when unusable, 429 past 3 in 24 hours."""
    invitation = invitation_of_current_company(invitation_id)
    try:
        invitations.resend(invitation, current_user)
    except invitations.ResendLimitReached as exc:
        response = jsonify(error=exc.message)
        response.status_code = 429
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ValueError as exc:
        raise ApiError(409, str(exc)) from None
    return jsonify(success=True)


@bp.post("/companies/invitations/<int:invitation_id>/revoke")
@manager_required
def revoke_invitation(invitation_id: int):
    """Revoke an invitation for good."""
    invitation = invitations.revoke(invitation_of_current_company(invitation_id), current_user)
    return jsonify(success=True, revokedAt=timestamp(invitation.revoked_at))


@bp.post("/companies/invitations/<int:invitation_id>/remove-members")
@manager_required
def remove_invitation_members(invitation_id: int):
    """Remove everyone who joined through an invitation (never an owner, nor anyone given a
    higher role since: they are listed as kept, with why), and revoke it, in one transaction."""
    invitation = invitation_of_current_company(invitation_id)
    result = invitations.remove_members(invitation, current_user, current_membership().role_enum)
    return jsonify(members_removal_json(result))


@bp.patch("/companies/invitations/<int:invitation_id>")
@manager_required
def edit_invitation(invitation_id: int):
    """Change ``{maxUses?, expiresInDays?, role?, allowedDomain?, label?, version?}``.

    Only the fields sent change. With ``version`` (the invitation's, as last read) the
    edit is refused (409, with the invitation as it is now) once someone else changed it;
    without it, the last edit wins. Revoked or expired: 409, likewise.
    """
    invitation = invitation_of_current_company(invitation_id)
    form = EditInvitationForm.from_json(json_object())
    if not form.validate():
        raise ApiError(400, FIELDS_INVALID, form.json_errors())
    try:
        invitations.edit(invitation, current_user, current_membership().role_enum, form.changes, form.expected_version)
    except InvitationRefused as exc:
        if exc.invitation is None:
            raise
        return jsonify(error=exc.message, invitation=invitation_json(exc.invitation)), REFUSAL_STATUS[exc.reason]
    return jsonify(invitation=invitation_json(invitation))


def _pause_all_json(result: invitations.PauseAll):
    return jsonify(invitationsPaused=result.paused, pausedAt=timestamp(result.paused_at))


@bp.post("/companies/invitations/pause-all")
@manager_required
def pause_all_invitations():
    """Stop every invitation of the current company from being used, until resume-all."""
    return _pause_all_json(invitations.pause_all(current_membership().company_id, current_user))


@bp.post("/companies/invitations/resume-all")
@manager_required
def resume_all_invitations():
    """Undo pause-all: each invitation is back to its own paused or started state."""
    return _pause_all_json(invitations.resume_all(current_membership().company_id, current_user))
