"""Forms for the members page and the company switcher."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import AnyOf, InputRequired, Length

from ..accounts import COMPANY_NAME_INVALID, COMPANY_NAME_MAX_LENGTH, COMPANY_NAME_REQUIRED
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


class CreateCompanyForm(FlaskForm):
    """A new company for a signed-in user, who becomes its owner."""

    name = StringField(
        "Company name",
        validators=[
            InputRequired(COMPANY_NAME_REQUIRED),
            Length(max=COMPANY_NAME_MAX_LENGTH, message=COMPANY_NAME_INVALID),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        description="You become its owner, and can invite people at once.",
        render_kw={"autocomplete": "organization", "maxlength": COMPANY_NAME_MAX_LENGTH},
    )
