"""Bad input everywhere, property-based (hypothesis): every form and every API payload.

Each test sends generated values through the real route: huge, negative and
fractional numbers, strings where numbers go, unicode, 10 kB codes, NUL bytes,
markup and ``<script>`` in emails and names. Whatever arrives, the answer is a
4xx with a clear message and nothing stored, or, where the input is in fact
valid, the right 2xx with exactly what was asked stored. Never a 5xx, and
nothing sent comes back as markup: every HTML answer is parsed and may hold no
tag or attribute the templates do not write themselves.

Examples are derandomised under ``CI=true`` so that CI sends the same requests
on every run; elsewhere each run explores new ones.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urlencode

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st
from werkzeug.exceptions import HTTPException

from invites import accounts, invitations
from invites.api.schemas import MAX_BODY_BYTES
from invites.extensions import db
from invites.models import AuditEvent, Company, Invitation, Membership, Redemption, Role, User

from .api_helpers import ACCEPT, CREATE, LIST, LOGIN, VALIDATE, revoke_path, toggle_path
from .conftest import CI, PASSWORD

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=CI,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

OWNER = "boss@example.com"

# --- what gets sent ------------------------------------------------------------------

#: Markup that must never come back as markup.
MARKUP = [
    "<script>alert(1)</script>",
    "<script src=//evil.example/x.js></script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "<xss>",
    "</textarea><style>*{}</style>",
]
SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n",
    "\u200b",
    "\ufeff",
    "null",
    "None",
    "undefined",
    "[]",
    "{}",
    "ünïcødé",
    "日本語",
    "🙂" * 3,
    "Ⅻ",
    "١٢",
    "５",
    "\u202eevil",
    "%00",
    "%s%n",
    "../../etc/passwd",
    "' OR '1'='1",
    "x" * 10_000,
]
#: 10 kB of one character: cheap to generate, as long as a real attack's string.
ten_kilobytes = st.characters(codec="utf-8").map(lambda c: c * 10_000)
nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(SPECIAL_TEXT + MARKUP),
    st.tuples(st.text(max_size=8), st.sampled_from(MARKUP), st.text(max_size=8)).map("".join),
    st.text(max_size=10).map(lambda s: s + "\x00"),
)
# What a number field may receive, as text.
number_text = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=-5, max_value=120).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
    st.sampled_from(
        [
            "",
            " 5 ",
            "007",
            "0" * 40 + "9",
            "1e2",
            "0x10",
            "+5",
            "-0",
            "5.0",
            "5,0",
            "٣",
            "１０",
            "9" * 10_000,
            "2147483648",
            "9223372036854775808",
        ]
    ),
    nasty_text,
)
VALID_EMAIL = r"[a-z0-9]{1,12}(\.[a-z0-9]{1,6})?@(example|acme|globex)\.(com|org|io)"
#: Valid addresses holding characters that mean something in HTML: shown on cards, escaped.
ODD_VALID_EMAILS = [
    "o'brien@example.com",
    "a&b@example.com",
    "x+{y}@example.com",
    "jo=1@example.com",
    "a/b@example.com",
    "ünï@exämple.com",
]
valid_emails = st.one_of(st.from_regex(VALID_EMAIL, fullmatch=True), st.sampled_from(ODD_VALID_EMAILS))
invalid_emails = st.one_of(
    st.sampled_from(MARKUP).map(lambda m: m + "@example.com"),
    st.sampled_from(MARKUP).map(lambda m: f'"{m}"@example.com'),
    st.sampled_from(
        [
            "plainaddress",
            "@example.com",
            "a@",
            "a@@example.com",
            "a b@example.com",
            "a\x00@example.com",
            "a@exa\x00mple.com",
            "a" * 250 + "@example.com",
            "x@<script>.com",
            "a@example..com",
        ]
    ),
)
any_email = st.one_of(valid_emails, invalid_emails, nasty_text)
#: (email, whether it is valid): True, False, or None when only the domain knows.
tagged_email = st.one_of(
    st.none().map(lambda e: (e, True)),
    st.just("  ").map(lambda e: (e, True)),
    valid_emails.map(lambda e: (e, True)),
    invalid_emails.map(lambda e: (e, False)),
    nasty_text.map(lambda e: (e, None)),
)
# JSON values of every type, for fields of JSON bodies.
json_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.integers(min_value=-3, max_value=110),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([1.5, 5.0, 1e300, -0.0]),
        nasty_text,
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=5,
)
# Path segments where an id goes.
id_segment = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(
        [
            "0",
            "1",
            "2147483647",
            "2147483648",
            "9223372036854775807",
            "9223372036854775808",
            "1.5",
            "1e3",
            "abc",
            "%00",
            "-1",
        ]
    ),
    st.text(min_size=1, max_size=12).map(lambda s: quote(s, safe="")),
)


# --- what is stored, and what comes back -------------------------------------------------


def stored(app) -> dict:
    """Everything a request could change, as plain values."""
    with app.app_context():
        rows = lambda query: [tuple(r) for r in db.session.execute(query)]  # noqa: E731
        return {
            "users": rows(sa.select(User.id, User.email, User.name).order_by(User.id)),
            "companies": rows(sa.select(Company.id, Company.name).order_by(Company.id)),
            "memberships": rows(sa.select(Membership.id, Membership.user_id, Membership.role).order_by(Membership.id)),
            "invitations": rows(
                sa.select(
                    Invitation.id,
                    Invitation.used_count,
                    Invitation.is_active,
                    Invitation.revoked_at,
                    Invitation.status,
                    Invitation.email,
                    Invitation.max_uses,
                ).order_by(Invitation.id)
            ),
            "redemptions": rows(sa.select(Redemption.id).order_by(Redemption.id)),
            "audit_events": rows(sa.select(AuditEvent.id).order_by(AuditEvent.id)),
        }


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


#: Tags the templates never write: one of them in an answer was injected.
FOREIGN_TAGS = {"img", "svg", "xss", "style", "iframe", "object", "embed", "textarea", "base"}


def assert_answered_safely(response) -> str:
    """No 5xx; HTML answers carry no injected markup; JSON answers are JSON. The body."""
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    body = response.get_data(as_text=True)
    if response.mimetype == "text/html":
        parser = _Tags()
        parser.feed(body)
        for tag, attrs in parser.tags:
            assert tag not in FOREIGN_TAGS, f"<{tag}> came back as markup"
            assert not any(name.startswith("on") for name in attrs), f"event handler on <{tag}>"
            assert "style" not in attrs, f"style attribute on <{tag}>"
            if tag == "script":
                assert (attrs.get("src") or "").startswith("/static/"), f"script {attrs}"
        for payload in MARKUP:
            assert payload not in body
    elif response.status_code not in (204, 302):
        assert response.mimetype == "application/json", response.mimetype
        json.loads(body)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return body


def field_errors(body: str) -> dict[str, str]:
    """The error shown next to each field of a re-rendered form."""
    return {
        name: html.unescape(message)
        for name, message in re.findall(r'<small id="([\w-]+)-error" class="field-error">([^<]*)</small>', body)
    }


def form_error(body: str) -> str | None:
    match = re.search(r'<p class="form-error" role="alert">([^<]*)</p>', body)
    return html.unescape(match.group(1)) if match else None


def expected_whole_number(raw: str | None, low: int, high: int, default: int) -> int | None:
    """What a number field means, written apart from the domain: digits in range, or None.

    A field left out of the request takes the default; an empty one is an error: a browser
    sends an empty value for letters typed into a number box, and that is no default.
    """
    if raw is None:
        return default
    text = raw.strip()
    if not re.fullmatch(r"[0-9]+", text):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > 3:
        return None
    return int(digits) if low <= int(digits) <= high else None


# --- the world every test starts from ---------------------------------------------------


@pytest.fixture
def world(app, make):
    """Acme (its owner, an admin, a member), Globex with an invitation, and a good code."""
    acme, owner = make.company("Acme", owner_email=OWNER)
    make.user("ann@example.com", company=acme, role=Role.ADMIN, name="Ann Admin")
    mia = make.user("mia@example.com", company=acme, role=Role.MEMBER, name="Mia Member")
    globex, globex_owner = make.company("Globex", owner_email="hank@example.com")
    with app.app_context():
        creator = db.session.get(User, owner.id)
        good = invitations.create(acme.id, creator, invitations.NewInvitation(None, 100, 7))
        theirs = invitations.create(
            globex.id, db.session.get(User, globex_owner.id), invitations.NewInvitation(None, 100, 7)
        )
        memberships = dict(db.session.execute(sa.select(Membership.user_id, Membership.id)).all())
        world = {
            "app": app,
            "acme": acme.id,
            "good_code": good.code,
            "good_id": good.id,
            "their_id": theirs.id,
            "their_code": theirs.code,
            "owner_membership": memberships[owner.id],
            "mia_membership": memberships[mia.id],
            "hank_membership": memberships[globex_owner.id],
        }
    return world


def routed_id(app, path: str) -> int | None:
    """The id a POST to ``path`` reaches a view with (by the app's own URL map), or None."""
    try:
        _, args = app.url_map.bind("localhost").match(unquote(path), method="POST")
    except HTTPException:
        return None
    return args.get("invitation_id", args.get("membership_id"))


def signed_in(app, email=OWNER):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def new_user_client(app, make):
    user = make.user()
    return signed_in(app, user.email), user


# --- forms ------------------------------------------------------------------------------


@SETTINGS
@given(
    tagged=tagged_email,
    max_uses=st.one_of(st.none(), number_text),
    expires=st.one_of(st.none(), number_text),
    htmx=st.booleans(),
)
def test_dashboard_create_form(world, tagged, max_uses, expires, htmx):
    app = world["app"]
    email, email_valid = tagged
    client = signed_in(app)
    data = {
        k: v for k, v in {"email": email, "max_uses": max_uses, "expires_in_days": expires}.items() if v is not None
    }
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/company"} if htmx else {}
    before = stored(app)
    response = client.post("/dashboard/company/invitations", data=data, headers=headers)
    body = assert_answered_safely(response)

    uses = expected_whole_number(max_uses, 1, 100, 1)
    days = expected_whole_number(expires, 1, 30, 7)
    if response.status_code == 422:
        assert stored(app) == before
        errors = field_errors(body)
        assert errors, "a 422 names the field to fix"
        assert errors.get("max_uses") == (None if uses is not None else invitations.MAX_USES_ERROR)
        assert errors.get("expires_in_days") == (None if days is not None else invitations.EXPIRES_ERROR)
        assert errors.get("email") in (None, invitations.EMAIL_ERROR, invitations.EMAIL_RESERVED_ERROR)
        assert set(errors) <= {"email", "max_uses", "expires_in_days"}
        if email_valid is not None:
            assert ("email" in errors) == (not email_valid)
        if htmx:
            assert "<html" not in body
        return
    assert response.status_code == (200 if htmx else 302)
    assert uses is not None and days is not None, (max_uses, expires)
    assert email_valid is not False, email
    after = stored(app)
    (new_row,) = [row for row in after["invitations"] if row not in before["invitations"]]
    assert new_row[6] == uses
    assert new_row[5] == (accounts.normalise_email(email) if email and email.strip() else None)
    assert len(after["audit_events"]) == len(before["audit_events"]) + 1


@SETTINGS
@given(
    email=st.one_of(st.none(), any_email, st.just(OWNER), st.just(" BOSS@example.com ")),
    password=st.one_of(st.none(), nasty_text, st.just(PASSWORD)),
)
def test_login_form(world, email, password):
    app = world["app"]
    client = app.test_client()
    data = {k: v for k, v in {"email": email, "password": password}.items() if v is not None}
    before = stored(app)
    response = client.post("/login", data=data)
    body = assert_answered_safely(response)
    assert stored(app) == before
    right = email is not None and email.strip().lower() == OWNER and password == PASSWORD
    if right:
        assert response.status_code == 302
        return
    assert response.status_code == 422
    errors = field_errors(body)
    if errors:  # a field the form itself refuses: empty, or longer than it takes
        assert set(errors) <= {"email", "password"}
        assert form_error(body) is None or form_error(body) == accounts.LOGIN_FAILED
    else:
        assert form_error(body) == accounts.LOGIN_FAILED
    # Nothing typed: say so. Only spaces (which pass "required", then are stripped) is
    # the generic refusal, like any other unknown email.
    if not email:
        assert field_errors(body).get("email") == "Enter your email."
    if not password:
        assert field_errors(body).get("password") == "Enter your password."


@SETTINGS
@given(
    name=st.one_of(st.none(), nasty_text, st.just("Jo Smith")),
    email=st.one_of(st.none(), any_email),
    password=st.one_of(st.none(), nasty_text, st.text(min_size=8, max_size=40)),
    confirm_same=st.booleans(),
    company_name=st.one_of(st.none(), nasty_text, st.just("New Co")),
)
def test_register_form(world, name, email, password, confirm_same, company_name):
    app = world["app"]
    client = app.test_client()
    confirm = password if confirm_same else "something else entirely"
    data = {
        k: v
        for k, v in {
            "name": name,
            "email": email,
            "password": password,
            "confirm": confirm,
            "company_name": company_name,
        }.items()
        if v is not None
    }
    before = stored(app)
    response = client.post("/register", data=data)
    body = assert_answered_safely(response)
    plain_name = (name or "").strip()
    surely_wrong = (
        not plain_name
        or len(plain_name) > accounts.NAME_MAX_LENGTH
        or accounts.has_control_characters(plain_name)
        or not password
        or not 8 <= len(password) <= accounts.PASSWORD_MAX_LENGTH
        or confirm != password
        or not email
        or "@" not in email
    )
    if response.status_code == 422:
        assert stored(app) == before
        assert field_errors(body), "a 422 names the field to fix"
        if plain_name and accounts.has_control_characters(plain_name) and len(plain_name) <= accounts.NAME_MAX_LENGTH:
            assert field_errors(body).get("name") == accounts.CONTROL_CHARACTERS
        return
    assert response.status_code == 302 and not surely_wrong
    after = stored(app)
    (user,) = [row for row in after["users"] if row not in before["users"]]
    assert user[1] == accounts.normalise_email(email) and user[2] == plain_name
    new_companies = [row for row in after["companies"] if row not in before["companies"]]
    assert [c[1] for c in new_companies] == ([company_name.strip()] if company_name and company_name.strip() else [])


@SETTINGS
@given(
    target=st.one_of(st.sampled_from(["mia", "owner", "hank"]), id_segment),
    role=st.one_of(st.none(), st.sampled_from(["ADMIN", "MEMBER", "OWNER", "admin"]), nasty_text),
)
def test_members_role_change(world, target, role):
    app = world["app"]
    client = signed_in(app)
    segment = {
        "mia": world["mia_membership"],
        "owner": world["owner_membership"],
        "hank": world["hank_membership"],
    }.get(target, target)
    path = f"/company/members/{segment}/role"
    reached = routed_id(app, path)
    target = {world["mia_membership"]: "mia", world["owner_membership"]: "owner"}.get(reached, "none")
    before = stored(app)
    response = client.post(path, data={} if role is None else {"role": role})
    body = assert_answered_safely(response)
    if target == "none":
        assert response.status_code == 404
        assert stored(app) == before
        return
    if role not in ("ADMIN", "MEMBER", "OWNER"):
        assert response.status_code == 400
        assert "Choose Owner, Admin or Member." in body
        assert stored(app) == before
        return
    assert response.status_code == 302
    with app.app_context():
        now = db.session.scalar(sa.select(Membership.role).where(Membership.id == reached))
    # The only owner cannot step down (a flash says so); a member takes the role asked for.
    assert now == ("OWNER" if target == "owner" else role)
    with app.app_context():  # back as it was, for the next example
        db.session.execute(sa.update(Membership).where(Membership.id == world["mia_membership"]).values(role="MEMBER"))
        db.session.commit()


@SETTINGS
@given(
    code=st.one_of(
        st.just("GOOD"),
        st.just("THEIRS"),
        nasty_text,
        ten_kilobytes,
        st.text(alphabet="abcdefABCDEF0123456789-_", min_size=1, max_size=80),
    ),
    method=st.sampled_from(["get", "post"]),
)
def test_invite_page_and_accept(world, make, code, method):
    app = world["app"]
    client, user = new_user_client(app, make)
    code = {"GOOD": world["good_code"], "THEIRS": world["their_code"]}.get(code, code)
    before = stored(app)
    path = f"/invite/{quote(code, safe='')}" + ("/accept" if method == "post" else "")
    response = getattr(client, method)(path)
    body = assert_answered_safely(response)
    if code in (world["good_code"], world["their_code"]):
        if method == "get":
            assert response.status_code == 200 and stored(app) == before
        else:
            assert response.status_code == 302
            after = stored(app)
            assert len(after["redemptions"]) == len(before["redemptions"]) + 1
            assert len(after["memberships"]) == len(before["memberships"]) + 1
        return
    assert stored(app) == before
    try:
        endpoint, _ = app.url_map.bind("localhost").match(unquote(path), method=method.upper())
    except HTTPException as routing:
        # A code with "/" in it leads to no invite page at all (404), or to another route (405).
        assert response.status_code == routing.code
        return
    assert endpoint in ("invite.show", "invite.accept")
    assert response.status_code == 404
    assert "Invitation not found" in body


# --- the JSON API --------------------------------------------------------------------------


def api_client(app, email=OWNER):
    client = app.test_client()
    assert client.post(LOGIN, json={"email": email, "password": PASSWORD}).status_code == 200
    return client


def error_of(response) -> str:
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip()
    return body["error"]


raw_bodies = st.one_of(
    st.binary(max_size=60),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b'"x"',
            b"{",
            b'{"email": "\\ud800"}',
            b"[" * 5000,
            b'{"a":1}' * 3,
            b"\xff\xfe",
            b'{"email": 1e999}',
            b'{"email": ' + b"9" * 5000 + b"}",
        ]
    ),
)


