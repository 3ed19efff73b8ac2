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
from wtforms import EmailField, HiddenField, IntegerField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import AnyOf, InputRequired, NumberRange, Optional, StopValidation, ValidationError
from wtforms.widgets import HiddenInput

from .. import accounts, invitations, widgets

#: The API's names for the invitation fields (it speaks camelCase; the domain and the forms
#: name them in snake_case): the forms read JSON bodies and the API words errors by these.
JSON_FIELD_NAMES = {
    "email": "email",
    "max_uses": "maxUses",
    "expires_in_days": "expiresInDays",
    "role": "role",
    "allowed_domain": "allowedDomain",
    "label": "label",
    "version": "version",
}


def json_names(*fields: str) -> dict[str, str]:
    """``JSON_FIELD_NAMES`` of ``fields``, in that order (the fields a form reads from JSON)."""
    return {name: JSON_FIELD_NAMES[name] for name in fields}


class WholeNumberField(IntegerField):
    """An ``IntegerField`` that takes whole numbers only, and says so on the field.

    From a form: digits (``"007"`` is 7). From JSON (``meta.json``): a number,
    ``5.0`` counting as 5; a string, a fraction or ``true`` is refused rather than
    rounded. Anything else, an empty box included, is this field's error: a
    browser sends an empty value for letters typed into a number box, and that must
    not quietly become the default. (A field missing from the request altogether,
    which no browser sends, keeps its default.)
    """

    widget = widgets.NumberInput()

    def __init__(self, label=None, validators=None, *, message: str, allow_blank: bool = False, **kwargs):
        super().__init__(label, validators, invalid_value_message=message, **kwargs)
        #: An empty box means "no value" (None) rather than an error: an edit's "keep it".
        self.allow_blank = allow_blank

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        raw = valuelist[0]
        self.data = None
        if self.allow_blank and (raw is None or (isinstance(raw, str) and raw.strip() == "")):
            return
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


