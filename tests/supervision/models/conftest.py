"""Helpers for the supervision model tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def truth_of(path: Path, rules: set[str]) -> set[tuple[str, str, str]]:
    """The planted (rule_code, subject_type, subject_key) of ``rules``."""
    truth = pd.read_csv(path / "truth.csv", dtype=str, keep_default_na=False)
    return {tuple(r) for r in truth[["rule_code", "subject_type", "subject_key"]].itertuples(index=False)
            if r[0] in rules}
