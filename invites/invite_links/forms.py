"""The form behind the "Join <Company>" button."""

from flask_wtf import FlaskForm


class AcceptForm(FlaskForm):
    """An empty form: accepting takes no input, and its CSRF token is checked here."""
