"""The import contract: the cores import no I/O, Qt or pjsua2 (ARCHITECTURE "Layers").

The contract lives in pyproject.toml and runs in CI as ``lint-imports``. This test
proves it can fail: on a copy of the packages with one forbidden import added to
the desktop's state model (and, separately, the routing core), the same contract
must reject the copy and name the offending import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("shared", "cti_server", "agent_desktop")


def _copy_tree(dest: Path) -> None:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not LINT.exists():
        pytest.skip(f"lint-imports is not installed beside {sys.executable}")
    dest = tmp_path_factory.mktemp("contract")
    _copy_tree(dest)
    return dest


def test_the_real_tree_keeps_the_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module_file", "forbidden"),
    [
        ("agent_desktop/model/state.py", "PySide6"),
        ("agent_desktop/model/state.py", "websockets"),
        ("cti_server/routing/__init__.py", "sqlalchemy"),
        ("shared/protocol/codec.py", "asyncio"),
    ],
)
def test_a_forbidden_import_breaks_the_contract(
    tree: Path, tmp_path: Path, module_file: str, forbidden: str
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tree, broken)
    target = broken / module_file
    target.write_text(
        target.read_text(encoding="utf-8") + f"\nimport {forbidden}  # added by the test\n",
        encoding="utf-8",
    )
    result = _lint(broken)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert forbidden in result.stdout
