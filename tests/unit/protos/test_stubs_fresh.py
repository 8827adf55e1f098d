"""stubs/ is generated from protos/ and must never drift from it."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT


def _tree(directory: Path) -> set[str]:
    return {
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_regenerating_stubs_yields_exactly_the_committed_files(tmp_path: Path) -> None:
    out = tmp_path / "stubs"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "generate_stubs.py"), str(out)],
        check=True,
        cwd=REPO_ROOT,
    )
    committed, fresh = _tree(REPO_ROOT / "stubs"), _tree(out)
    assert committed == fresh, "stubs/ file set is stale: run `make generate`"
    stale = [
        name
        for name in sorted(fresh)
        if not filecmp.cmp(out / name, REPO_ROOT / "stubs" / name, shallow=False)
    ]
    assert not stale, f"stubs/ content is stale for {stale}: run `make generate`"
