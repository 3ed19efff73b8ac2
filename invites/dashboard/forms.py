"""Forms of the invitation dashboard.

``CreateInvitationForm`` is the one validator of a new invitation's input: the
dashboard's HTML form and the JSON API's body (``from_json``) both go through
it. Its limits and messages are the domain's constants; the domain checks the
values once more (``invitations.parse_new_invitation``) as the last guard.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import EmailField, HiddenField, IntegerField
from wtforms.validators import AnyOf, InputRequired, NumberRange, StopValidation, ValidationError

from .. import accounts, invitations


class WholeNumberField(IntegerField):
    """An ``IntegerField`` that takes whole numbers only, and says so on the field.

    From a form: digits (``"007"`` is 7). From JSON (``meta.json``): a number,
    ``5.0`` counting as 5; a string, a fraction or ``true`` is refused rather than
    rounded. Anything else, an empty box included, is this field's error: a
    browser sends an empty value for letters typed into a number box, and that must
    not quietly become the default. (A field missing from the request altogether,
    which no browser sends, keeps its default.)
    """

    def __init__(self, label=None, validators=None, *, message: str, **kwargs):
        super().__init__(label, validators, invalid_value_message=message, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        raw = valuelist[0]
        self.data = None
        if getattr(self.meta, "json", False):
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            if isinstance(raw, int) and not isinstance(raw, bool):
                self.data = raw
                return
        elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
            # Bounded before int() sees it, so a 10 kB string of digits costs nothing.
            digits = raw.strip().lstrip("0") or "0"
            if len(digits) <= 6:
                self.data = int(digits)
                return
        raise ValueError(self.invalid_value_message)

    def pre_validate(self, form):
        # A value that is no number already has its message; the range would repeat it.
        if self.process_errors:
            raise StopValidation()


def target_email(form, field) -> None:
    """The one email validator (``accounts.valid_email``), with the invitation's wording."""
    try:
        field.data = invitations.check_email(field.data)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def whole_number(label: str, minimum: int, maximum: int, message: str, **kwargs) -> WholeNumberField:
    """A whole-number field limited to ``minimum``–``maximum`` (the domain's limits), with one
    message for anything else, and the same limits on the browser's number box."""
    return WholeNumberField(
        label,
        validators=[NumberRange(minimum, maximum, message)],
        message=message,
        render_kw={"inputmode": "numeric", "min": minimum, "max": maximum, "step": 1},
        **kwargs,
    )


class CreateInvitationForm(FlaskForm):
    """Email Address (optional), Maximum Uses and Expires In (Days), as in seed 003."""

    email = EmailField(
        "Email Address (Optional)",
        validators=[target_email],
        description="Leave empty for a general invitation code",
        render_kw={
            "placeholder": "user@example.com",
            "autocomplete": "off",
            "maxlength": accounts.EMAIL_MAX_LENGTH,
        },
    )
    max_uses = whole_number(
        "Maximum Uses",
        invitations.MAX_USES_MIN,
        invitations.MAX_USES_MAX,
        invitations.MAX_USES_ERROR,
        default=invitations.MAX_USES_DEFAULT,
        description=f"How many people can use this code (Max: {invitations.MAX_USES_MAX})",
    )
    expires_in_days = whole_number(
        "Expires In (Days)",
        invitations.EXPIRES_MIN,
        invitations.EXPIRES_MAX,
        invitations.EXPIRES_ERROR,
        default=invitations.EXPIRES_DEFAULT,
        description=f"Default: {invitations.EXPIRES_DEFAULT}, Max: {invitations.EXPIRES_MAX}",
    )

    #: The API's names for the fields (it speaks camelCase).
    JSON_NAMES = {"email": "email", "max_uses": "maxUses", "expires_in_days": "expiresInDays"}

    new_invitation: invitations.NewInvitation | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CreateInvitationForm:
        """The form over a JSON body: absent or null fields take their defaults; no CSRF.

        Each value is passed on as it is (a list stays one value, not several), so the
        fields judge JSON types themselves.
        """
        defaults = {
            "email": "",
            "max_uses": invitations.MAX_USES_DEFAULT,
            "expires_in_days": invitations.EXPIRES_DEFAULT,
        }
        pairs = []
        for name, json_name in cls.JSON_NAMES.items():
            value = body.get(json_name)
            pairs.append((name, defaults[name] if value is None else value))
        return cls(formdata=MultiDict(pairs), meta={"csrf": False, "json": True})

    def json_errors(self) -> dict[str, str]:
        """The first error of each field, under the API's field names."""
        return {self.JSON_NAMES.get(name, name): errors[0] for name, errors in self.errors.items()}

    def validate(self, extra_validators=None) -> bool:
        """The fields' validators (and CSRF), then the domain's own check as the last guard."""
        if not super().validate(extra_validators):
            return False
        try:
            self.new_invitation = invitations.parse_new_invitation(
                self.email.data, self.max_uses.data, self.expires_in_days.data
            )
        except invitations.InvalidInvitation as exc:
            for name, message in exc.errors.items():
                self[name].errors = [*self[name].errors, message]
            return False
        return True


class CardActionForm(FlaskForm):
    """A card's button (Pause/Start, Revoke, Resend): its CSRF token is checked once, before the view.

    ``CSRFProtect`` (``csrf.init_app``) refuses every POST to the dashboard whose token
    is missing or wrong before any view runs; the form's own ``csrf_token`` field would
    check the same token against the same session a second time (an HMAC and a signed
    load per click, docs/performance.md).
    """

    class Meta:
        csrf = False


class ToggleForm(CardActionForm):
    """Pause (``active=0``) or start (``active=1``): the wanted state, not a flip.

    Sending the wanted state makes a double click, or two admins clicking at
    once, land on what each of them asked for instead of flipping twice.
    """

    active = HiddenField(validators=[InputRequired(), AnyOf(["0", "1"])])
    next = HiddenField()


class RevokeForm(CardActionForm):
    """Revoke: ``confirm`` is set once the admin has confirmed (dialog or page)."""

    confirm = HiddenField()
    next = HiddenField()


class ResendForm(CardActionForm):
    """Resend email: no input of its own (CSRF is checked before the view)."""

    next = HiddenField()
