"""Kept for callers of ``expro.files``: the helpers live in ``gis_core.files``, below every package."""

from gis_core.files import sha256_file

__all__ = ["sha256_file"]
