"""Exceptions of the field app's plain-Python core (store, gates, sync); messages are safe to show a crew."""

from __future__ import annotations


class MobileError(Exception):
    """Base class of every field-app error; the message is bilingual 中文 / English."""


class StoreError(MobileError):
    """The offline store cannot do what was asked (unknown case, capture or stage)."""


class GateError(MobileError, ValueError):
    """A gate of the stage workflow refuses an act on the device; ``missing`` lists the items still needed."""

    def __init__(self, message: str, *, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing or []


class SyncError(MobileError):
    """A sync could not talk to the server as it needs to."""


class ServerUnreachableError(SyncError, ConnectionError):
    """The server did not answer (no network, server down, or only errors after every retry)."""


class SessionExpiredError(SyncError, PermissionError):
    """The signed-in session is missing, expired or refused: sign in again (nothing is lost)."""
