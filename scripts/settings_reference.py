"""Rewrite the configuration table in README.md from ``reelgate.config.Settings``.

    PYTHONPATH=src python scripts/settings_reference.py          # rewrite README.md
    PYTHONPATH=src python scripts/settings_reference.py --check  # exit 1 if it is stale

The table sits between ``<!-- settings:start -->`` and ``<!-- settings:end -->``;
tests/unit/test_config.py fails while it disagrees with the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reelgate.config import reference

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->\n", "<!-- settings:end -->"


def render(text: str) -> str:
    """``text`` with the block between the markers replaced by the current table."""
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit("README.md lacks the settings markers")
    return f"{head}{START}{reference()}{END}{tail}"


def main() -> int:
    text = README.read_text()
    fresh = render(text)
    if "--check" in sys.argv[1:]:
        return 0 if fresh == text else 1
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
