"""Settings: every variable is read from the environment by one loop, and the README's
configuration table is exactly what the code declares."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from reelgate.config import Settings, default_data_dir, reference

README = Path(__file__).resolve().parents[2] / "README.md"


def _env_fields() -> list[dataclasses.Field[object]]:
    return [f for f in dataclasses.fields(Settings) if f.metadata.get("env")]


def test_the_readme_table_is_generated_from_the_settings() -> None:
    text = README.read_text()
    block = text.split("<!-- settings:start -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert block == reference(), (
        "README.md's configuration table is stale: run "
        "`PYTHONPATH=src python scripts/settings_reference.py`")
    documented = set(re.findall(r"`(REELGATE_[A-Z_]+)`", block))
    assert documented == {f"REELGATE_{f.name.upper()}" for f in _env_fields()}


def test_every_setting_with_a_variable_is_read_from_it(tmp_path: Path) -> None:
    samples = {bool: ("1", True), int: ("7", 7), float: ("2.5", 2.5)}
    env: dict[str, str] = {}
    want: dict[str, object] = {}
    for f in _env_fields():
        kind = type(f.default)
        if f.name == "data_dir":
            env["REELGATE_DATA_DIR"], want[f.name] = str(tmp_path), tmp_path.resolve()
        elif kind in samples:
            raw, value = samples[kind]
            if kind is bool and f.default is True:
                raw, value = "0", False
            env[f"REELGATE_{f.name.upper()}"], want[f.name] = raw, value
        elif kind is tuple:
            env[f"REELGATE_{f.name.upper()}"], want[f.name] = " Foo,bar ,", ("foo", "bar")
        else:
            env[f"REELGATE_{f.name.upper()}"], want[f.name] = f"x-{f.name}", f"x-{f.name}"
    settings = Settings.from_env(env)
    assert {name: getattr(settings, name) for name in want} == want


def test_defaults_and_what_is_derived_from_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"REELGATE_DATA_DIR": str(tmp_path)}, port=9000)
    plain = Settings()
    for f in _env_fields():
        if f.name not in ("data_dir", "database_url", "storage_url", "port"):
            assert getattr(settings, f.name) == getattr(plain, f.name), f.name
    assert settings.port == 9000  # overrides win over the environment
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'reelgate.db'}"
    assert settings.storage_url == str(tmp_path.resolve() / "media")
    assert settings.worker_id != Settings.from_env({}).worker_id  # unique per instance


def test_the_default_data_dir_is_the_users_not_the_current_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert Settings.from_env({"HOME": str(home)}).data_dir == \
        (home / ".local" / "share" / "reelgate").resolve()
    xdg = tmp_path / "xdg"
    chosen = Settings.from_env({"HOME": str(home), "XDG_DATA_HOME": str(xdg)})
    assert chosen.data_dir == (xdg / "reelgate").resolve()
    assert chosen.database_url == f"sqlite+aiosqlite:///{(xdg / 'reelgate').resolve()}/reelgate.db"
    relative = Settings.from_env({"HOME": str(home), "XDG_DATA_HOME": "rel"})  # ignored (XDG)
    assert relative.data_dir == (home / ".local" / "share" / "reelgate").resolve()
    assert default_data_dir({"HOME": str(home)}) == home / ".local" / "share" / "reelgate"
    # a ~ is the user's home, not a directory named '~' in the current one
    assert Settings.from_env({"REELGATE_DATA_DIR": "~/rg"}).data_dir == \
        (Path.home() / "rg").resolve()
