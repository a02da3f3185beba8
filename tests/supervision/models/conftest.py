"""Synthetic districts generated once per test session (read-only; tests import them in their own transaction)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from expro.synthetic.district import generate_district

_CACHE: dict[tuple[int, int, bool], Path] = {}


@pytest.fixture(scope="session")
def district_dir(tmp_path_factory):
    """A function returning the package folder of (seed, households, imagery), generated once."""
    def get(seed: int, households: int = 300, imagery: bool = False) -> Path:
        key = (seed, households, imagery)
        if key not in _CACHE:
            out = tmp_path_factory.mktemp(f"district_s{seed}_{households}_{int(imagery)}")
            generate_district(out, households=households, seed=seed, imagery=imagery, overwrite=True)
            _CACHE[key] = out
        return _CACHE[key]
    return get


def truth_of(path: Path, rules: set[str]) -> set[tuple[str, str, str]]:
    """The planted (rule_code, subject_type, subject_key) of ``rules``."""
    truth = pd.read_csv(path / "truth.csv", dtype=str, keep_default_na=False)
    return {tuple(r) for r in truth[["rule_code", "subject_type", "subject_key"]].itertuples(index=False)
            if r[0] in rules}
