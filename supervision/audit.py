"""The tamper-evident audit trail: append-only events, hash-chained after commit (migration 0014).

Writers call :func:`append` inside their own transaction; it takes no lock, so a long transaction that
wrote an audit row blocks nobody. :func:`seal` chains the committed, not yet chained events into
``audit_chain`` in seq order (``hash = sha256(prev_hash || event_bytes)``) under a short lock of its own;
``expro.db.transaction()`` calls it after every commit that appended (without waiting), and
``expro audit verify|export|checkpoint`` call it too. An event whose transaction is still open is chained
by a later seal. :func:`verify_database` recomputes the chain with the checks of
:mod:`supervision.audit_verify` (the standard-library verifier an inspector runs on an export).
"""

from __future__ import annotations

import datetime as dt
import decimal
import getpass
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from supervision import audit_verify
from supervision.audit_verify import GENESIS_HASH, Break, Record
from supervision.errors import SupervisionError

__all__ = ["GENESIS_HASH", "AuditError", "Break", "ChainBreak", "Checkpoint", "Record", "Report", "append",
           "canonical_bytes", "checkpoint", "cli_actor", "export_records", "guard", "seal", "seal_committed",
           "verify_chain", "verify_database"]

log = logging.getLogger(__name__)

CHINA = ZoneInfo("Asia/Shanghai")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
#: Set in ``Connection.info`` by :func:`append`; ``expro.db.transaction()`` seals after the commit.
UNSEALED = "expro_audit_unsealed"


class AuditError(SupervisionError, ValueError):
    """An audit event or request is malformed (message safe to show)."""


def _default(value: object) -> object:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"not JSON-serialisable in an audit event: {type(value).__name__}")


def canonical_bytes(event: dict) -> bytes:
    """The canonical UTF-8 JSON of an event: sorted keys, no insignificant whitespace."""
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_default).encode("utf-8")


def _utc_iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _attachments(attachments: list[dict] | None) -> list[dict]:
    if attachments is None:
        return []
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise AuditError("附件必须是对象列表 / attachments must be a list of objects")
    for item in attachments:
        digest = item.get("sha256")
        if digest is not None and not (isinstance(digest, str) and _SHA256_HEX.fullmatch(digest)):
            raise AuditError("附件的 sha256 必须是 64 位小写十六进制 / an attachment's sha256 must be 64 lowercase hex digits")
    return attachments


def append(conn: Connection, *, actor: str, action: str, object_type: str | None = None,
           object_key: str | None = None, details: dict | None = None, opinion: str | None = None,
           result: str | None = None, attachments: list[dict] | None = None) -> int:
    """Append one event in ``conn``'s transaction (no lock, never waits); returns its seq.

    The canonical bytes carry ``seq`` and ``recorded_at`` too, so neither can be changed unnoticed.
    ``attachments`` are objects such as ``{"name": ..., "sha256": ...}``. The event is chained by the next
    :func:`seal` after the transaction commits.
    """
    if not actor or not action:
        raise AuditError("审计事件需要操作人和动作 / an audit event needs an actor and an action")
    seq, recorded_at = conn.execute(text("SELECT nextval('audit_event_seq'), clock_timestamp()")).one()
    event = {"v": 2, "seq": seq, "recorded_at": _utc_iso(recorded_at), "actor": actor, "action": action,
             "object_type": object_type, "object_key": object_key, "details": details or {},
             "opinion": opinion, "result": result, "attachments": _attachments(attachments)}
    conn.execute(text(
        "INSERT INTO audit_event (seq, recorded_at, actor, action, object_type, object_key, event_bytes) "
        "VALUES (:seq, :at, :actor, :action, :otype, :okey, :bytes)"),
        {"seq": seq, "at": recorded_at, "actor": actor, "action": action, "otype": object_type,
         "okey": object_key, "bytes": canonical_bytes(event)})
    conn.info[UNSEALED] = True
    return int(seq)


def seal(conn: Connection, *, wait: bool = True) -> int:
    """Chain every committed, unchained event; returns how many. Run it in a short transaction of its own.

    ``wait=False`` returns 0 at once when another seal is running (it will be chained by the next one).
    Safe to call concurrently; the lock is held to the end of ``conn``'s transaction.
    """
    return int(conn.execute(text("SELECT audit_seal(:wait)"), {"wait": wait}).scalar_one())


def seal_committed(engine: Engine) -> int:
    """After a commit: seal in a transaction of its own, without waiting; a failure is logged, not raised."""
    try:
        with engine.begin() as conn:
            return seal(conn, wait=False)
    except DBAPIError as exc:
        log.warning("audit seal after commit failed (the next seal chains the events): %s", exc.orig)
        return 0


