"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``.

Kept true by tests: every ``api.*`` route is described here (and nothing else),
and a property-based fuzzer checks every answer against these schemas.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from .. import accounts, invitations, limits
from ..errors import MESSAGES, UNAVAILABLE_RETRY_AFTER
from ..invitations import Filter, Refusal, State
from ..web import REFUSAL_STATUS
from .schemas import BODY_NOT_JSON, FIELDS_INVALID

REF = "#/components/schemas/"
RESPONSES = "#/components/responses/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"application/json": content}


def _answer(description: str, schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    return {"description": description, "content": _json(schema, example)}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra) -> dict[str, Any]:
    """A closed object: the answers carry exactly these properties."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


DATE_TIME = {"type": "string", "format": "date-time", "examples": ["2025-01-27T10:00:00Z"]}
STATUS = {
    "type": "string",
    "enum": [s.value for s in State],
    "description": "PENDING: usable (unless paused); ACCEPTED: fully used; EXPIRED; REVOKED.",
}


ROLE = {
    "type": "string",
    "enum": [role.value for role in invitations.GRANTABLE_ROLES],
    "description": "The role people who join through the invitation get.",
}
ALLOWED_DOMAIN = {
    "type": ["string", "null"],
    "description": "Only accounts with a confirmed address at exactly this domain (acme.com: not "
    "sales.acme.com) may accept; null: any.",
    "examples": ["acme.com"],
}


def _schemas() -> dict[str, Any]:
    usage = {
        "maxUses": {"type": "integer", "minimum": invitations.MAX_USES_MIN, "maximum": invitations.MAX_USES_MAX},
        "usedCount": {"type": "integer", "minimum": 0, "maximum": invitations.MAX_USES_MAX},
        "remainingUses": {"type": "integer", "minimum": 0, "maximum": invitations.MAX_USES_MAX},
        "status": STATUS,
    }
    joiner = {
        "userId": {"type": "integer"},
        "name": {"type": "string"},
        "email": {"type": "string"},
        "role": {"type": "string", "enum": ["OWNER", "ADMIN", "MEMBER"], "description": "Their role in the company."},
    }
    return {
        "Error": _object(
            {"error": {"type": "string", "description": "A sentence for the user."}},
            examples=[{"error": Refusal.PAUSED.value}],
        ),
        "FieldErrors": _object(
            {
                "error": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "A message per field, worded as on the forms.",
                    "additionalProperties": {"type": "string"},
                },
            },
            required=["error"],
            examples=[{"error": FIELDS_INVALID, "fields": {"maxUses": invitations.MAX_USES_ERROR}}],
        ),
        "Company": _object({"id": {"type": "integer"}, "name": {"type": "string"}}),
        "User": _object({"id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"}}),
        "Membership": _object(
            {
                "id": {"type": "integer", "description": "The company's id."},
                "name": {"type": "string", "description": "The company's name."},
                "role": {"type": "string", "enum": ["OWNER", "ADMIN", "MEMBER"]},
                "current": {
                    "type": "boolean",
                    "description": "The company the invitation endpoints act on.",
                },
            }
        ),
        "Usage": _object(usage),
        "Role": ROLE,
        "Invitation": _object(
            {
                "id": {"type": "integer"},
                "code": {"type": "string"},
                "url": {"type": "string", "format": "uri", "description": "The absolute shareable link."},
                "email": {"type": ["string", "null"], "description": "Only this account may accept; null: anyone."},
                "role": _ref("Role"),
                "allowedDomain": ALLOWED_DOMAIN,
                "label": {
                    "type": ["string", "null"],
                    "maxLength": invitations.LABEL_MAX_LENGTH,
                    "description": "The admins' note, such as Sales team; null: none.",
                },
                **usage,
                "isActive": {"type": "boolean", "description": "false: paused."},
                "expiresAt": DATE_TIME,
                "createdAt": DATE_TIME,
                "revokedAt": {**DATE_TIME, "type": ["string", "null"]},
                "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "One more with every edit: send it back with PATCH to refuse a lost update.",
                },
            }
        ),
        "Joiner": _object(joiner),
        "KeptJoiner": _object(
            {
                **joiner,
                "reason": {
                    "type": "string",
                    "description": "Why the removal kept them.",
                    "examples": [invitations.KEPT_OWNER, invitations.KEPT_PROMOTED.format(role="Admin")],
                },
            }
        ),
        "PauseAll": _object(
            {
                "invitationsPaused": {"type": "boolean"},
                "pausedAt": {**DATE_TIME, "type": ["string", "null"], "description": "Since when; null: not paused."},
            },
            examples=[{"invitationsPaused": True, "pausedAt": "2025-01-27T10:00:00Z"}],
        ),
        "InvitationPreview": _object(
            {
                "code": {"type": "string"},
                "email": {
                    "type": ["string", "null"],
                    "description": "The target address, masked (j***@example.com); null: anyone.",
                },
                "role": _ref("Role"),
                "allowedDomain": ALLOWED_DOMAIN,
                **usage,
                "isActive": {"type": "boolean"},
                "expiresAt": DATE_TIME,
                "company": _ref("Company"),
            }
        ),
    }


def _responses() -> dict[str, Any]:
    error = _ref("Error")
    return {
        "BadRequest": _answer(
            "The body is not a JSON object, or a field is invalid (`fields` says which).",
            _ref("FieldErrors"),
            {"error": FIELDS_INVALID, "fields": {"maxUses": invitations.MAX_USES_ERROR}},
        ),
        "Unauthorized": _answer("Not signed in.", error, {"error": "Log in to continue."}),
        "Forbidden": _answer(
            "A cross-site request, or a role that may not do this.",
            error,
            {"error": "Only owners and admins of the company can manage its invitations."},
        ),
        "NotFound": _answer(
            "No such invitation in the current company (another company's is not confirmed).",
            error,
            {"error": Refusal.NOT_FOUND.value},
        ),
        "Conflict": _answer(
            "The invitation's state (revoked, expired, fully used, paused), or the user (already a member), forbids this now.",
            error,
            {"error": Refusal.PAUSED.value},
        ),
        "TooLarge": _answer("The body is larger than 16 KiB.", error, {"error": "The request is too large."}),
        "UnsupportedMediaType": _answer("The body is not JSON.", error, {"error": BODY_NOT_JSON}),
        "Unavailable": {
            **_answer(
                "The database did not answer in time (connect or statement timeout, lock wait). "
                "Nothing was changed; try again after `Retry-After` seconds.",
                error,
                {"error": MESSAGES[503]},
            ),
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 1, "examples": [UNAVAILABLE_RETRY_AFTER]},
                }
            },
        },
        "TooManyRequests": {
            **_answer(
                "Rate limited: too many failed log-ins, unknown invitation codes, or invitations "
                "created in a short time. Try again after `Retry-After` seconds.",
                error,
                {"error": f"{limits.GUESS_MESSAGE} Try again in 42 seconds."},
            ),
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
    }


def _body(schema: dict[str, Any], example: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": _json(schema, example)}


def _use(*names: str) -> dict[str, Any]:
    codes = {
        "BadRequest": "400",
        "Unauthorized": "401",
        "Forbidden": "403",
        "NotFound": "404",
        "Conflict": "409",
        "TooLarge": "413",
        "UnsupportedMediaType": "415",
        "TooManyRequests": "429",
        "Unavailable": "503",
    }
    return {codes[name]: {"$ref": RESPONSES + name} for name in names}


def _every_operation_may_be_unavailable(paths: dict[str, Any]) -> dict[str, Any]:
    """Any operation that reads the database can meet it unavailable: 503 on each, once here
    (the description itself reads none)."""
    for path, item in paths.items():
        for operation in item.values():
            if path != "/api/openapi.json":
                operation["responses"].update(_use("Unavailable"))
    return paths


BODY_ERRORS = ("BadRequest", "TooLarge", "UnsupportedMediaType")
INVITATION_ID = {
    "name": "invitation_id",
    "in": "path",
    "required": True,
    "description": "The invitation's `id`, as listed or created.",
    "schema": {"type": "integer", "minimum": 1},
}
CODE_BODY = _object(
    {
        "code": {
            "type": "string",
            "description": "The invitation code, trimmed. A code of another shape is not found (404).",
            "minLength": 1,
        }
    },
    additionalProperties=True,
)


def _paths() -> dict[str, Any]:
    signed_in = [{"cookieAuth": []}]
    return {
        "/api/auth/login": {
            "post": {
                "operationId": "login",
                "tags": ["auth"],
                "summary": "Sign in",
                "description": "Sets the session cookie that the other endpoints read.",
                "security": [],
                "requestBody": _body(
                    _object(
                        {
                            "email": {"type": "string", "minLength": 1},
                            "password": {"type": "string", "minLength": 1},
                        },
                        additionalProperties=True,
                    ),
                    {"email": "boss@example.com", "password": "long enough"},
                ),
                "responses": {
                    "200": _answer(
                        "Signed in: the user and their companies.",
                        _object(
                            {
                                "user": _ref("User"),
                                "companies": {"type": "array", "items": _ref("Membership")},
                            }
                        ),
                    ),
                    "401": _answer("Wrong email or password.", _ref("Error"), {"error": accounts.LOGIN_FAILED}),
                    **_use("Forbidden", *BODY_ERRORS, "TooManyRequests"),
                },
            }
        },
        "/api/auth/logout": {
            "post": {
                "operationId": "logout",
                "tags": ["auth"],
                "summary": "Sign out",
                "description": "Clears the session. Signing out when not signed in also answers 200.",
                "security": [],
                "responses": {
                    "200": _answer("Signed out.", _object({"success": {"const": True}})),
                    **_use("Forbidden"),
                },
            }
        },
        "/api/companies/invitations": {
            "get": {
                "operationId": "listInvitations",
                "tags": ["invitations"],
                "summary": "List the current company's invitations",
                "description": "Newest first, 50 a page, with usage data. OWNER and ADMIN.",
                "security": signed_in,
                "parameters": [
                    {
                        "name": "filter",
                        "in": "query",
                        "description": "One of " + ", ".join(f.value for f in Filter) + "; anything else means all.",
                        # Read as leniently as the dashboard's links: any string is answered.
                        "schema": {"type": "string", "examples": [f.value for f in Filter]},
                    },
                    {
                        "name": "page",
                        "in": "query",
                        "description": "Page number from 1 (50 a page); anything else means 1.",
                        "schema": {"type": "string", "examples": ["1", "2"]},
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "description": "Search: invitations whose label or target email contains this text (any "
                        "case; % and _ match themselves), or whose code starts with it. Combined with the filter; "
                        f"empty: all. At most {invitations.SEARCH_MAX_LENGTH} characters are used.",
                        "schema": {"type": "string", "examples": ["sales", "@acme.com"]},
                    },
                ],
                "responses": {
                    "200": _answer(
                        "One page of invitations.",
                        _object(
                            {
                                "invitations": {"type": "array", "items": _ref("Invitation")},
                                "invitationsPaused": {
                                    "type": "boolean",
                                    "description": "true: pause-all is on, none of them can be used now.",
                                },
                                "filter": {"type": "string", "enum": [f.value for f in Filter]},
                                "q": {"type": "string", "description": "The search used, as read; empty: none."},
                                "page": {"type": "integer", "minimum": 1},
                                "hasNext": {"type": "boolean"},
                                "hasPrev": {"type": "boolean"},
                            }
                        ),
                    ),
                    **_use("Unauthorized", "Forbidden"),
                },
            }
        },
        "/api/companies/invitations/create": {
            "post": {
                "operationId": "createInvitation",
                "tags": ["invitations"],
                "summary": "Create an invitation in the current company",
                "description": "OWNER and ADMIN. Every field is optional; an empty body creates a "
                "general single-use invitation valid for 7 days that makes people Members. Only an OWNER "
                f'may create one with role ADMIN: an ADMIN gets 403 "{invitations.ADMIN_ROLE_ERROR}" and '
                "nothing is stored. `allowedDomain` cannot go with an `email` (400).",
                "security": signed_in,
                "requestBody": _body(
                    _object(
                        {
                            "email": {
                                "description": "Only this account may accept. Absent, null or blank: anyone.",
                                "anyOf": [
                                    {"type": "string", "format": "email", "maxLength": accounts.EMAIL_MAX_LENGTH},
                                    {"type": "string", "pattern": "^\\s*$"},
                                    {"type": "null"},
                                ],
                            },
                            "expiresInDays": {
                                "description": "Absent or null: the default.",
                                "type": ["integer", "null"],
                                "minimum": invitations.EXPIRES_MIN,
                                "maximum": invitations.EXPIRES_MAX,
                                "default": invitations.EXPIRES_DEFAULT,
                            },
                            "maxUses": {
                                "description": "Absent or null: the default.",
                                "type": ["integer", "null"],
                                "minimum": invitations.MAX_USES_MIN,
                                "maximum": invitations.MAX_USES_MAX,
                                "default": invitations.MAX_USES_DEFAULT,
                            },
                            "role": {
                                "description": "MEMBER or ADMIN (any case). Absent, null or blank: MEMBER. "
                                "ADMIN: OWNER only.",
                                "type": ["string", "null"],
                                "examples": ["MEMBER", "ADMIN"],
                            },
                            "allowedDomain": {
                                "description": "A domain such as acme.com (no @), lower-cased; only confirmed "
                                "addresses at exactly it may accept. Absent, null or blank: any. Not with `email`.",
                                "type": ["string", "null"],
                                "examples": ["acme.com"],
                            },
                            "label": {
                                "description": f"A note of at most {invitations.LABEL_MAX_LENGTH} characters on "
                                "one line (trimmed). Absent, null or blank: none.",
                                "type": ["string", "null"],
                                "examples": ["Sales team"],
                            },
                        },
                        required=[],
                        additionalProperties=True,
                    ),
                    {
                        "expiresInDays": 7,
                        "maxUses": 5,
                        "role": "MEMBER",
                        "allowedDomain": "acme.com",
                        "label": "Sales team",
                    },
                    required=False,
                ),
                "responses": {
                    "201": _answer("Created.", _object({"invitation": _ref("Invitation")})),
                    **_use("Unauthorized", "Forbidden", *BODY_ERRORS, "TooManyRequests"),
                },
            }
        },
        "/api/companies/invitations/validate": {
            "post": {
                "operationId": "validateInvitation",
                "tags": ["invitations"],
                "summary": "Check whether a code can be used now",
                "description": "Any signed-in user. Refusals, in this order: "
                + "; ".join(
                    f'{REFUSAL_STATUS[r]} "{r.value}"'
                    for r in (Refusal.NOT_FOUND, Refusal.REVOKED, Refusal.EXPIRED, Refusal.FULL, Refusal.PAUSED)
                )
                + f' (also when the company paused all its invitations); {REFUSAL_STATUS[Refusal.UNVERIFIED]} "'
                + Refusal.UNVERIFIED.value
                + '" for the unconfirmed addressee of a targeted invitation, or an unconfirmed address at '
                "its allowed domain.",
                "security": signed_in,
                "requestBody": _body(CODE_BODY, {"code": "abc123"}),
                "responses": {
                    "200": _answer(
                        "The invitation can be used.",
                        _object({"valid": {"const": True}, "invitation": _ref("InvitationPreview")}),
                    ),
                    **_use("Unauthorized", "Forbidden", "NotFound", "Conflict", *BODY_ERRORS, "TooManyRequests"),
                },
            }
        },
        "/api/companies/invitations/accept": {
            "post": {
                "operationId": "acceptInvitation",
                "tags": ["invitations"],
                "summary": "Use a code: join its company with the role it grants",
                "description": "Any signed-in user; they join as the invitation's `role`. The refusals of "
                "validate, then "
                f'{REFUSAL_STATUS[Refusal.WRONG_ACCOUNT]} "{Refusal.WRONG_ACCOUNT.value}", '
                f'{REFUSAL_STATUS[Refusal.WRONG_DOMAIN]} "This invitation is limited to @<domain> addresses" '
                "(an account without a confirmed address at exactly that domain), "
                f'{REFUSAL_STATUS[Refusal.UNVERIFIED]} "{Refusal.UNVERIFIED.value}" and '
                f'{REFUSAL_STATUS[Refusal.ALREADY_MEMBER]} "You are already a member of <company>" or '
                f'{REFUSAL_STATUS[Refusal.ALREADY_USED]} "{Refusal.ALREADY_USED.value}" (a member removed since). '
                "Exactly max uses people get in, however many accept at once.",
                "security": signed_in,
                "requestBody": _body(CODE_BODY, {"code": "abc123"}),
                "responses": {
                    "200": _answer(
                        "Joined.",
                        _object(
                            {
                                "success": {"const": True},
                                "company": _ref("Company"),
                                "role": _ref("Role"),
                                "invitation": _ref("Usage"),
                            }
                        ),
                    ),
                    **_use("Unauthorized", "Forbidden", "NotFound", "Conflict", *BODY_ERRORS, "TooManyRequests"),
                },
            }
        },
        "/api/companies/invitations/{invitation_id}/toggle": {
            "post": {
                "operationId": "toggleInvitation",
                "tags": ["invitations"],
                "summary": "Pause an active invitation, or start a paused one",
                "description": "OWNER and ADMIN of the invitation's company; only an OWNER may start a "
                f'paused invitation that grants ADMIN (403 "{invitations.START_ADMIN_ERROR}", still paused); '
                "pausing one is open to both. 409 once it is revoked, expired or fully used.",
                "security": signed_in,
                "parameters": [INVITATION_ID],
                "responses": {
                    "200": _answer(
                        "The new state.",
                        _object({"success": {"const": True}, "isActive": {"type": "boolean"}}),
                    ),
                    "403": _answer(
                        "A cross-site request, a role that may not manage invitations, or a paused ADMIN "
                        "invitation started by an admin (`fields.role`).",
                        _ref("FieldErrors"),
                        {"error": invitations.START_ADMIN_ERROR, "fields": {"role": invitations.START_ADMIN_ERROR}},
                    ),
                    **_use("Unauthorized", "NotFound", "Conflict"),
                },
            }
        },
        "/api/companies/invitations/{invitation_id}/resend": {
            "post": {
                "operationId": "resendInvitationEmail",
                "tags": ["invitations"],
                "summary": "Send a targeted invitation's email again",
                "description": "OWNER and ADMIN of the invitation's company. The email goes to the "
                "invitation's address through the outbox. 409 when the invitation has no address or "
                "cannot be used (revoked, expired, full, paused); 429 after 3 resends in 24 hours.",
                "security": signed_in,
                "parameters": [INVITATION_ID],
                "responses": {
                    "200": _answer("Queued for sending.", _object({"success": {"const": True}})),
                    **_use("Unauthorized", "Forbidden", "NotFound", "Conflict", "TooManyRequests"),
                },
            }
        },
        "/api/companies/invitations/{invitation_id}/revoke": {
            "post": {
                "operationId": "revokeInvitation",
                "tags": ["invitations"],
                "summary": "Revoke an invitation for good",
                "description": "OWNER and ADMIN of the invitation's company. 409 once it is revoked or fully used.",
                "security": signed_in,
                "parameters": [INVITATION_ID],
                "responses": {
                    "200": _answer(
                        "Revoked.",
                        _object({"success": {"const": True}, "revokedAt": DATE_TIME}),
                    ),
                    **_use("Unauthorized", "Forbidden", "NotFound", "Conflict"),
                },
            }
        },
        "/api/companies/invitations/{invitation_id}/remove-members": {
            "post": {
                "operationId": "removeInvitationMembers",
                "tags": ["invitations"],
                "summary": "Remove everyone who joined through an invitation, and revoke it",
                "description": "OWNER and ADMIN of the invitation's company. In one transaction: the invitation "
                "is revoked (even when fully used: its link admits nobody afterwards), and the members of the "
                "company who joined through it are removed, each audited and signed out. Kept, with a "
                f'reason: an owner ("{invitations.KEPT_OWNER}"), anyone given a role above the one the '
                f'invitation granted ("{invitations.KEPT_PROMOTED.format(role="Admin")}"), and, when an '
                f'admin asks, admins ("{invitations.KEPT_ADMIN}"). Who has left already is in neither list. '
                "Asking again removes nobody new.",
                "security": signed_in,
                "parameters": [INVITATION_ID],
                "responses": {
                    "200": _answer(
                        "Who was removed, who was kept and why, and the invitation now (REVOKED).",
                        _object(
                            {
                                "removed": {"type": "array", "items": _ref("Joiner")},
                                "kept": {"type": "array", "items": _ref("KeptJoiner")},
                                "invitation": _ref("Invitation"),
                            }
                        ),
                    ),
                    **_use("Unauthorized", "Forbidden", "NotFound"),
                },
            }
        },
        "/api/companies/invitations/{invitation_id}": {
            "patch": {
                "operationId": "editInvitation",
                "tags": ["invitations"],
                "summary": "Edit an invitation",
                "description": "OWNER and ADMIN of the invitation's company; only an OWNER may set role ADMIN "
                f'or edit an invitation that grants it (403 "{invitations.ADMIN_ROLE_ERROR}"). Only the fields '
                "sent change; an edit that changes nothing writes nothing. Max uses may not go below the uses "
                "already made (400); set to that count, the invitation is fully used. With `version` (the one "
                "last read) the edit is refused once someone else changed the invitation: 409 with the "
                "invitation as it is now; without it, the last edit wins. Revoked or expired: 409 likewise.",
                "security": signed_in,
                "parameters": [INVITATION_ID],
                "requestBody": _body(
                    _object(
                        {
                            "maxUses": {
                                "description": "From the uses already made (at least 1). Absent or null: unchanged.",
                                "type": ["integer", "null"],
                                "minimum": invitations.MAX_USES_MIN,
                                "maximum": invitations.MAX_USES_MAX,
                            },
                            "expiresInDays": {
                                "description": "A new expiry, this many days from now. Absent or null: unchanged.",
                                "type": ["integer", "null"],
                                "minimum": invitations.EXPIRES_MIN,
                                "maximum": invitations.EXPIRES_MAX,
                            },
                            "role": {
                                "description": "What joining makes people. Absent or null: unchanged.",
                                "type": ["string", "null"],
                                "enum": [r.value for r in invitations.GRANTABLE_ROLES] + [None],
                            },
                            "allowedDomain": {
                                "description": "Only verified addresses at this domain may join (not with a target "
                                "email). Null or blank: anyone. Absent: unchanged.",
                                "type": ["string", "null"],
                                "maxLength": invitations.DOMAIN_MAX_LENGTH,
                            },
                            "label": {
                                "description": "A note, one line. Null or blank: none. Absent: unchanged.",
                                "type": ["string", "null"],
                                "maxLength": invitations.LABEL_MAX_LENGTH,
                            },
                            "version": {
                                "description": "The invitation's version as last read. Absent or null: no check.",
                                "type": ["integer", "null"],
                                "minimum": 1,
                            },
                        },
                        required=[],
                        additionalProperties=True,
                    ),
                    {"maxUses": 10, "expiresInDays": 14, "label": "Meetup 12 May", "version": 1},
                    required=False,
                ),
                "responses": {
                    "200": _answer("The invitation as edited.", _object({"invitation": _ref("Invitation")})),
                    "403": _answer(
                        "A cross-site request, a role that may not manage invitations, or an ADMIN invitation "
                        "edited by an admin (`fields.role`).",
                        _ref("FieldErrors"),
                        {"error": invitations.ADMIN_ROLE_ERROR, "fields": {"role": invitations.ADMIN_ROLE_ERROR}},
                    ),
                    "409": _answer(
                        "Revoked, expired, or changed by someone else since `version`: the invitation as it is now.",
                        _object({"error": {"type": "string"}, "invitation": _ref("Invitation")}),
                        {"error": Refusal.CHANGED_MEANWHILE.value},
                    ),
                    **_use("Unauthorized", "NotFound", *BODY_ERRORS),
                },
            }
        },
        "/api/companies/invitations/pause-all": {
            "post": {
                "operationId": "pauseAllInvitations",
                "tags": ["invitations"],
                "summary": "Stop every invitation of the current company from being used",
                "description": "OWNER and ADMIN. Until resume-all, every invitation is refused as paused; each "
                "keeps its own paused/started state. Pausing again changes nothing.",
                "security": signed_in,
                "responses": {
                    "200": _answer("Paused.", _ref("PauseAll")),
                    **_use("Unauthorized", "Forbidden"),
                },
            }
        },
        "/api/companies/invitations/resume-all": {
            "post": {
                "operationId": "resumeAllInvitations",
                "tags": ["invitations"],
                "summary": "Undo pause-all",
                "description": "OWNER and ADMIN. Each invitation is back to its own state: one paused before "
                "stays paused. Resuming when not paused changes nothing.",
                "security": signed_in,
                "responses": {
                    "200": _answer("Resumed.", _ref("PauseAll")),
                    **_use("Unauthorized", "Forbidden"),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["meta"],
                "summary": "This description",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def document() -> dict[str, Any]:
    """The whole description, for the app it is served from."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Invites API",
            "version": "1.0.0",
            "description": (
                "Seed 003's invitation API. Sign in with POST /api/auth/login; the session cookie "
                "it sets authenticates the rest. The invitation endpoints act on the user's current "
                "company (their first, by name, unless they switched in the web app).\n\n"
                "Status codes: 400 a body that is not a JSON object, or field errors "
                "`{error, fields}`; 401 not signed in; 403 a role that may not do this (an ADMIN "
                "creating an invitation that grants ADMIN), an invitation for another email address "
                "or limited to a domain the account's confirmed address is not at, an address not yet "
                "confirmed, or a cross-site browser request "
                "(`Sec-Fetch-Site: cross-site`, or an `Origin` other than this site); 404 unknown "
                "invitation id or code, including another company's; 409 the invitation's state "
                "(revoked, expired, fully used, paused) or the user (already a member) forbids it; "
                "413 a body over 16 KiB; 415 a body that is not JSON; 429 too many failed log-ins "
                "(per client and per email), unknown invitation codes (validate and accept, per "
                "client and per user; good codes never count), or invitations created (per user): "
                "wait `Retry-After` seconds; 503 the database did not answer in time (nothing changed; "
                "`Retry-After` says when to try again). No input answers 5xx."
            ),
        },
        "tags": [
            {"name": "auth", "description": "Session cookie sign-in."},
            {"name": "invitations", "description": "Seed 003's endpoints."},
            {"name": "meta"},
        ],
        "paths": _every_operation_may_be_unavailable(_paths()),
        "components": {
            "schemas": _schemas(),
            "responses": _responses(),
            "securitySchemes": {
                "cookieAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": current_app.config.get("SESSION_COOKIE_NAME", "session"),
                    "description": "The session cookie set by POST /api/auth/login.",
                }
            },
        },
    }
