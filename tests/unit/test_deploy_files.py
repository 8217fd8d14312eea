"""The deployment files cannot drift from the code: every `reelgate` command (and each
of its --options) that the Dockerfile, compose.yaml, the systemd unit, the env
example, docs/deployment.md and the README's code show is a real CLI command, and
every REELGATE_* variable they set or name is a real setting (or one the CLI reads
for its own flags). Images cannot be pulled here, so this is what keeps them honest.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from reelgate.cli import app
from reelgate.config import Settings

ROOT = Path(__file__).resolve().parents[2]
#: typer's own (vendored) click objects: a group has ``commands``, a command ``params``
ROOT_CLI: Any = typer.main.get_command(app)
assert hasattr(ROOT_CLI, "commands")
#: where a command line ends (a shell operator) or stops being ours (a comment)
_END = {"&&", "||", ";", "#", ">", ">>", "2>&1", "<"}
_VAR = re.compile(r"\bREELGATE_[A-Z0-9_]+\b")


def _settings_variables() -> set[str]:
    return {f"REELGATE_{f.name.upper()}" for f in dataclasses.fields(Settings)
            if f.metadata.get("env")}


def _cli_variables() -> set[str]:
    """Variables the CLI reads for its own flags (e.g. demo's REELGATE_API_KEY), and
    those `make test` reads (scripts/test.sh: REELGATE_TEST_POSTGRES)."""
    found: set[str] = set()
    for path in (ROOT / "src" / "reelgate" / "cli").glob("*.py"):
        found |= set(re.findall(r"[\"'](REELGATE_[A-Z0-9_]+)[\"']", path.read_text()))
    for path in (ROOT / "scripts").glob("*.sh"):
        found |= set(re.findall(r"\$\{(REELGATE_[A-Z0-9_]+)", path.read_text()))
    return found


KNOWN_VARIABLES = _settings_variables() | _cli_variables()


# --- what each file shows ------------------------------------------------------------


def _markdown_code(text: str) -> list[str]:
    """Fenced blocks (continuation lines joined) and inline code spans."""
    out: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S):
        out.extend(block.replace("\\\n", " ").splitlines())
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
    out.extend(re.findall(r"`([^`\n]+)`", prose))
    return out


def _reelgate_lines(line: str) -> Iterator[list[str]]:
    """The argument lists after each `reelgate` in a line, up to a shell operator.

    The README writes alternatives with `|`: ``keys list | keys revoke KEY`` (another
    command), ``update ark ... | disable ark`` (a sibling: ``channels disable``),
    ``[--rule R | --no-rules]`` or ``FILE | -`` (more of the same command). A real
    pipe into another program (``| jq .``) is where ours ends.
    """
    for match in re.finditer(r"(?:^|(?<=[\s/\"'\[(]))reelgate\s+(?=[a-z])", line):
        rest = line[match.end():]
        try:
            words = shlex.split(rest, comments=False)
        except ValueError:
            words = rest.split()
        if words and words[0] == "reelgate":
            continue  # "-v data:/var/lib/reelgate reelgate": a path, then the image
        yield from _segments(words)


def _segments(words: list[str]) -> Iterator[list[str]]:
    current: list[str] = []
    for n, word in enumerate(words):
        if word in _END or word.startswith("#"):
            break
        if word != "|":
            current.append(word)
            continue
        after = words[n + 1] if n + 1 < len(words) else ""
        group = ROOT_CLI.commands.get(current[0]) if current else None
        if after.startswith("-"):
            continue  # an alternative option or argument of the same command
        yield current
        if after in ROOT_CLI.commands:
            current = []
        elif after in getattr(group, "commands", {}):
            current = [current[0]]  # a sibling sub-command
        else:
            return  # another program
    yield current


def commands_in(path: Path) -> list[list[str]]:
    text = path.read_text()
    if path.name == "compose.yaml":
        doc = yaml.safe_load(text)
        found = [_as_args(svc["command"]) for svc in doc["services"].values()
                 if svc.get("build") or str(svc.get("image", "")).startswith("reelgate")]
        lines = [line.lstrip("# ") for line in text.splitlines() if line.startswith("#")]
        return found + [c for line in lines for c in _reelgate_lines(line) if _a_command(c)]
    if path.name == "Dockerfile":
        entry = re.search(r"^ENTRYPOINT\s+(\[.*\])", text, flags=re.M)
        cmd = re.search(r"^CMD\s+(\[.*\])", text, flags=re.M)
        assert entry and cmd and yaml.safe_load(entry.group(1)) == ["reelgate"]
        lines = [line.lstrip("# ") for line in text.splitlines() if line.startswith("#")]
        return [list(yaml.safe_load(cmd.group(1)))] + [
            c for line in lines for c in _reelgate_lines(line) if _a_command(c)]
    if path.suffix == ".md":
        lines = _markdown_code(text)
    else:  # systemd units, env examples: every line (comments show commands too)
        return [c for line in text.splitlines() for c in _reelgate_lines(line.lstrip("# "))
                if not line.startswith("#") or _a_command(c)]
    return [c for line in lines for c in _reelgate_lines(line)]


def _a_command(args: list[str]) -> bool:
    """In a comment, "reelgate process" is prose; "reelgate worker" a command."""
    return bool(args) and args[0].strip("[](),.`") in ROOT_CLI.commands


def variables_in(path: Path) -> set[str]:
    text = path.read_text()
    if path.name == "README.md":
        text = "\n".join(_markdown_code(text))
    return set(_VAR.findall(text))


def _as_args(command: object) -> list[str]:
    return list(command) if isinstance(command, list) else shlex.split(str(command))


# --- what the CLI accepts ------------------------------------------------------------


def problems(args: list[str]) -> list[str]:
    """Why ``reelgate ARGS`` is not a real command line (empty: it is).

    Sub-commands are walked; ``a|b|c`` means each of them; ``[--opt V]`` is an
    optional option; a bare ``--`` ends the options; ``...`` stands for the rest.
    """
    words = [w.strip("[](),.").rstrip(":") for w in args]
    words = [w for w in words if w]
    if not words:
        return ["`reelgate` with no command"]
    groups: list[Any] = [ROOT_CLI]
    i = 0
    while i < len(words) and all(hasattr(g, "commands") for g in groups):
        names = words[i].split("|")
        if not re.fullmatch(r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*", words[i]):
            if words[i] == "..." or i > 0:
                break  # an argument of a group is not ours to judge
            return [f"{words[i]!r} is not a reelgate command"]
        found: list[Any] = []
        for group in groups:
            for name in names:
                sub = group.commands.get(name)
                if sub is None:
                    return [f"`{' '.join(words[:i + 1])}`: no command {name!r} "
                            f"(known: {', '.join(sorted(group.commands))})"]
                found.append(sub)
        groups, i = found, i + 1
    options = {"--help"}
    for cmd in groups:
        for param in cmd.params:
            options.update(o for o in (*param.opts, *param.secondary_opts)
                           if o.startswith("-"))
    bad = []
    for word in words[i:]:
        if word == "--":
            break
        for alternative in word.split("|") if word.startswith("--") else ():
            name = alternative.split("=", 1)[0]
            if name not in options:
                bad.append(f"`reelgate {' '.join(args)}`: no option {name}")
    return bad


# --- the checks ----------------------------------------------------------------------

FILES = [ROOT / "Dockerfile", ROOT / "compose.yaml", ROOT / "docs" / "deployment.md",
         ROOT / "README.md", *sorted((ROOT / "deploy").glob("*.service")),
         *sorted((ROOT / "deploy").glob("*.env.example"))]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_shown_is_a_real_reelgate_command(path: Path) -> None:
    commands = commands_in(path)
    if path.suffix != ".example":
        assert commands, f"no reelgate command found in {path.name}: is the parser blind?"
    found = [p for c in commands for p in problems(c)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_variable_used_is_a_real_setting(path: Path) -> None:
    unknown = variables_in(path) - KNOWN_VARIABLES
    assert unknown == set(), f"{path.name} uses variables no code reads: {sorted(unknown)}"


def test_the_checks_catch_what_they_are_for() -> None:
    assert problems(["keys", "create", "--name", "x", "--tenant", "t", "--create-tenant"]) == []
    assert problems(["channels", "add|list|update", "--provider", "openai"]) == []
    assert problems(["tenants", "adjust", "acme", "--", "-5", "--not-an-option"]) == []
    assert problems(["serve", "--no-workers"])  # a typo of --no-worker
    assert problems(["keys", "make"])  # no such sub-command
    assert problems(["deploy"])  # no such command
    assert list(_reelgate_lines("docker compose exec api-1 reelgate keys list | keys revoke K"
                                " && echo done")) == [["keys", "list"], ["keys", "revoke", "K"]]
    assert "REELGATE_DATA_DIR" in KNOWN_VARIABLES and "REELGATE_API_KEY" in KNOWN_VARIABLES
    assert "REELGATE_NOT_A_SETTING" not in KNOWN_VARIABLES
