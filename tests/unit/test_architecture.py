"""The import rule, checked on every build: layers import one way.

Read ``src/reelgate`` with :mod:`ast` (nothing is imported or executed) and refuse:

* ``api/`` importing the database (``sqlalchemy``, ``reelgate.store``) or opening a
  transaction itself (``….db.read()``, ``….db.begin()``): handlers call services;
* a core package importing the web framework (``fastapi``, ``starlette``);
* ``jobs/`` importing SQLAlchemy outside ``jobs/repository.py`` and ``jobs/queries.py``;
* reading the environment (``os.environ``, ``os.getenv``) outside ``config.py`` and ``cli/``;
* ``bootstrap.py`` importing ``api/`` or ``cli/``; anything below them importing
  ``api/``, ``cli/`` or ``bootstrap`` (a layer importing upward); ``api/`` importing ``cli/``;
* a module over 400 lines.

Breaches that are known and owned are listed in :data:`KNOWN_BREACHES`; the test also
fails when a listed breach is gone, so the list can only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "src" / "reelgate"

MAX_LINES = 400
CORE = ("jobs", "billing", "scheduler", "providers", "routing", "webhooks", "auth", "limits",
        "characters")
WEB = ("fastapi", "starlette")
DATABASE = ("sqlalchemy", "reelgate.store")
#: the only jobs/ modules that may speak SQL
JOBS_SQL = ("jobs/repository.py", "jobs/queries.py")
ENTRY = ("api", "cli", "__main__")

Breach = tuple[str, str]  # (rule, module path relative to src/reelgate)

#: breaches known and owned, each removed when fixed (none left)
KNOWN_BREACHES: frozenset[Breach] = frozenset()


@dataclass(frozen=True)
class Module:
    path: str  # relative to src/reelgate, e.g. "api/videos.py"
    source: str

    @property
    def name(self) -> str:
        parts = ["reelgate", *self.path.removesuffix(".py").split("/")]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    @property
    def area(self) -> str:
        """The top-level package (``api``) or module (``bootstrap``) it belongs to."""
        return self.path.split("/")[0].removesuffix(".py")


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imported(module: Module, tree: ast.Module) -> set[str]:
    """Every module name ``module`` imports anywhere (functions and TYPE_CHECKING too)."""
    package = module.name if module.path.endswith("__init__.py") else \
        module.name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _reads_environment(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" \
                and any(a.name in ("environ", "getenv") for a in node.names):
            return True
    return False


def _opens_transaction(tree: ast.Module) -> bool:
    """``x.db.read()`` / ``x.db.begin()``: a handler doing a service's work."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("read", "begin") \
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "db":
            return True
    return False


def breaches(modules: Iterable[Module]) -> set[Breach]:
    found: set[Breach] = set()
    for m in modules:
        tree = ast.parse(m.source, m.path)
        names = imported(m, tree)
        if m.area == "api" and any(_within(n, DATABASE) for n in names):
            found.add(("api-imports-database", m.path))
        if m.area == "api" and _opens_transaction(tree):
            found.add(("api-opens-transaction", m.path))
        if m.area in CORE and any(_within(n, WEB) for n in names):
            found.add(("core-imports-web-framework", m.path))
        if m.area == "jobs" and m.path not in JOBS_SQL and _within_any(names, ("sqlalchemy",)):
            found.add(("jobs-imports-sqlalchemy", m.path))
        if m.path != "config.py" and m.area != "cli" and _reads_environment(tree):
            found.add(("reads-environment", m.path))
        if m.area == "bootstrap" and _within_any(names, ("reelgate.api", "reelgate.cli")):
            found.add(("bootstrap-imports-api", m.path))
        above = {"api": ("reelgate.cli",), "cli": ()}.get(
            m.area, ("reelgate.api", "reelgate.cli", "reelgate.bootstrap"))
        if m.area not in ("bootstrap", "__main__") and _within_any(names, above):
            found.add(("imports-upward", m.path))
        if len(m.source.splitlines()) > MAX_LINES:
            found.add(("module-over-400-lines", m.path))
    return found


