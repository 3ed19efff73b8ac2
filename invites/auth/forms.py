"""Forms for registering and logging in."""

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, Optional, ValidationError

from ..accounts import (
    COMPANY_NAME_INVALID,
    COMPANY_NAME_MAX_LENGTH,
    CONTROL_CHARACTERS,
    EMAIL_INVALID,
    EMAIL_MAX_LENGTH,
    EMAIL_REQUIRED,
    NAME_INVALID,
    NAME_MAX_LENGTH,
    PASSWORD_INVALID,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    PASSWORD_REQUIRED,
    AccountError,
    check_email,
    has_control_characters,
)


def strip(value):
    """People paste emails and names with spaces around them."""
    return value.strip() if isinstance(value, str) else value


def email_address(form, field):
    """The one email validator (``accounts.check_email``), with its message (a reserved domain says so)."""
    try:
        check_email(field.data)
    except AccountError as exc:
        raise ValidationError(exc.errors["email"]) from None


def no_control_characters(form, field):
    """The accounts rule for names, checked here too so that every error shows at once."""
    if isinstance(field.data, str) and has_control_characters(field.data):
        raise ValidationError(CONTROL_CHARACTERS)


def new_password(label: str) -> PasswordField:
    """A password being chosen (sign-up, reset), with the accounts rule for its length."""
    return PasswordField(
        label,
        validators=[
            InputRequired("Choose a password."),
            Length(min=PASSWORD_MIN_LENGTH, max=PASSWORD_MAX_LENGTH, message=PASSWORD_INVALID),
        ],
        description=f"At least {PASSWORD_MIN_LENGTH} characters.",
        render_kw={"autocomplete": "new-password"},
    )


def repeated_password(label: str) -> PasswordField:
    """The same password again, to catch a typo in a field nobody can read."""
    return PasswordField(
        label,
        validators=[InputRequired("Repeat your password."), EqualTo("password", "The passwords do not match.")],
        render_kw={"autocomplete": "new-password"},
    )


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[InputRequired(EMAIL_REQUIRED), Length(max=EMAIL_MAX_LENGTH, message=EMAIL_INVALID)],
        filters=[strip],
    )
    password = PasswordField("Password", validators=[InputRequired(PASSWORD_REQUIRED), Length(max=PASSWORD_MAX_LENGTH)])
    next = HiddenField()


class RegisterForm(FlaskForm):
    name = StringField(
        "Your name",
        validators=[
            InputRequired("Enter your name."),
            Length(max=NAME_MAX_LENGTH, message=NAME_INVALID),
            no_control_characters,
        ],
        filters=[strip],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        "Email",
        validators=[
            InputRequired(EMAIL_REQUIRED),
            Length(max=EMAIL_MAX_LENGTH, message=EMAIL_INVALID),
            email_address,
        ],
        filters=[strip],
        render_kw={"autocomplete": "email"},
    )
    password = new_password("Password")
    confirm = repeated_password("Repeat password")
    company_name = StringField(
        "Company name (optional)",
        validators=[
            Optional(),
            Length(max=COMPANY_NAME_MAX_LENGTH, message=COMPANY_NAME_INVALID),
            no_control_characters,
        ],
        filters=[strip],
        description="Create a company and become its owner. Leave empty if you are joining one through an invitation.",
    )
    next = HiddenField()


class ResendConfirmationForm(FlaskForm):
    """The banner's Resend confirmation button (CSRF only)."""

    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[InputRequired(EMAIL_REQUIRED), Length(max=EMAIL_MAX_LENGTH, message=EMAIL_INVALID)],
        filters=[strip],
        render_kw={"autocomplete": "email"},
    )


class ResetPasswordForm(FlaskForm):
    password = new_password("New password")
    confirm = repeated_password("Repeat new password")
