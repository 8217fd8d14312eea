"""`pip install .` gives a reelgate that runs (scripts/check_wheel.py): the wheel holds
every package file, installs into a fresh venv, and that copy answers --version and
serves /healthz, a template, a static file and /v1/models.

Marked slow (it builds a wheel with pip), not skipped: `make test` runs it.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.server import TEST_DATABASE

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(TEST_DATABASE == "postgres",
                                 reason="packaging does not depend on the database")]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_wheel.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_wheel", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_wheel_installs_and_serves(tmp_path: Path) -> None:
    check = _script()
    # build, every package file in it, install, --version, imported from the venv, serve
    assert check.check(tmp_path) == []
    # and the file check does see a data file that did not make it into a wheel
    (wheel,) = (tmp_path / "dist").glob("reelgate-*.whl")
    stripped = tmp_path / "stripped" / wheel.name
    stripped.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(stripped, "w") as dst:
        for item in src.infolist():
            if item.filename != "reelgate/catalog/defaults.toml":
                dst.writestr(item, src.read(item))
    assert check.missing(stripped) == ["reelgate/catalog/defaults.toml"]