@SETTINGS
@given(
    body=st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "email": st.one_of(json_value, any_email, st.just(OWNER)),
                "password": st.one_of(json_value, st.just(PASSWORD)),
            },
        ),
        json_value,
    ),
    raw=st.one_of(st.none(), raw_bodies),
    content_type=st.sampled_from(["application/json", "text/plain", None]),
)
def test_api_login(world, body, raw, content_type):
    app = world["app"]
    client = app.test_client()
    before = stored(app)
    if raw is None:
        response = client.post(LOGIN, data=json.dumps(body), content_type=content_type or "application/json")
    else:
        response = client.post(LOGIN, data=raw, content_type=content_type)
    assert_answered_safely(response)
    assert stored(app) == before
    right = (
        raw is None
        and content_type != "text/plain"
        and isinstance(body, dict)
        and body.get("email") == OWNER
        and body.get("password") == PASSWORD
    )
    if right:
        assert response.status_code == 200
        return
    assert response.status_code in (400, 401, 413, 415)
    error_of(response)


def expected_json_number(value, present: bool, low: int, high: int, default: int) -> int | None:
    """What a JSON number field means, written apart from the domain."""
    if not present or value is None:
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    return value if low <= value <= high else None


@SETTINGS
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "email": st.one_of(json_value, valid_emails, invalid_emails, st.sampled_from([None, "", "  "])),
            "maxUses": st.one_of(json_value, st.integers(min_value=1, max_value=100)),
            "expiresInDays": st.one_of(json_value, st.integers(min_value=1, max_value=30)),
            "extra": json_value,
        },
    )
)
def test_api_create(world, body):
    app = world["app"]
    client = api_client(app)
    before = stored(app)
    response = client.post(CREATE, json=body)
    assert_answered_safely(response)
    uses = expected_json_number(body.get("maxUses"), "maxUses" in body, 1, 100, 1)
    email = body.get("email")
    if email is None or (isinstance(email, str) and not email.strip()):
        email_valid = True
    elif not isinstance(email, str) or "@" not in email or any(m in email for m in MARKUP):
        email_valid = False
    else:
        email_valid = True if re.fullmatch(VALID_EMAIL, email) or email in ODD_VALID_EMAILS else None
    days = expected_json_number(body.get("expiresInDays"), "expiresInDays" in body, 1, 30, 7)
    if response.status_code == 400:
        assert stored(app) == before
        assert error_of(response) == "Some fields need fixing."
        fields = response.get_json()["fields"]
        assert ("maxUses" in fields) == (uses is None)
        assert ("expiresInDays" in fields) == (days is None)
        assert set(fields) <= {"email", "maxUses", "expiresInDays"}
        assert fields.get("email") in (None, invitations.EMAIL_ERROR, invitations.EMAIL_RESERVED_ERROR)
        if email_valid is not None:
            assert ("email" in fields) == (not email_valid)
        return
    assert response.status_code == 201, response.get_json()
    assert email_valid is not False, email
    created = response.get_json()["invitation"]
    assert (created["maxUses"], created["usedCount"], created["status"]) == (uses, 0, "PENDING")
    assert len(stored(app)["invitations"]) == len(before["invitations"]) + 1


