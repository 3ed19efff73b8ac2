"""``make audit``'s verdict on pip-audit's report (the service itself is not reachable here)."""

from __future__ import annotations

import pytest

from tools.dependency_audit import summarise

CLEAN = {"name": "flask", "version": "3.1.3", "vulns": []}
SKIPPED = {
    "name": "gunicorn",
    "skip_reason": "Dependency not found on PyPI and could not be audited: gunicorn (27.0.1)",
}
VULNERABLE = {"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}]}


def test_a_known_vulnerability_fails_and_names_the_fix():
    lines, status = summarise({"dependencies": [CLEAN, VULNERABLE, SKIPPED]}, strict=False)
    assert status == 1
    assert any("jinja2" in line and "PYSEC-2019-217" in line and "2.10.1" in line for line in lines)


@pytest.mark.parametrize("strict, status", [(False, 0), (True, 2)])
def test_nothing_audited_is_reported_as_incomplete_not_as_clean(strict, status):
    lines, got = summarise({"dependencies": [SKIPPED]}, strict=strict)
    assert got == status
    assert lines[0] == "pip-audit: 0 of 1 dependencies audited, 0 known vulnerabilities."
    assert "DEPENDENCY AUDIT INCOMPLETE" in lines[-1]
    assert not any("No known vulnerabilities." == line for line in lines)


def test_partly_audited_says_which_were_not():
    lines, status = summarise({"dependencies": [CLEAN, SKIPPED]}, strict=False)
    assert status == 0
    assert "Not audited (1): gunicorn" in lines


def test_all_audited_and_clean():
    lines, status = summarise({"dependencies": [CLEAN]}, strict=True)
    assert (lines[-1], status) == ("No known vulnerabilities.", 0)
