"""README's endpoint table and its refusal statuses say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from invites.invitations import Refusal
from invites.web import REFUSAL_STATUS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def readme_endpoints() -> set[tuple[str, str]]:
    """``(method, path)`` of every row of README's API table, ``<id>`` as Flask writes it."""
    rows = re.findall(r"^\| `(GET|POST|PATCH|PUT|DELETE) (/api/[^` ?]*)", README, re.M)
    return {(method, path.replace("<id>", "<int:invitation_id>")) for method, path in rows}


def test_the_api_table_lists_every_api_endpoint_and_no_other(app):
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert readme_endpoints() == served


def test_the_invite_links_section_gives_each_refusal_its_status():
    """The section names 403 for exactly the refusals REFUSAL_STATUS answers 403."""
    section = README.split("## Invite links", 1)[1].split("\n## ", 1)[0]
    forbidden = {reason for reason, status in REFUSAL_STATUS.items() if status == 403}
    assert forbidden == {Refusal.WRONG_ACCOUNT, Refusal.WRONG_DOMAIN, Refusal.UNVERIFIED}
    said = " ".join(section.split())
    assert (
        "`403` when this account may not use it: an invitation sent to another address, one limited "
        "to a domain its confirmed address is not at, or one for its address while that address is unconfirmed"
    ) in said
    assert "`409` for every other refusal" not in said
