"""File helpers for every package: they work on the paths they are given and open nothing else."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path, chunk: int = 8 << 20) -> str:
    """SHA-256 hex digest of the file at ``path``, read in chunks (hashlib releases the GIL on large blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
