"""Exceptions of the expro edge package (CLI, cluster, database)."""


class ExproError(Exception):
    """Base class of errors raised by the expro edge package."""


class ClusterError(ExproError, RuntimeError):
    """The project-local PostgreSQL cluster cannot be set up or started."""


class DatabaseError(ExproError, RuntimeError):
    """The database is unreachable or not ready."""
