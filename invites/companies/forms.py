"""Forms for the members page and the company switcher."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import AnyOf, InputRequired

from ..models import Role


class RoleForm(FlaskForm):
    """Give a member another role; the domain keeps the last owner from stepping down."""

    role = HiddenField("Role", validators=[InputRequired(), AnyOf([role.value for role in Role])])


class RemoveMemberForm(FlaskForm):
    """Remove: ``confirm`` is set once the owner has confirmed (dialog or page)."""

    confirm = HiddenField()


class SwitchCompanyForm(FlaskForm):
    company_id = IntegerField(validators=[InputRequired()])
    next = HiddenField()
