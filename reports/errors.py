"""Errors of the periodic reports."""

from __future__ import annotations


class ReportError(Exception):
    """A report cannot be made."""


class ReportInputError(ReportError, ValueError):
    """The report was asked for with bad input (period, project, output folder)."""


class ReportOutputExistsError(ReportInputError, FileExistsError):
    """A report output exists already and ``--overwrite`` was not given."""


class ReportFontError(ReportError, RuntimeError):
    """No CJK font is installed for the PDF and the charts."""
