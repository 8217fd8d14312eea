"""The console every CLI command prints through.

On a terminal rich fits tables to its width; into a pipe or a file it would wrap at
80 columns and split one row over two lines, which breaks `grep` and scripts, so
there it gets a width no row reaches.
"""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["make_console"]

PIPE_WIDTH = 240


def make_console() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
