"""Audit the pinned dependencies for known vulnerabilities with pip-audit (``make audit``).

Exit status:
  0  no known vulnerability in what could be audited (an incomplete audit says so, loudly)
  1  at least one dependency has a known vulnerability: upgrade it (see README)
  2  the audit could not be completed and AUDIT_STRICT=1 was set

pip-audit asks a vulnerability service about every package: PyPI's JSON API by
default (``/pypi/<name>/<version>/json``), or OSV. When the service cannot be
reached, or does not know the packages (a mirror without that API), pip-audit
"skips" them and still prints "No known vulnerabilities found". That is not a
clean bill of health, so this script counts what was really audited and says
it. CI must not go red because a service is unreachable; set AUDIT_STRICT=1
where an incomplete audit should fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_pip_audit(report: Path, extra: list[str]) -> subprocess.CompletedProcess:
    """pip-audit over the environment running this script: ``make audit`` runs it in
    .venv, installed from the pinned requirements files (runtime and test tools)."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--progress-spinner",
        "off",
        "--desc",
        "off",
        "--format",
        "json",
        "--output",
        str(report),
        "--skip-editable",
    ]
    return subprocess.run(command + extra, capture_output=True, text=True, cwd=ROOT)


def summarise(report: dict, strict: bool) -> tuple[list[str], int]:
    """What to print about a pip-audit JSON report, and the exit status."""
    dependencies = report["dependencies"]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    lines = [
        f"pip-audit: {len(audited)} of {len(dependencies)} dependencies audited, "
        f"{sum(len(d['vulns']) for d in vulnerable)} known vulnerabilities."
    ]
    if vulnerable:
        lines.append(f"{'Name':<24} {'Version':<12} {'ID':<24} Fix versions")
        for dependency in vulnerable:
            for vuln in dependency["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
                lines.append(f"{dependency['name']:<24} {dependency['version']:<12} {vuln['id']:<24} {fixes}")
    if skipped:
        lines.append(f"Not audited ({len(skipped)}): " + ", ".join(d["name"] for d in skipped))
        lines.append(f"  first reason: {skipped[0]['skip_reason']}")
    if vulnerable:
        return lines, 1
    if not audited:
        lines.append(
            "DEPENDENCY AUDIT INCOMPLETE: no dependency could be audited; "
            "the vulnerability service was unreachable or does not know these packages."
        )
        return lines, 2 if strict else 0
    if skipped:
        lines.append("DEPENDENCY AUDIT INCOMPLETE: some dependencies could not be audited (listed above).")
        return lines, 2 if strict else 0
    lines.append("No known vulnerabilities.")
    return lines, 0


def main(extra: list[str]) -> int:
    strict = os.environ.get("AUDIT_STRICT", "").strip() in {"1", "true", "yes"}
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "audit.json"
        done = run_pip_audit(report_path, extra)
        report = json.loads(report_path.read_text()) if report_path.exists() else None
    if report is None:
        print("DEPENDENCY AUDIT INCOMPLETE: pip-audit did not finish (is its vulnerability service reachable?).")
        print(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "(no output)")
        return 2 if strict else 0
    lines, status = summarise(report, strict)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
