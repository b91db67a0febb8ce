"""The pinned dependency set (constraints.txt) and the ranges users install (pyproject.toml) avoid known CVEs.

Each floor is the first release with the fix; raise it when a new advisory
names a package ccpulse runs with.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
# package -> (first fixed version, advisory)
SAFE_FLOORS = {
    "orjson": ("3.9.15", "CVE-2024-27454: unbounded recursion on deeply nested JSON"),
    "aiohttp": ("3.12.14", "CVE-2025-53643: request smuggling in the HTTP parser (it serves /metrics)"),
    "pyyaml": ("5.4", "CVE-2020-14343: arbitrary code execution in full_load"),
}


def pinned() -> dict[str, Version]:
    versions: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            versions[name.strip().lower().replace("_", "-")] = Version(version.strip())
    return versions


@pytest.mark.parametrize("package", sorted(SAFE_FLOORS))
def test_the_pinned_version_has_the_fix(package: str) -> None:
    floor, advisory = SAFE_FLOORS[package]
    assert pinned()[package] >= Version(floor), f"{package} pinned below {floor} ({advisory})"


@pytest.mark.parametrize("package", ["orjson", "aiohttp"])
def test_the_range_users_install_excludes_vulnerable_releases(package: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [requirement] = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == package]
    floor = Version(SAFE_FLOORS[package][0])
    vulnerable = Version(f"{floor.major}.{floor.minor}.{max(floor.micro - 1, 0)}")
    assert not requirement.specifier.contains(vulnerable) or vulnerable >= floor
    assert requirement.specifier.contains(pinned()[package])
