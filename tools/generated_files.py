"""Write generated files, or (``--check``) tell which differ from what is committed: one path for every generator."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path


def write_or_check(files: Mapping[Path, str], *, check: bool, tool: str) -> int:
    """Exit status: with ``check``, 1 if any file is missing or differs (nothing written); else write them all."""
    if check:
        stale = [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path} is stale; run: python tools/{tool}", file=sys.stderr)
        if stale:
            return 1
        print(f"{len(files)} file{'s' if len(files) != 1 else ''} up to date")
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0
