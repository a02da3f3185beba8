"""Exceptions raised by gis_core."""


class GisCoreError(Exception):
    """Base class of every gis_core error."""


class GeographicCRSError(GisCoreError, ValueError):
    """An area or overlay was asked for in a geographic (degree) CRS."""


class CRSMismatchError(GisCoreError, ValueError):
    """Two inputs of one computation are in different CRSs."""


class ToleranceError(GisCoreError, ValueError):
    """A tolerance preset or coefficient is unknown or invalid."""