def _within_any(names: Iterable[str], prefixes: Iterable[str]) -> bool:
    return any(_within(n, prefixes) for n in names)


def source_modules() -> list[Module]:
    return [Module(p.relative_to(PKG).as_posix(), p.read_text())
            for p in sorted(PKG.rglob("*.py"))]


def test_the_source_tree_keeps_the_import_rule() -> None:
    modules = source_modules()
    assert len(modules) > 50, f"no sources found under {PKG}"
    found = breaches(modules)
    new = sorted(found - KNOWN_BREACHES)
    assert not new, f"layer rule broken (see docs/architecture.md): {new}"
    gone = sorted(KNOWN_BREACHES - found)
    assert not gone, f"fixed: remove these from KNOWN_BREACHES: {gone}"


# --- the checker itself: each rule fires on a module that breaks it -------------------

@pytest.mark.parametrize(("path", "source", "rule"), [
    ("api/x.py", "from sqlalchemy import select\n", "api-imports-database"),
    ("api/x.py", "from reelgate.store.tables import jobs\n", "api-imports-database"),
    ("api/x.py", "from reelgate.store import tables\n", "api-imports-database"),
    ("api/admin/x.py", "def f():\n    import sqlalchemy\n", "api-imports-database"),
    ("api/x.py", "async def f(gw):\n    async with gw.db.read() as c:\n        pass\n",
     "api-opens-transaction"),
    ("billing/x.py", "from fastapi import Request\n", "core-imports-web-framework"),
    ("limits/x.py", "from starlette.types import ASGIApp\n", "core-imports-web-framework"),
    ("jobs/service.py", "from sqlalchemy.exc import IntegrityError\n",
     "jobs-imports-sqlalchemy"),
    ("webhooks/x.py", "import os\nX = os.environ.get('A')\n", "reads-environment"),
    ("media/x.py", "from os import getenv\n", "reads-environment"),
    ("bootstrap.py", "from reelgate.api.admin.auth import admin_token\n",
     "bootstrap-imports-api"),
    ("routing/x.py", "from reelgate.bootstrap import Gateway\n", "imports-upward"),
    ("jobs/x.py", "from reelgate.api.render import video_object\n", "imports-upward"),
    ("api/x.py", "from reelgate.cli import app\n", "imports-upward"),
    ("metrics.py", "x = 1\n" * (MAX_LINES + 1), "module-over-400-lines"),
])
def test_each_rule_catches_its_breach(path: str, source: str, rule: str) -> None:
    assert breaches([Module(path, source)]) == {(rule, path)}


@pytest.mark.parametrize(("path", "source"), [
    ("jobs/repository.py", "from sqlalchemy import select\n"),
    ("jobs/queries.py", "from sqlalchemy import select\n"),
    ("billing/x.py", "from sqlalchemy import select\n"),
    ("config.py", "import os\nX = os.environ.get('A')\n"),
    ("cli/x.py", "import os\nX = os.environ.get('A')\nfrom reelgate.bootstrap import G\n"),
    ("api/x.py", "from reelgate.bootstrap import Gateway\nfrom fastapi import Request\n"),
    ("api/x.py", "from reelgate.jobs.queries import JobQueries\n"),
    ("bootstrap.py", "from reelgate.routing.manage import ChannelService\n"),
    ("jobs/x.py", "from .model import Job\n"),
    ("metrics.py", "x = 1\n" * MAX_LINES),
])
def test_what_the_rule_allows(path: str, source: str) -> None:
    assert breaches([Module(path, source)]) == set()


def test_relative_imports_resolve_to_the_real_module() -> None:
    m = Module("api/admin/x.py", "")
    tree = ast.parse("from ...store import tables\nfrom . import jobs\n")
    assert {"reelgate.store.tables", "reelgate.api.admin.jobs"} <= imported(m, tree)
