"""Exceptions raised by the supervision package."""

from __future__ import annotations

from dataclasses import dataclass


class SupervisionError(Exception):
    """Base class of every supervision error."""


@dataclass(frozen=True)
class Issue:
    """One problem found in an input package, located by file, row and column."""

    file: str
    row: int | None          # spreadsheet row (header = 1) or feature number (1-based); None: whole file
    column: str | None       # the header as written in the file
    message_en: str
    message_zh: str
    language: str = "en"     # language of the headers used in that file
    row_kind: str = "row"    # "row" (tables) or "feature" (vector layers)

    def render(self) -> str:
        """One line naming the file, row, column and problem, in the file's header language."""
        if self.language == "zh":
            where = self.file
            if self.row is not None:
                where += f" 第{self.row}{'行' if self.row_kind == 'row' else '个要素'}"
            if self.column:
                where += f" 「{self.column}」"
            return f"{where}: {self.message_zh}"
        where = self.file
        if self.row is not None:
            where += f" {self.row_kind} {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message_en}"


class PackageError(SupervisionError, ValueError):
    """A project package is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__(f"{len(issues)} problem(s) in the package")

    def report(self, limit: int | None = None) -> str:
        """The issues, one per line (the first ``limit`` of them when given)."""
        shown = self.issues if limit is None else self.issues[:limit]
        lines = [issue.render() for issue in shown]
        if limit is not None and len(self.issues) > limit:
            lines.append(f"... and {len(self.issues) - limit} more (use --errors-csv FILE for the full list)")
        return "\n".join(lines)


class ProjectNotFoundError(SupervisionError, LookupError):
    """No project has the given code."""
