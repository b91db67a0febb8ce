"""Fail if the pure core (src/ccpulse/domain) imports anything outside the standard library.

The KPI arithmetic must run and be tested without Faust, Kafka, orjson or
Prometheus; within the package it may import only other domain modules.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "src" / "ccpulse" / "domain"
ALLOWED_PACKAGE_PREFIX = "ccpulse.domain"


def offending_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: stays inside the package directory
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if name == ALLOWED_PACKAGE_PREFIX or name.startswith(ALLOWED_PACKAGE_PREFIX + "."):
                continue
            if top in sys.stdlib_module_names and top != "ccpulse":
                continue
            problems.append(f"{path}:{node.lineno}: imports {name!r}")
    return problems


def main() -> int:
    files = sorted(CORE.rglob("*.py"))
    problems = [problem for path in files for problem in offending_imports(path)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"the pure core must import only the standard library and {ALLOWED_PACKAGE_PREFIX}")
        return 1
    print(f"pure core: {len(files)} modules import only the standard library")
    return 0


if __name__ == "__main__":
    sys.exit(main())