def cli_actor(user: str | None = None) -> str:
    """The actor of a command-line act: the ``--user`` given, else ``cli:<OS user>``."""
    if user:
        return user
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = str(os.getuid())
    return f"cli:{name}"


_RECORDS_SQL = """
SELECT c.pos, c.seq, c.prev_hash, c.hash, e.recorded_at, e.actor, e.action, e.object_type, e.object_key,
       e.event_bytes, e.hash AS legacy_hash
FROM audit_chain c LEFT JOIN audit_event e ON e.seq = c.seq
WHERE c.pos > :after ORDER BY c.pos LIMIT :batch
"""


def _records(conn: Connection, batch: int = 5000) -> Iterator[tuple[Record | None, int, int, bytes | None]]:
    """``(record or None when its event row is gone, pos, seq, legacy hash)`` in pos order, in batches."""
    after = 0
    while True:
        rows = conn.execute(text(_RECORDS_SQL), {"after": after, "batch": batch}).all()
        for r in rows:
            if r.event_bytes is None:
                yield None, r.pos, r.seq, None
                continue
            yield (Record(pos=r.pos, seq=r.seq, recorded_at=_utc_iso(r.recorded_at), actor=r.actor,
                          action=r.action, object_type=r.object_type, object_key=r.object_key,
                          event_bytes=bytes(r.event_bytes), prev_hash=bytes(r.prev_hash), hash=bytes(r.hash)),
                   r.pos, r.seq, None if r.legacy_hash is None else bytes(r.legacy_hash))
        if len(rows) < batch:
            return
        after = rows[-1].pos


def export_records(conn: Connection) -> Iterator[Record]:
    """Every chained event in pos order, as the export writes them (AuditError if an event row is gone)."""
    for rec, pos, seq, _legacy in _records(conn):
        if rec is None:
            raise AuditError(f"审计链 pos {pos} 的事件 seq {seq} 已不存在 / the event of pos {pos} (seq {seq}) "
                             "is missing: run expro audit verify")
        yield rec


@dataclass(frozen=True)
class Checkpoint:
    """A daily checkpoint: the chain up to ``pos`` (last ``seq``, ``hash``) at the end of ``day`` in China."""

    day: dt.date
    pos: int
    seq: int | None
    hash: bytes
    events: int
    created_by: str
    created_at: dt.datetime


@dataclass
class Report:
    """The outcome of :func:`verify_database`."""

    summary: audit_verify.Summary
    breaks: list[Break] = field(default_factory=list)
    pending: int = 0                 # committed after the seal, chained by the next one
    checkpoints: int = 0

    @property
    def intact(self) -> bool:
        """True when nothing is broken."""
        return not self.breaks


def _rows_for_verifier(conn: Connection, report_breaks: list[Break]) -> Iterable[tuple[int, Record]]:
    for rec, pos, seq, legacy in _records(conn):
        if rec is None:
            report_breaks.append(Break(0, pos, seq, "事件行已被删除 / the event row was deleted"))
            continue
        if legacy is not None and legacy != rec.hash:
            report_breaks.append(Break(0, pos, seq, "第一轮的 hash 列与审计链不符 / round 1's hash column "
                                                    "differs from the chain"))
        yield 0, rec


def verify_database(conn: Connection) -> Report:
    """Recompute the whole chain, look for unchained rows and re-check the stored checkpoints.

    Run :func:`seal` first (in its own transaction) and this in a REPEATABLE READ transaction.
    """
    extra: list[Break] = []
    summary = audit_verify.verify_records(_rows_for_verifier(conn, extra))
    breaks = sorted(summary.breaks + extra, key=lambda b: b.pos)
    pending = conn.execute(text("SELECT count(*) FROM audit_pending")).scalar_one()
    for seq in conn.execute(text(
            "SELECT e.seq FROM audit_event e WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = e.seq) "
            "AND NOT EXISTS (SELECT 1 FROM audit_pending p WHERE p.seq = e.seq) ORDER BY e.seq")).scalars():
        breaks.append(Break(0, 0, seq, "事件不在审计链中 / the event is not in the chain (its pending mark was removed)"))
    checkpoints = conn.execute(text("SELECT day, pos, seq, hash FROM audit_checkpoint ORDER BY day")).all()
    for day, pos, seq, digest in checkpoints:
        problem = audit_verify.checkpoint_problem(summary, pos, bytes(digest).hex())
        chained_seq = conn.execute(text("SELECT seq FROM audit_chain WHERE pos = :p"), {"p": pos}).scalar()
        if problem is None and pos > 0 and chained_seq != seq:
            problem = f"校验点 {day} 的 seq 不符 / checkpoint {day} seq differs: {seq} vs {chained_seq}"
        if problem:
            breaks.append(Break(0, pos, seq or 0, f"校验点 {day} / checkpoint {day}: {problem}"))
    return Report(summary=summary, breaks=breaks, pending=pending, checkpoints=len(checkpoints))


