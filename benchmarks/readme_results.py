"""The results section of a benchmark's README, between ``<!-- results:start -->`` and ``<!-- results:end -->``."""

from __future__ import annotations

from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"


def replace_results(readme: Path, section: str) -> None:
    """Replace the text between the two markers of ``readme`` by ``section`` (the markers appended when missing)."""
    body = readme.read_text(encoding="utf-8")
    if START not in body or END not in body:
        body += f"\n{START}\n{END}\n"
    head, rest = body.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{section}{END}{tail}", encoding="utf-8")
