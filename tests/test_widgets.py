"""The dashboard's input widgets write exactly what WTForms' own would (invites/widgets.py)."""

from __future__ import annotations

import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import widgets as stock

from invites import widgets
from invites.dashboard.forms import CreateInvitationForm, EditInvitationForm

ATTRIBUTE_SETS = [
    {},
    {"name": "email", "id": "email", "type": "email", "value": ""},
    {"class_": "a b", "for_": "x", "data_hx_post": "/p?a=1&b=2", "aria_described_by": "x-help x-error"},
    {"required": True, "disabled": False, "readonly": True, "min": 1, "max": 100, "step": 1},
    {"value": '"><script>alert(1)</script>', "placeholder": "it's <b>&amp;"},
    {"value": Markup('a "quoted" <b>markup</b>'), "title": Markup("&amp; kept")},
    {"value": 0, "maxlength": 254, "x": None, "y": 1.5},
    {"value": "ünïcödé 🏷️", "z_": "trailing underscore"},
]


@pytest.mark.parametrize("attributes", ATTRIBUTE_SETS)
def test_html_params_writes_what_wtforms_writes(attributes):
    mine = widgets.html_params(**attributes)
    assert isinstance(mine, Markup)
    assert mine == stock.html_params(**attributes)


@pytest.mark.parametrize("form_class", [CreateInvitationForm, EditInvitationForm])
@pytest.mark.parametrize(
    "data",
    [
        {},
        {
            "email": 'x"@example.com',
            "max_uses": "abc",
            "expires_in_days": "<5>",
            "allowed_domain": "a&b.com",
            "label": '"quoted" <label>',
        },
    ],
    ids=["fresh", "bad input"],
)
def test_form_fields_render_as_with_wtforms_widgets(app, form_class, data):
    """Every field that uses one of these widgets renders the same with WTForms' own widget."""
    stock_widgets = {
        widgets.TextInput: stock.TextInput(),
        widgets.EmailInput: stock.EmailInput(),
        widgets.NumberInput: stock.NumberInput(),
    }
    with app.test_request_context():
        form = form_class(formdata=MultiDict(data) if data else None, meta={"csrf": False})
        form.validate()
        checked = 0
        for field in form:
            twin = stock_widgets.get(type(field.widget))
            if twin is None:
                continue
            render_kw = {"aria-invalid": "true"} if field.errors else {}
            assert (
                field(**render_kw)
                == field.meta.render_field(field, render_kw)
                == twin(field, **{**(field.render_kw or {}), **render_kw})
            )
            checked += 1
    assert checked >= 4
