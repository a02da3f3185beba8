"""Errors of the imagery package: one root, each also inheriting the matching built-in.

Every message is safe to show to the user who sent the file (it names the file's problem, never
an internal path or a traceback).
"""

from __future__ import annotations


class ImageryError(Exception):
    """Root of every imagery error."""


class NotGeoTIFFError(ImageryError, ValueError):
    """The file is not a TIFF at all (for example a PNG or a JPEG renamed .tif)."""


class CorruptGeoTIFFError(ImageryError, ValueError):
    """The file claims to be a TIFF but cannot be read to the end (truncated or damaged)."""


class NoGeoreferenceError(ImageryError, ValueError):
    """The raster has no geotransform or no coordinate reference system."""


class NoOverlapError(ImageryError, ValueError):
    """The raster (or its valid pixels) does not overlap the project's scope."""


class ResolutionError(ImageryError, ValueError):
    """The pixel size is implausible for aerial imagery."""


class UnsupportedBandsError(ImageryError, ValueError):
    """The band layout is not RGB, RGBA or RGB + near-infrared."""


class UnsupportedDtypeError(ImageryError, ValueError):
    """The pixel type is not uint8 or uint16."""


class DuplicateOrthophotoError(ImageryError, ValueError):
    """The same file is already catalogued in the project as the other flight."""


class FileTooLargeError(ImageryError, ValueError):
    """An upload is larger than the configured limit."""


class UnknownProjectError(ImageryError, LookupError):
    """No project with this id."""


class OrthophotoNotFoundError(ImageryError, LookupError):
    """No orthophoto with this id."""


class NotIngestedError(ImageryError, RuntimeError):
    """The orthophoto is only catalogued (from a package); it has no Cloud Optimized GeoTIFF yet."""


class TileOutsideBoundsError(ImageryError, LookupError):
    """The requested web-map tile does not touch the orthophoto."""


class CogWriteError(ImageryError, RuntimeError):
    """A written file did not pass Cloud Optimized GeoTIFF validation (a server-side fault)."""


class ChangeInputError(ImageryError, ValueError):
    """Two orthophotos that cannot be compared (other project, same flight, no common area)."""
