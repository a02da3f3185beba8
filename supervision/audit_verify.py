"""Standalone verifier of an audit export: ``python -m supervision.audit_verify FILE.jsonl``.

Uses only the Python standard library, so an inspector can run it on any machine with Python 3.
Exit 0 when the chain is intact (a summary is printed), 1 naming the first bad line and seq and why,
2 when the input cannot be read (with the line number). ``--checkpoint POS:HASH`` also checks the
export against a printed daily checkpoint. The database's ``expro audit verify`` runs the same checks.

Each line of the export is one JSON object: ``pos``, ``seq``, ``recorded_at`` (ISO 8601), ``actor``,
``action``, ``object_type``, ``object_key``, ``event_bytes`` (base64 of the exact canonical bytes),
``prev_hash`` and ``hash`` (hex); ``hash = sha256(prev_hash || event_bytes)``, ``prev_hash`` of
``pos`` 1 is 32 zero bytes, and ``pos`` runs 1, 2, 3 ... without a gap.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

GENESIS_HASH = bytes(32)

#: Columns of the export that the event bytes themselves also carry (so they cannot be changed alone).
MIRRORED = ("actor", "action", "object_type", "object_key")


class ExportReadError(ValueError):
    """A line of an export cannot be read (not JSON, a field missing or of the wrong type)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"第 {line} 行无法读取 / line {line} unreadable: {message}")
        self.line = line