code_values = st.one_of(
    st.sampled_from(["GOOD", "THEIRS"]),
    json_value,
    ten_kilobytes,
    st.text(alphabet="abcdefABCDEF0123456789-_", min_size=1, max_size=80),
)


@SETTINGS
@given(code=code_values, accept=st.booleans(), with_code=st.booleans())
def test_api_validate_and_accept(world, make, code, accept, with_code):
    app = world["app"]
    user = make.user()
    client = api_client(app, user.email)
    code = (
        {"GOOD": world["good_code"], "THEIRS": world["their_code"]}.get(code, code) if isinstance(code, str) else code
    )
    before = stored(app)
    payload = json.dumps({"code": code} if with_code else {})
    response = client.post(ACCEPT if accept else VALIDATE, data=payload, content_type="application/json")
    assert_answered_safely(response)
    if len(payload.encode()) > MAX_BODY_BYTES:
        assert response.status_code == 413 and error_of(response)
        assert stored(app) == before
        return
    good = with_code and isinstance(code, str) and code.strip() in (world["good_code"], world["their_code"])
    if good:
        assert response.status_code == 200
        if accept:
            assert len(stored(app)["redemptions"]) == len(before["redemptions"]) + 1
        else:
            assert stored(app) == before
        return
    assert stored(app) == before
    if not with_code or not isinstance(code, str) or not code:
        assert response.status_code == 400
        assert response.get_json()["fields"] == {"code": "Enter an invitation code."}
    else:
        assert response.status_code == 404
        assert error_of(response) == "Invitation not found"