def verify_chain(rows: Iterable[tuple[int, bytes, bytes, bytes]]) -> list[ChainBreak]:
    """Recompute the hashes of ``(seq, event_bytes, prev_hash, hash)`` rows in chain order (round 1's API)."""
    breaks: list[ChainBreak] = []
    previous = GENESIS_HASH
    for seq, event_bytes, prev_hash, stored in rows:
        if bytes(prev_hash) != previous:
            breaks.append(ChainBreak(seq, "prev_hash does not match the previous row's hash"))
        if hashlib.sha256(bytes(prev_hash) + bytes(event_bytes)).digest() != bytes(stored):
            breaks.append(ChainBreak(seq, "hash does not match sha256(prev_hash || event_bytes)"))
        previous = bytes(stored)
    return breaks


@dataclass(frozen=True)
class ChainBreak:
    """Where a recomputed audit chain disagrees with the stored one (round 1's API)."""

    seq: int
    reason: str


def _end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=CHINA)


def checkpoint(conn: Connection, day: dt.date, *, created_by: str, today: dt.date) -> tuple[Checkpoint, bool]:
    """The checkpoint of ``day`` (a day in China that has ended), stored once; returns it and whether it is new.

    It is the chain prefix up to the last position whose event was recorded before the end of ``day``
    (Asia/Shanghai). Call :func:`seal` first.
    """
    if day >= today:
        raise AuditError(f"{day} 尚未结束（北京时间）/ {day} has not ended yet in China time: "
                         "a checkpoint is taken for a past day")
    found = conn.execute(text("SELECT day, pos, seq, hash, events, created_by, created_at FROM audit_checkpoint "
                              "WHERE day = :d"), {"d": day}).one_or_none()
    if found is not None:
        return Checkpoint(found.day, found.pos, found.seq, bytes(found.hash), found.events, found.created_by,
                          found.created_at), False
    row = conn.execute(text(
        "SELECT c.pos, c.seq, c.hash FROM audit_chain c JOIN audit_event e ON e.seq = c.seq "
        "WHERE e.recorded_at < :end ORDER BY c.pos DESC LIMIT 1"), {"end": _end_of_day(day)}).one_or_none()
    pos, seq, digest = (row.pos, row.seq, bytes(row.hash)) if row else (0, None, GENESIS_HASH)
    stored = conn.execute(text(
        "INSERT INTO audit_checkpoint (day, pos, seq, hash, events, created_by) "
        "VALUES (:d, :p, :s, :h, :n, :by) RETURNING created_at"),
        {"d": day, "p": pos, "s": seq, "h": digest, "n": pos, "by": created_by}).scalar_one()
    append(conn, actor=created_by, action="audit.checkpoint", object_type="audit_checkpoint",
           object_key=day.isoformat(), details={"pos": pos, "seq": seq, "hash": digest.hex()})
    return Checkpoint(day, pos, seq, digest, pos, created_by, stored), True


def guard(conn: Connection) -> tuple[bool, str]:
    """Whether this connection is held to SELECT/INSERT on the audit tables, and a bilingual sentence saying so."""
    row = conn.execute(text(
        "SELECT current_user AS who, r.rolsuper AS su, "
        "has_table_privilege(current_user, 'audit_event', 'UPDATE') AS can_update, "
        "has_table_privilege(current_user, 'audit_event', 'DELETE') AS can_delete, "
        "pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'audit_event'::regclass), 'USAGE') "
        "AS owner FROM pg_roles r WHERE r.rolname = current_user")).one()
    if not (row.su or row.can_update or row.can_delete or row.owner):
        return True, (f"数据库角色 {row.who} 对审计表只有查询和插入权限 / database role {row.who} may only "
                      "SELECT and INSERT the audit tables")
    return False, (f"注意：数据库角色 {row.who} 拥有审计表或是超级用户，只有触发器阻止修改 / note: database role "
                   f"{row.who} owns the audit tables or is a superuser: only the triggers refuse changes "
                   "(run the migration as a user who may create roles to get the expro_app role)")
