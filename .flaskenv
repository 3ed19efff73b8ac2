# Read by the `flask` command of a checkout (python-dotenv); gunicorn does not read it,
# so a server started without INVITES_ENV runs with production settings.
FLASK_APP=app
INVITES_ENV=development
