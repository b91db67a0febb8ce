"""The `make lint` guard that keeps the pure core free of third-party imports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_pure_core", REPO_ROOT / "tools" / "check_pure_core.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_pure_core"] = module
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def test_standard_library_and_domain_imports_pass(tmp_path: Path) -> None:
    module = tmp_path / "ok.py"
    module.write_text(
        "import dataclasses\nfrom zoneinfo import ZoneInfo\nfrom ccpulse.domain.events import ContactEvent\n"
        "from . import sibling\n"
    )
    assert checker.offending_imports(module) == []


def test_third_party_and_shell_imports_are_reported_with_line_numbers(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import orjson\nimport os\nfrom faust import App\nfrom ccpulse.codec import json\n")
    problems = checker.offending_imports(module)
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in problems] == ["1", "3", "4"]
    assert "'orjson'" in problems[0]
    assert "'faust'" in problems[1]
    assert "'ccpulse.codec'" in problems[2]


def test_the_real_core_passes() -> None:
    assert checker.main() == 0
