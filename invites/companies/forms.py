"""Forms for the members page and the company switcher."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import AnyOf, InputRequired

from ..models import Role


class RoleForm(FlaskForm):
    """Make a member an admin, or back."""

    role = HiddenField("Role", validators=[InputRequired(), AnyOf([Role.ADMIN.value, Role.MEMBER.value])])


class RemoveMemberForm(FlaskForm):
    """An empty form: the button carries the CSRF token."""


class SwitchCompanyForm(FlaskForm):
    company_id = IntegerField(validators=[InputRequired()])
    next = HiddenField()
