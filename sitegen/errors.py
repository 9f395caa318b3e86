"""Build failures that name the file and line an organiser must fix."""

from __future__ import annotations

from pathlib import Path


class BuildError(Exception):
    """Content or templates are wrong; the message says where and how."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None):
        self.path = Path(path) if path is not None else None
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = f"{_display(self.path)}:{line}: " if line else f"{_display(self.path)}: "
        super().__init__(f"{where}{message}")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
