"""The UI's API types (hub/web/ui/src/api-types.ts) are generated from the hub's OpenAPI
document by scripts/gen-ui-types.sh and committed: this fails while the committed file differs
from what the routes generate now.

The generator is the UI's own devDependency (openapi-typescript in hub/web/ui/node_modules, put
there by `make ui`): nothing is downloaded here."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen-ui-types.sh"
COMMITTED = ROOT / "hub" / "web" / "ui" / "src" / "api-types.ts"
GENERATOR = ROOT / "hub" / "web" / "ui" / "node_modules" / ".bin" / "openapi-typescript"
FIX = "run scripts/gen-ui-types.sh and commit hub/web/ui/src/api-types.ts"


def test_ui_types_are_current(tmp_path: Path) -> None:
    assert GENERATOR.exists(), (
        f"{GENERATOR.relative_to(ROOT)} is missing: run `make ui` (npm ci in hub/web/ui) first"
    )
    out = tmp_path / "api-types.ts"
    done = subprocess.run(
        [str(SCRIPT), str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"scripts/gen-ui-types.sh failed:\n{done.stderr}"
    fresh = out.read_text(encoding="utf-8")
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    if fresh != committed:
        diff = difflib.unified_diff(
            committed.splitlines(),
            fresh.splitlines(),
            "committed api-types.ts",
            "generated now",
            lineterm="",
        )
        shown = list(diff)
        more = f"\n... {len(shown) - 60} more diff lines" if len(shown) > 60 else ""
        pytest.fail(f"hub/web/ui/src/api-types.ts is stale: {FIX}\n" + "\n".join(shown[:60]) + more)
