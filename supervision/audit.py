"""The tamper-evident audit trail: append-only, hash-chained rows of canonical event bytes."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

GENESIS_HASH = bytes(32)


def _default(value: object) -> object:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"not JSON-serialisable in an audit event: {type(value).__name__}")


def canonical_bytes(event: dict) -> bytes:
    """The canonical UTF-8 JSON of an event: sorted keys, no insignificant whitespace."""
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_default).encode("utf-8")


def append(conn: Connection, *, actor: str, action: str, object_type: str | None = None,
           object_key: str | None = None, details: dict | None = None, opinion: str | None = None,
           result: str | None = None, attachments: list[dict] | None = None) -> int:
    """Append one event (who, what, on which object, with which opinion, result and attachments); the
    database assigns its sequence number and chains its hash. Returns seq."""
    event: dict = {"actor": actor, "action": action, "object_type": object_type, "object_key": object_key,
                   "details": details or {}}
    for key, value in (("opinion", opinion), ("result", result), ("attachments", attachments)):
        if value is not None:        # absent keys keep the bytes of older events' kind unchanged
            event[key] = value
    return conn.execute(text(
        "INSERT INTO audit_event (actor, action, object_type, object_key, event_bytes, prev_hash, hash) "
        "VALUES (:actor, :action, :otype, :okey, :bytes, '\\x'::bytea, '\\x'::bytea) RETURNING seq"),
        {"actor": actor, "action": action, "otype": object_type, "okey": object_key,
         "bytes": canonical_bytes(event)}).scalar_one()


@dataclass(frozen=True)
class ChainBreak:
    """Where a recomputed audit chain disagrees with the stored one."""

    seq: int
    reason: str


def verify_chain(rows: Iterable[tuple[int, bytes, bytes, bytes]]) -> list[ChainBreak]:
    """Recompute the chain from exported ``(seq, event_bytes, prev_hash, hash)`` rows in seq order."""
    breaks: list[ChainBreak] = []
    previous = GENESIS_HASH
    for seq, event_bytes, prev_hash, stored in rows:
        if bytes(prev_hash) != previous:
            breaks.append(ChainBreak(seq, "prev_hash does not match the previous row's hash"))
        expected = hashlib.sha256(bytes(prev_hash) + bytes(event_bytes)).digest()
        if expected != bytes(stored):
            breaks.append(ChainBreak(seq, "hash does not match sha256(prev_hash || event_bytes)"))
        previous = bytes(stored)
    return breaks
