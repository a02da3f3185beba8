"""requirements/lock.txt pins, with hashes, every requirement of pyproject.toml that the two commands install."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CLONE = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$")


def _locked() -> dict[str, tuple[str, int]]:
    """Package → (pinned version, number of hashes) as written by pip-compile --generate-hashes."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in (CLONE / "requirements" / "lock.txt").read_text(encoding="utf-8").splitlines():
        if m := PIN.match(line):
            current = canonicalize_name(m[1])
            found[current] = (m[2], 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
        elif not line.startswith(" "):
            current = None
    return found


def test_lock_pins_every_requirement_within_its_range_with_hashes():
    project = tomllib.loads((CLONE / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = (project["project"]["dependencies"] + project["project"]["optional-dependencies"]["test"]
              + project["build-system"]["requires"])
    locked = _locked()
    problems = []
    for req in map(Requirement, wanted):
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.11", "sys_platform": "linux"}):
            continue
        pinned = locked.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned[0], prereleases=True):
            problems.append(f"{req} → {pinned and pinned[0]}")
    assert not problems, "requirements/lock.txt is stale (run scripts/lock.sh): " + "; ".join(problems)
    assert all(hashes >= 1 for _, hashes in locked.values())