def domain_check(checker):
    """A field validator from one of the domain's checks (``check_role``, ``check_domain``,
    ``check_label``): the field holds the clean value, or gets the domain's message."""

    def validate(form, field) -> None:
        try:
            field.data = checker(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    return validate


def whole_number(
    label: str, minimum: int, maximum: int, message: str, *, allow_blank: bool = False, **kwargs
) -> WholeNumberField:
    """A whole-number field limited to ``minimum``–``maximum`` (the domain's limits), with one
    message for anything else, and the same limits on the browser's number box.

    ``allow_blank``: an empty (or, from JSON, absent or null) value is no value at all
    (None), not an error.
    """
    return WholeNumberField(
        label,
        validators=[*([Optional()] if allow_blank else []), NumberRange(minimum, maximum, message)],
        message=message,
        allow_blank=allow_blank,
        render_kw={"inputmode": "numeric", "min": minimum, "max": maximum, "step": 1},
        **kwargs,
    )


def role_field(*validators, **kwargs) -> SelectField:
    """What joining makes people (Member or Admin); ``check_role`` judges the value (any
    case, with the domain's message), not the choices."""
    return SelectField(
        "Joins as",
        choices=[SelectChoice(role.value, role.value.title()) for role in invitations.GRANTABLE_ROLES],
        validate_choice=False,
        validators=[*validators, domain_check(invitations.check_role)],
        description="Only an owner can invite Admins",
        **kwargs,
    )


def allowed_domain_field() -> StringField:
    """Only verified addresses at exactly this domain may join (``check_domain``)."""
    return StringField(
        "Allowed Email Domain (Optional)",
        widget=widgets.TextInput(),
        validators=[domain_check(invitations.check_domain)],
        description="Only verified addresses at exactly this domain may join, e.g. acme.com",
        render_kw={"placeholder": "acme.com", "autocomplete": "off", "maxlength": invitations.DOMAIN_MAX_LENGTH},
    )


def label_field() -> StringField:
    """An admin's note on the invitation (``check_label``)."""
    return StringField(
        "Label (Optional)",
        widget=widgets.TextInput(),
        validators=[domain_check(invitations.check_label)],
        description=f"A note for your team, such as Sales team (at most {invitations.LABEL_MAX_LENGTH} characters)",
        render_kw={"autocomplete": "off", "maxlength": invitations.LABEL_MAX_LENGTH},
    )


class CreateInvitationForm(FlaskForm):
    """Email Address (optional), Maximum Uses and Expires In (Days), as in seed 003; the role
    it grants, an allowed email domain and a label (issue 13)."""

    email = EmailField(
        "Email Address (Optional)",
        widget=widgets.EmailInput(),
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

    role = role_field(default=invitations.Role.MEMBER.value)
    allowed_domain = allowed_domain_field()
    label = label_field()

    JSON_NAMES = json_names("email", "max_uses", "expires_in_days", "role", "allowed_domain", "label")

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
            "role": invitations.Role.MEMBER.value,
            "allowed_domain": "",
            "label": "",
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
                self.email.data,
                self.max_uses.data,
                self.expires_in_days.data,
                role=self.role.data,
                allowed_domain=self.allowed_domain.data,
                label=self.label.data,
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


class RemoveMembersForm(FlaskForm):
    """Remove everyone who joined through an invitation: ``confirm`` is set once confirmed (dialog or page)."""

    confirm = HiddenField()
    next = HiddenField()


class ResendForm(CardActionForm):
    """Resend email: no input of its own (CSRF is checked before the view)."""

    next = HiddenField()


# --- editing an invitation -----------------------------------------------------------


STALE_FORM = "The version must be the whole number the invitation had when you read it: reload and try again."


class EditInvitationForm(FlaskForm):
    """Edit an invitation: max uses, expiry, role, allowed domain and label, with its version.

    The HTML form sends every field: an empty expiry keeps the expiry, an empty domain
    or label clears it. A JSON body (``from_json``, the API's PATCH) changes only the
    fields it names. ``version`` is the invitation's version the form was made from;
    the edit is refused if it has moved since. ``changes`` holds what was validated.
    """

    max_uses = whole_number(
        "Maximum Uses",
        invitations.MAX_USES_MIN,
        invitations.MAX_USES_MAX,
        invitations.MAX_USES_ERROR,
        allow_blank=True,
        description=f"At least the uses already made, at most {invitations.MAX_USES_MAX}",
    )
    expires_in_days = whole_number(
        "Expires In (Days from now)",
        invitations.EXPIRES_MIN,
        invitations.EXPIRES_MAX,
        invitations.EXPIRES_ERROR,
        allow_blank=True,
        description="Leave empty to keep the current expiry",
    )
    role = role_field(Optional())
    allowed_domain = allowed_domain_field()
    label = label_field()
    version = WholeNumberField(
        validators=[Optional(), NumberRange(1, 2**31 - 1, STALE_FORM)],
        message=STALE_FORM,
        allow_blank=True,
        widget=HiddenInput(),
    )
    next = HiddenField()

    JSON_NAMES = json_names("max_uses", "expires_in_days", "role", "allowed_domain", "label", "version")
    #: Fields whose null (JSON) means "clear it" rather than "leave it".
    CLEARABLE = ("allowed_domain", "label")

    changes: invitations.InvitationEdit | None = None
    #: The fields the request names (the HTML form names them all).
    named: frozenset[str] = frozenset(JSON_NAMES)

    def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
        """Fill the fields; a posted HTML form names the fields it sends (a field it leaves
        out, which no browser does with this form, is left unchanged rather than cleared)."""
        super().process(formdata, obj, data, extra_filters, **kwargs)
        posted = self.meta.wrap_formdata(self, formdata)
        if posted is not None and not getattr(self.meta, "json", False):
            self.named = frozenset(name for name in self.JSON_NAMES if name in posted)

    @classmethod
    def for_invitation(cls, invitation) -> EditInvitationForm:
        """The form filled in with the invitation as it is (the expiry left empty)."""
        return cls(
            formdata=None,
            data={
                "max_uses": invitation.max_uses,
                "role": invitation.role,
                "allowed_domain": invitation.allowed_domain or "",
                "label": invitation.label or "",
                "version": invitation.version,
            },
        )

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> EditInvitationForm:
        """The form over a PATCH body: only the fields it names change; no CSRF.

        A null max uses, expiry, role or version is the same as leaving it out; a null
        domain or label clears it.
        """
        pairs = []
        named = set()
        for name, json_name in cls.JSON_NAMES.items():
            if json_name not in body:
                continue
            value = body[json_name]
            if value is None and name not in cls.CLEARABLE:
                continue
            named.add(name)
            pairs.append((name, "" if value is None else value))
        form = cls(formdata=MultiDict(pairs), meta={"csrf": False, "json": True})
        form.named = frozenset(named)
        return form

    @property
    def expected_version(self) -> int | None:
        return self.version.data if "version" in self.named else None

    def json_errors(self) -> dict[str, str]:
        """The first error of each field, under the API's field names."""
        return {self.JSON_NAMES.get(name, name): errors[0] for name, errors in self.errors.items()}

    def add_errors(self, errors: dict[str, str]) -> None:
        """Put the domain's field errors (by field name) next to their fields."""
        for name, message in errors.items():
            self[name].errors = [*self[name].errors, message]

    def validate(self, extra_validators=None) -> bool:
        """The fields' validators (and CSRF), then the domain's own check as the last guard."""
        if not super().validate(extra_validators):
            return False
        raw = {
            name: self[name].data if name in self.named else invitations.UNCHANGED
            for name in ("max_uses", "expires_in_days", "role", "allowed_domain", "label")
        }
        if isinstance(raw["role"], invitations.Role):
            raw["role"] = raw["role"].value
        try:
            self.changes = invitations.parse_invitation_edit(**raw)
        except invitations.InvalidInvitation as exc:
            self.add_errors(exc.errors)
            return False
        return True


class PauseAllForm(FlaskForm):
    """Pause all / Resume all: CSRF only."""

    next = HiddenField()