@dataclass(frozen=True)
class Record:
    """One chained audit event as exported."""

    pos: int
    seq: int
    recorded_at: str
    actor: str
    action: str
    object_type: str | None
    object_key: str | None
    event_bytes: bytes
    prev_hash: bytes
    hash: bytes

    def to_json(self) -> str:
        """The export line of this record (without the newline)."""
        return json.dumps({"pos": self.pos, "seq": self.seq, "recorded_at": self.recorded_at,
                           "actor": self.actor, "action": self.action, "object_type": self.object_type,
                           "object_key": self.object_key,
                           "event_bytes": base64.b64encode(self.event_bytes).decode("ascii"),
                           "prev_hash": self.prev_hash.hex(), "hash": self.hash.hex()},
                          ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Break:
    """Where the chain is broken: the line (1-based, 0 when not from a file), pos, seq and why."""

    line: int
    pos: int
    seq: int
    reason: str

    def render(self) -> str:
        """One line naming the row and the reason."""
        where = f"第 {self.line} 行 / line {self.line}, " if self.line else ""
        return f"{where}pos {self.pos}, seq {self.seq}: {self.reason}"


@dataclass
class Summary:
    """The outcome of a verification."""

    count: int = 0
    last_pos: int = 0
    last_seq: int | None = None
    last_hash: bytes = GENESIS_HASH
    breaks: list[Break] = field(default_factory=list)
    hashes: dict[int, bytes] = field(default_factory=dict)   # pos -> hash, for checkpoints

    @property
    def intact(self) -> bool:
        """True when nothing is broken."""
        return not self.breaks


def canonical(event: object) -> bytes:
    """The canonical UTF-8 JSON of a decoded event: sorted keys, no insignificant whitespace."""
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _same_instant(a: str, b: str) -> bool:
    try:
        return dt.datetime.fromisoformat(a) == dt.datetime.fromisoformat(b)
    except (TypeError, ValueError):
        return False


def record_problem(rec: Record, previous_pos: int, previous_hash: bytes) -> str | None:
    """Why ``rec`` does not follow ``(previous_pos, previous_hash)`` or does not match its own bytes; None if fine."""
    if rec.pos != previous_pos + 1:
        return (f"位置不连续 / position gap: expected pos {previous_pos + 1}, found {rec.pos} "
                "(a row was removed or inserted)")
    if rec.prev_hash != previous_hash:
        return "prev_hash 与上一行的 hash 不符 / prev_hash does not match the previous row's hash"
    if hashlib.sha256(rec.prev_hash + rec.event_bytes).digest() != rec.hash:
        return ("hash 与 sha256(prev_hash || event_bytes) 不符，事件内容被改动 / "
                "hash does not match sha256(prev_hash || event_bytes): the event was changed")
    try:
        event = json.loads(rec.event_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "事件字节不是 UTF-8 JSON / event bytes are not UTF-8 JSON"
    if not isinstance(event, dict) or canonical(event) != rec.event_bytes:
        return "事件字节不是规范 JSON / event bytes are not canonical JSON"
    for name in MIRRORED:
        if event.get(name) != getattr(rec, name):
            return f"{name} 与事件字节不符 / {name} differs from the event bytes"
    if "seq" in event and event["seq"] != rec.seq:
        return "seq 与事件字节不符 / seq differs from the event bytes"
    if "recorded_at" in event and not _same_instant(event["recorded_at"], rec.recorded_at):
        return "recorded_at 与事件字节不符 / recorded_at differs from the event bytes"
    return None


def verify_records(records: Iterable[tuple[int, Record]]) -> Summary:
    """Recompute the chain over ``(line, record)`` pairs in pos order; every break is listed."""
    summary = Summary()
    seen: set[int] = set()
    for line, rec in records:
        problem = record_problem(rec, summary.last_pos, summary.last_hash)
        if problem is None and rec.seq in seen:
            problem = "seq 重复 / seq appears twice"
        if problem is not None:
            summary.breaks.append(Break(line, rec.pos, rec.seq, problem))
        seen.add(rec.seq)
        summary.count += 1
        summary.last_pos, summary.last_seq, summary.last_hash = rec.pos, rec.seq, rec.hash
        summary.hashes[rec.pos] = rec.hash
    return summary


def checkpoint_problem(summary: Summary, pos: int, hash_hex: str) -> str | None:
    """Why the verified chain does not contain the checkpoint ``pos:hash``; None when it does."""
    found = GENESIS_HASH if pos == 0 else summary.hashes.get(pos)
    if found is None:
        return f"校验点位置 {pos} 不在导出中 / checkpoint position {pos} is not in the export"
    if found.hex() != hash_hex.lower():
        return (f"校验点 {pos} 的哈希不符 / checkpoint {pos} hash differs: "
                f"printed {hash_hex.lower()}, chain {found.hex()}")
    return None


def _field(obj: dict, name: str, kinds: tuple[type, ...], line: int, *, optional: bool = False) -> object:
    value = obj.get(name)
    if value is None and optional and name in obj:
        return None
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise ExportReadError(line, f"字段 {name} 缺失或类型错误 / field {name} missing or of the wrong type")
    return value


def _bytes(obj: dict, name: str, line: int, *, b64: bool) -> bytes:
    text = str(_field(obj, name, (str,), line))
    try:
        return base64.b64decode(text, validate=True) if b64 else bytes.fromhex(text)
    except (binascii.Error, ValueError):
        raise ExportReadError(line, f"字段 {name} 编码错误 / field {name} is not valid "
                                    f"{'base64' if b64 else 'hex'}") from None


def parse_line(text: str, line: int) -> Record:
    """One export line as a Record (ExportReadError naming the line otherwise)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportReadError(line, f"不是 JSON / not JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ExportReadError(line, "不是 JSON 对象 / not a JSON object")
    return Record(pos=int(_field(obj, "pos", (int,), line)),  # type: ignore[call-overload]
                  seq=int(_field(obj, "seq", (int,), line)),  # type: ignore[call-overload]
                  recorded_at=str(_field(obj, "recorded_at", (str,), line)),
                  actor=str(_field(obj, "actor", (str,), line)),
                  action=str(_field(obj, "action", (str,), line)),
                  object_type=_field(obj, "object_type", (str,), line, optional=True),  # type: ignore[arg-type]
                  object_key=_field(obj, "object_key", (str,), line, optional=True),  # type: ignore[arg-type]
                  event_bytes=_bytes(obj, "event_bytes", line, b64=True),
                  prev_hash=_bytes(obj, "prev_hash", line, b64=False),
                  hash=_bytes(obj, "hash", line, b64=False))


def read_export(lines: Iterable[str]) -> Iterator[tuple[int, Record]]:
    """``(line number, Record)`` for every non-empty line of an export."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield number, parse_line(text, number)


def main(argv: list[str] | None = None) -> int:
    """The command line: verify an export; 0 intact, 1 broken, 2 unreadable."""
    parser = argparse.ArgumentParser(prog="python -m supervision.audit_verify",
                                     description="核验审计日志导出 / verify an Expro audit export (JSONL)")
    parser.add_argument("file", help="expro audit export 的输出 / the output of expro audit export")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="POS:HASH",
                        help="打印的每日校验点 / a printed daily checkpoint (repeatable)")
    args = parser.parse_args(argv)
    checkpoints: list[tuple[int, str]] = []
    for given in args.checkpoint:
        pos_text, _, hash_hex = given.partition(":")
        if not pos_text.isdigit() or len(hash_hex) != 64:
            print(f"校验点格式错误 / bad checkpoint {given!r}: expected POS:HASH (64 hex digits)", file=sys.stderr)
            return 2
        checkpoints.append((int(pos_text), hash_hex))
    try:
        with open(args.file, encoding="utf-8") as handle:
            summary = verify_records(read_export(handle))
    except ExportReadError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"文件不是 UTF-8 / the file is not UTF-8: {exc.reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"无法打开 / cannot open {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    problems = [b.render() for b in summary.breaks]
    problems += [p for p in (checkpoint_problem(summary, pos, h) for pos, h in checkpoints) if p]
    if problems:
        print(f"审计链已损坏 / audit chain BROKEN: {len(problems)} 处问题 / problem(s); 第一处 / first: "
              f"{problems[0]}")
        for other in problems[1:]:
            print(f"  {other}")
        return 1
    print(f"审计链完整 / audit chain intact: {summary.count} 条事件 / events, 最后 / last pos {summary.last_pos}, "
          f"seq {summary.last_seq}, hash {summary.last_hash.hex()}")
    for pos, h in checkpoints:
        print(f"校验点相符 / checkpoint matches: pos {pos} hash {h.lower()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
