"""Synthetic demonstration districts: a complete project package with planted anomalies and their truth."""


class SyntheticError(Exception):
    """Base class of every error of the synthetic district generator."""


class GenerationError(SyntheticError, RuntimeError):
    """The generator produced data that contradicts its own plan (a bug, never bad input)."""
