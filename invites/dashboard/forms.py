"""Forms of the invitation dashboard.

The create form checks nothing itself beyond CSRF: it hands the raw values to
``invitations.parse_new_invitation``, so the limits and their messages are the
same here, in the JSON API and anywhere else.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, InputRequired
from wtforms.widgets import EmailInput, NumberInput

from .. import invitations


class CreateInvitationForm(FlaskForm):
    """Email Address (optional), Maximum Uses and Expires In (Days), as in seed 003."""

    email = StringField(
        "Email Address (Optional)",
        widget=EmailInput(),
        description="Leave empty for a general invitation code",
        render_kw={
            "placeholder": "user@example.com",
            "autocomplete": "off",
            "maxlength": invitations.EMAIL_MAX_LENGTH,
        },
    )
    max_uses = StringField(
        "Maximum Uses",
        widget=NumberInput(min=invitations.MAX_USES_MIN, max=invitations.MAX_USES_MAX, step=1),
        default=str(invitations.MAX_USES_DEFAULT),
        description=f"How many people can use this code (Max: {invitations.MAX_USES_MAX})",
        render_kw={"inputmode": "numeric"},
    )
    expires_in_days = StringField(
        "Expires In (Days)",
        widget=NumberInput(min=invitations.EXPIRES_MIN, max=invitations.EXPIRES_MAX, step=1),
        default=str(invitations.EXPIRES_DEFAULT),
        description=(
            f"Default: {invitations.EXPIRES_DEFAULT}, Max: {invitations.EXPIRES_MAX}"
        ),
        render_kw={"inputmode": "numeric"},
    )

    new_invitation: invitations.NewInvitation | None = None

    def validate(self, extra_validators=None) -> bool:
        """CSRF through Flask-WTF, then the domain's own rules, each error on its field."""
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


class ToggleForm(FlaskForm):
    """Pause (``active=0``) or start (``active=1``): the wanted state, not a flip.

    Sending the wanted state makes a double click, or two admins clicking at
    once, land on what each of them asked for instead of flipping twice.
    """

    active = HiddenField(validators=[InputRequired(), AnyOf(["0", "1"])])
    next = HiddenField()


class RevokeForm(FlaskForm):
    """Revoke: ``confirm`` is set once the admin has confirmed (dialog or page)."""

    confirm = HiddenField()
    next = HiddenField()


class ResendForm(FlaskForm):
    """Resend email: CSRF only."""

    next = HiddenField()
