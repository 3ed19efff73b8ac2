"""What the API reads and writes: JSON object bodies in, camelCase objects out.

The shapes written here are the ones ``openapi.py`` describes; the fuzzer in
``tests/test_api_fuzz.py`` checks that the two agree.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from flask import request

from .. import invitations
from ..dashboard.forms import JSON_FIELD_NAMES
from ..links import invite_url
from ..models import Company, Invitation, Membership, User

# Every body this API accepts is a few hundred bytes; anything far larger is refused (413)
# before it is parsed.
MAX_BODY_BYTES = 16 * 1024

BODY_NOT_JSON = "Send the body as JSON, with Content-Type: application/json."
BODY_MALFORMED = "The body is not valid JSON."
BODY_NOT_OBJECT = "The body must be a JSON object."
FIELDS_INVALID = "Some fields need fixing."
CODE_MISSING = "Enter an invitation code."


class ApiError(Exception):
    """A refusal to answer with ``status`` and ``{error, fields?}``."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None):
        self.status = status
        self.message = message
        self.fields = fields
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.fields is not None:
            body["fields"] = self.fields
        return body


def json_object() -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as ``{}``.

    Raises ``ApiError`` (415 for another content type, 400 for anything that
    is not a JSON object) and lets Werkzeug's 413 through for oversized bodies.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if not request.is_json:
        raise ApiError(415, BODY_NOT_JSON)
    try:
        data = json.loads(raw)
        # Lone surrogates ("\ud800") parse, but no UTF-8 text can hold them; refuse them here
        # rather than let them reach a password hash or a database driver.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):
        # ValueError covers bad syntax, bad encodings and integers too long to convert;
        # RecursionError, arrays nested thousands deep.
        raise ApiError(400, BODY_MALFORMED) from None
    if not isinstance(data, dict):
        raise ApiError(400, BODY_NOT_OBJECT)
    return data


def invitation_code(body: dict[str, Any]) -> str:
    """The ``code`` of a validate or accept body, trimmed; its format is the domain's to judge."""
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise ApiError(400, FIELDS_INVALID, {"code": CODE_MISSING})
    return code.strip()


def field_errors(errors: dict[str, str]) -> dict[str, str]:
    """The domain's field errors under the API's field names."""
    return {JSON_FIELD_NAMES.get(name, name): message for name, message in errors.items()}


# --- out ---------------------------------------------------------------------


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC, e.g. ``2025-01-27T10:00:00Z``."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def company_json(company: Company) -> dict[str, Any]:
    return {"id": company.id, "name": company.name}


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name}


def membership_json(membership: Membership, current: Membership | None) -> dict[str, Any]:
    return {
        **company_json(membership.company),
        "role": membership.role,
        "current": current is not None and current.id == membership.id,
    }


def usage_json(invitation: Invitation) -> dict[str, Any]:
    """The counters and the status badge."""
    return {
        "maxUses": invitation.max_uses,
        "usedCount": invitation.used_count,
        "remainingUses": invitations.remaining_uses(invitation),
        "status": invitations.state(invitation).value,
    }


def invitation_json(invitation: Invitation) -> dict[str, Any]:
    """An invitation as its company's owners and admins see it."""
    return {
        "id": invitation.id,
        "code": invitation.code,
        "url": invite_url(invitation.code),
        "email": invitation.email,
        "role": invitation.role,
        "allowedDomain": invitation.allowed_domain,
        "label": invitation.label,
        **usage_json(invitation),
        "isActive": invitation.is_active,
        "expiresAt": timestamp(invitation.expires_at),
        "createdAt": timestamp(invitation.created_at),
        "revokedAt": timestamp(invitation.revoked_at),
        "version": invitation.version,
    }


def joiner_json(joiner: invitations.Joiner) -> dict[str, Any]:
    """Someone who joined through an invitation, as its company's owners and admins see them
    (the members page shows them everyone's email): with why a removal kept them, if it did."""
    body: dict[str, Any] = {
        "userId": joiner.user_id,
        "name": joiner.name,
        "email": joiner.email,
        "role": joiner.role.value,
    }
    if joiner.kept_because is not None:
        body["reason"] = joiner.kept_because
    return body


def members_removal_json(result: invitations.MembersRemoval) -> dict[str, Any]:
    """What ``remove_members`` did: who was removed, who was kept and why, the invitation now."""
    return {
        "removed": [joiner_json(j) for j in result.removed],
        "kept": [joiner_json(j) for j in result.kept],
        "invitation": invitation_json(result.invitation),
    }


def invitation_preview_json(invitation: Invitation) -> dict[str, Any]:
    """An invitation as anyone holding its code sees it: the target email masked."""
    return {
        "code": invitation.code,
        "email": invitations.mask_email(invitation.email) if invitation.email else None,
        "role": invitation.role,
        "allowedDomain": invitation.allowed_domain,
        **usage_json(invitation),
        "isActive": invitation.is_active,
        "expiresAt": timestamp(invitation.expires_at),
        "company": company_json(invitation.company),
    }
