"""WTForms' input widgets, writing their attributes without ``Markup.format``: the same markup.

``wtforms.widgets.html_params`` formats every attribute through
``Markup('{k}="{v}"').format(…)``, whose escaping formatter costs about thirty
Python calls an attribute; the dashboard's create form has some fifty attributes
on every page load. ``html_params`` below writes the same text: attributes
sorted by name, ``class_``/``data_``/``aria_`` names cleaned as WTForms does,
``True`` as a bare name, ``False`` left out, every name and value escaped and a
``"`` left in a ``Markup`` value written ``&quot;``. ``tests/test_widgets.py``
compares the two.
"""

from __future__ import annotations

from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.widgets.core import clean_key


def html_params(**kwargs) -> Markup:
    """``wtforms.widgets.html_params``, the same output with plain string formatting."""
    params = []
    for key, value in sorted(kwargs.items()):
        name = str(escape(clean_key(key)))
        if value is True:
            params.append(name)
        elif value is not False:
            params.append(f'{name}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    return Markup(" ".join(params))


class TextInput(widgets.TextInput):
    html_params = staticmethod(html_params)


class EmailInput(widgets.EmailInput):
    html_params = staticmethod(html_params)


class NumberInput(widgets.NumberInput):
    html_params = staticmethod(html_params)
