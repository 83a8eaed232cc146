"""The layers of docs/architecture.md, checked by import-linter's contracts in pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is missing: pip install -e '.[test]'"
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_every_type_ignore_says_why() -> None:
    """``# type: ignore[code]  # reason``: a silenced checker must say what it could not see."""
    import re

    bare = re.compile(r"type: ignore(?!\[[-a-z,]+\] +# \S)")
    found = []
    for package in (
        "app",
        "ui",
        "provisioning",
        "kiosk",
        "drivers",
        "readerlink",
        "wire",
        "station",
    ):
        for path in sorted((ROOT / package).rglob("*.py")):
            for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                if bare.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{n}")
    assert found == []