@SETTINGS
@given(
    target=st.one_of(st.sampled_from(["ours", "theirs"]), id_segment),
    revoke=st.booleans(),
    raw=st.one_of(st.none(), raw_bodies),
)
def test_api_toggle_and_revoke(world, target, revoke, raw):
    app = world["app"]
    client = api_client(app)
    segment = {"ours": world["good_id"], "theirs": world["their_id"]}.get(target, target)
    path = (revoke_path if revoke else toggle_path)(segment)
    ours = routed_id(app, path) == world["good_id"]
    before = stored(app)
    response = client.post(path, data=raw, content_type="application/json") if raw is not None else client.post(path)
    assert_answered_safely(response)
    error = None if response.status_code == 200 else error_of(response)
    if ours:
        (row,) = [r for r in before["invitations"] if r[0] == world["good_id"]]
        if row[3] is not None:
            assert response.status_code == 409 and error == "This invitation has been revoked"
            assert stored(app) == before
        else:
            assert response.status_code == 200
        return
    assert response.status_code == 404
    assert error in ("Invitation not found", "This page does not exist.")
    assert stored(app) == before


@SETTINGS
@given(
    target=st.one_of(st.sampled_from(["ours", "theirs"]), id_segment),
    api=st.booleans(),
    raw=st.one_of(st.none(), raw_bodies),
    confirm=st.one_of(st.none(), st.just("yes"), nasty_text),
)
def test_remove_members_through_an_invitation(world, target, api, raw, confirm):
    """Remove-members (API, or the dashboard's form with any ``confirm``): odd ids are 404 and
    change nothing; the invitation of the company is revoked (nobody joined through it)."""
    app = world["app"]
    segment = {"ours": world["good_id"], "theirs": world["their_id"]}.get(target, target)
    prefix = "/api/companies/invitations" if api else "/dashboard/company/invitations"
    path = f"{prefix}/{segment}/remove-members"
    ours = routed_id(app, path) == world["good_id"]
    before = stored(app)
    if api:
        client = api_client(app)
        response = (
            client.post(path, data=raw, content_type="application/json") if raw is not None else client.post(path)
        )
    else:
        response = signed_in(app).post(path, data={} if confirm is None else {"confirm": confirm})
    body = assert_answered_safely(response)
    after = stored(app)
    if not ours:
        assert response.status_code == 404
        assert after == before
        return
    assert after["memberships"] == before["memberships"]
    if not api and confirm != "yes":
        assert response.status_code == 200 and "Nobody who joined through it can be removed now." in body
        assert after == before
        return
    assert response.status_code == (200 if api else 302)
    (row,) = [r for r in after["invitations"] if r[0] == world["good_id"]]
    assert row[3] is not None  # revoked, now or before
    if api:
        answer = response.get_json()
        assert answer["removed"] == [] and answer["kept"] == [] and answer["invitation"]["status"] == "REVOKED"


@SETTINGS
@given(query=st.dictionaries(st.sampled_from(["filter", "page", "other"]), nasty_text | number_text, max_size=3))
def test_api_list_query_strings(world, query):
    app = world["app"]
    client = api_client(app)
    before = stored(app)
    response = client.get(f"{LIST}?{urlencode(query)}")
    assert_answered_safely(response)
    assert response.status_code == 200
    body = response.get_json()
    assert body["filter"] in {f.value for f in invitations.Filter}
    assert body["page"] >= 1
    assert stored(app) == before
    # Odd filters mean all, odd pages the first: Acme's invitation is listed.
    if body["filter"] == "all" and body["page"] == 1:
        assert [i["id"] for i in body["invitations"]] == [world["good_id"]]
