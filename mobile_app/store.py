"""The tablet's offline store: one SQLite file (WAL, ``synchronous=FULL``) and a folder of capture files.

It keeps the signed-in session, the cached cases with their stages and archive items, every capture (its
client UUID, SHA-256, time and position at capture) with its upload state kept apart from its record,
the queued quantity records and stage submissions, and a log of sync attempts. Every write is one
transaction. A capture's file is copied to a temporary name, fsynced and renamed (and its folder fsynced)
before its row commits; on opening, temporary files and files without a row are removed, so a kill at any
moment leaves either nothing or a complete capture.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobile_app.errors import StoreError

#: Upload states of a capture (kept apart from the capture's record).
UPLOAD_STATES = ("pending", "uploading", "uploaded", "refused")
#: States of a queued stage submission or quantity record.
QUEUE_STATES = ("queued", "sent", "refused")
_COPY_CHUNK = 1 << 20

SCHEMA = """
CREATE TABLE IF NOT EXISTS session (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    server_url TEXT NOT NULL, username TEXT NOT NULL, token TEXT NOT NULL,
    expires_at REAL NOT NULL, signed_in_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS case_cache (
    project_code TEXT NOT NULL, household_no TEXT NOT NULL, case_type TEXT NOT NULL, state TEXT NOT NULL,
    current_stage TEXT, accuracy_limit_m REAL NOT NULL, assigned INTEGER NOT NULL DEFAULT 1,
    detail TEXT NOT NULL, pulled_ns INTEGER NOT NULL,
    PRIMARY KEY (project_code, household_no));
CREATE TABLE IF NOT EXISTS stage_cache (
    project_code TEXT NOT NULL, household_no TEXT NOT NULL, code TEXT NOT NULL, position INTEGER NOT NULL,
    name_zh TEXT NOT NULL, state TEXT NOT NULL, assignee TEXT, due_on TEXT, overdue INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_code, household_no, code));
CREATE TABLE IF NOT EXISTS item_cache (
    project_code TEXT NOT NULL, household_no TEXT NOT NULL, stage_code TEXT NOT NULL, code TEXT NOT NULL,
    position INTEGER NOT NULL, name_zh TEXT NOT NULL, kind TEXT NOT NULL, mandatory INTEGER NOT NULL,
    min_count INTEGER NOT NULL, server_count INTEGER NOT NULL,
    PRIMARY KEY (project_code, household_no, stage_code, code));
CREATE TABLE IF NOT EXISTS capture (
    capture_uuid TEXT PRIMARY KEY, project_code TEXT NOT NULL, household_no TEXT NOT NULL,
    stage_code TEXT NOT NULL, item_code TEXT NOT NULL, kind TEXT NOT NULL, file_name TEXT NOT NULL,
    rel_path TEXT NOT NULL UNIQUE, media_type TEXT, size_bytes INTEGER NOT NULL, sha256 TEXT NOT NULL,
    taken_at TEXT NOT NULL, lon REAL, lat REAL, accuracy_m REAL, document_no TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS upload (
    capture_uuid TEXT PRIMARY KEY REFERENCES capture (capture_uuid),
    state TEXT NOT NULL CHECK (state IN ('pending', 'uploading', 'uploaded', 'refused')),
    server_offset INTEGER NOT NULL DEFAULT 0, upload_url TEXT, reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL, uploaded_ns INTEGER);
CREATE TABLE IF NOT EXISTS submission (
    project_code TEXT NOT NULL, household_no TEXT NOT NULL, stage_code TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'refused')),
    missing TEXT, reason TEXT, queued_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (project_code, household_no, stage_code));
CREATE TABLE IF NOT EXISTS quantity (
    project_code TEXT NOT NULL, household_no TEXT NOT NULL, lines TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'refused')),
    reason TEXT, prompts TEXT, queued_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (project_code, household_no));
CREATE TABLE IF NOT EXISTS sync_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL, ended_at REAL,
    outcome TEXT NOT NULL, detail TEXT);
"""


@dataclass(frozen=True)
class Session:
    """The signed-in session kept for offline use until its token expires."""

    server_url: str
    username: str
    token: str
    expires_at: float

    @property
    def expired(self) -> bool:
        """True once the token's expiry has passed."""
        return time.time() >= self.expires_at


@dataclass(frozen=True)
class Item:
    """An archive item of a cached stage, with the count the device knows of."""

    stage_code: str
    code: str
    name_zh: str
    kind: str
    mandatory: bool
    min_count: int
    server_count: int
    count: int                 # server_count + local captures the server had not counted at the last pull


@dataclass(frozen=True)
class Stage:
    """A cached stage of a case."""

    code: str
    position: int
    name_zh: str
    state: str
    assignee: str | None
    due_on: str | None
    overdue: bool


@dataclass(frozen=True)
class CaseView:
    """A cached case with its stages in order and its project's accuracy limit."""

    project_code: str
    household_no: str
    case_type: str
    state: str
    current_stage: str | None
    accuracy_limit_m: float
    assigned: bool
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class CaptureRecord:
    """A capture with its upload state."""

    capture_uuid: str
    project_code: str
    household_no: str
    stage_code: str
    item_code: str
    kind: str
    file_name: str
    path: Path
    media_type: str | None
    size_bytes: int
    sha256: str
    taken_at: str
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    document_no: str | None
    state: str
    server_offset: int
    upload_url: str | None
    reason: str | None
    attempts: int


@dataclass(frozen=True)
class Queued:
    """A queued stage submission or quantity record and how it stands."""

    project_code: str
    household_no: str
    stage_code: str | None
    state: str
    missing: list[str]
    reason: str | None
    lines: list[dict] | None = None


@dataclass(frozen=True)
class QuantityRecord:
    """A case's queued quantity record, how it stands, and the prompts the server's check returned on it."""

    project_code: str
    household_no: str
    lines: list[dict]
    state: str
    reason: str | None
    prompts: list[dict]
    updated_at: float


@contextlib.contextmanager
def _file_lock(path: Path, *, exclusive: bool) -> Iterator[bool]:
    """Hold a shared (capture writes) or exclusive, non-blocking (recovery) lock; yields whether it is held."""
    try:
        import fcntl
    except ImportError:                         # not POSIX: one process per store
        yield True
        return
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """The offline store in ``data_dir`` (``expro.sqlite3`` and ``captures/``); use as a context manager."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.files_dir = self.data_dir / "captures"
        self.tmp_dir = self.files_dir / ".tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.lock_path = self.data_dir / "captures.lock"
        self.db = sqlite3.connect(self.data_dir / "expro.sqlite3", isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        with self.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        self.recover()

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT, rolled back on any error)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def recover(self) -> int:
        """Remove what a kill left half done: temporary files, and capture files no row names; how many.

        Skipped (0) while another Store of the same folder is writing a capture."""
        with _file_lock(self.lock_path, exclusive=True) as held:
            return self._recover() if held else 0

    def _recover(self) -> int:
        removed = 0
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        known = {r[0] for r in self.db.execute("SELECT rel_path FROM capture")}
        for path in self.files_dir.iterdir():
            if path.is_file() and path.relative_to(self.data_dir).as_posix() not in known:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # --- session ---------------------------------------------------------------------------------------------

    def save_session(self, server_url: str, username: str, token: str, expires_at: float) -> None:
        """Keep the signed-in session (replacing the previous one)."""
        with self.transaction() as db:
            db.execute("INSERT INTO session (id, server_url, username, token, expires_at, signed_in_at) "
                       "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET server_url = excluded.server_url, "
                       "username = excluded.username, token = excluded.token, expires_at = excluded.expires_at, "
                       "signed_in_at = excluded.signed_in_at",
                       (server_url.rstrip("/"), username, token, expires_at, time.time()))

    def set_server_url(self, server_url: str) -> None:
        """Point the session at another server address (the same account)."""
        with self.transaction() as db:
            db.execute("UPDATE session SET server_url = ?", (server_url.rstrip("/"),))

    def session(self) -> Session | None:
        """The signed-in session, or None."""
        row = self.db.execute("SELECT server_url, username, token, expires_at FROM session").fetchone()
        return None if row is None else Session(row[0], row[1], row[2], float(row[3]))

    def sign_out(self) -> None:
        """Forget the session (captures and queues stay)."""
        with self.transaction() as db:
            db.execute("DELETE FROM session")

    # --- cached cases ----------------------------------------------------------------------------------------

    def save_case(self, detail: dict[str, Any]) -> None:
        """Cache a case as ``GET /projects/{code}/cases/{household_no}`` returns it (its stages and items)."""
        project, hh = detail["project_code"], detail["household_no"]
        with self.transaction() as db:
            db.execute("INSERT INTO case_cache (project_code, household_no, case_type, state, current_stage, "
                       "accuracy_limit_m, assigned, detail, pulled_ns) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) "
                       "ON CONFLICT (project_code, household_no) DO UPDATE SET case_type = excluded.case_type, "
                       "state = excluded.state, current_stage = excluded.current_stage, "
                       "accuracy_limit_m = excluded.accuracy_limit_m, assigned = 1, detail = excluded.detail, "
                       "pulled_ns = excluded.pulled_ns",
                       (project, hh, detail["case_type"], detail["state"], detail.get("current_stage"),
                        float(detail["accuracy_limit_m"]), json.dumps(detail, ensure_ascii=False, default=str),
                        time.time_ns()))
            db.execute("DELETE FROM stage_cache WHERE project_code = ? AND household_no = ?", (project, hh))
            db.execute("DELETE FROM item_cache WHERE project_code = ? AND household_no = ?", (project, hh))
            for s in detail["stages"]:
                db.execute("INSERT INTO stage_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (project, hh, s["code"], s["position"], s["name_zh"], s["state"], s.get("assignee"),
                            s.get("due_on"), int(bool(s.get("overdue")))))
                for n, i in enumerate(s["items"]):
                    db.execute("INSERT INTO item_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (project, hh, s["code"], i["code"], n, i["name_zh"], i["kind"], int(i["mandatory"]),
                                int(i["min_count"]), int(i["count"])))

    def mark_unassigned(self, project_code: str, keep: set[str]) -> None:
        """Mark the project's cached cases not in ``keep`` as no longer assigned (their captures stay)."""
        with self.transaction() as db:
            for (hh,) in db.execute("SELECT household_no FROM case_cache WHERE project_code = ?",
                                    (project_code,)).fetchall():
                if hh not in keep:
                    db.execute("UPDATE case_cache SET assigned = 0 WHERE project_code = ? AND household_no = ?",
                               (project_code, hh))

    def cases(self) -> list[CaseView]:
        """Every cached case, assigned first."""
        rows = self.db.execute("SELECT project_code, household_no FROM case_cache "
                               "ORDER BY assigned DESC, project_code, household_no").fetchall()
        return [self.case(r[0], r[1]) for r in rows]

    def case(self, project_code: str, household_no: str) -> CaseView:
        """A cached case (StoreError when it was never pulled)."""
        row = self.db.execute("SELECT * FROM case_cache WHERE project_code = ? AND household_no = ?",
                              (project_code, household_no)).fetchone()
        if row is None:
            raise StoreError(f"本机没有案件 {project_code}/{household_no}，请先同步 / the case {project_code}/"
                             f"{household_no} is not on this device: sync first")
        stages = tuple(Stage(s["code"], s["position"], s["name_zh"], s["state"], s["assignee"], s["due_on"],
                             bool(s["overdue"]))
                       for s in self.db.execute("SELECT * FROM stage_cache WHERE project_code = ? AND "
                                                "household_no = ? ORDER BY position", (project_code, household_no)))
        return CaseView(project_code, household_no, row["case_type"], row["state"], row["current_stage"],
                        float(row["accuracy_limit_m"]), bool(row["assigned"]), stages)

    def items(self, project_code: str, household_no: str, stage_code: str) -> list[Item]:
        """The stage's archive items with the count the device knows of (the server's at the last pull plus
        the local captures, not refused, that the server had not counted then)."""
        rows = self.db.execute("""
            SELECT i.stage_code, i.code, i.name_zh, i.kind, i.mandatory, i.min_count, i.server_count,
                   (SELECT count(*) FROM capture c JOIN upload u USING (capture_uuid)
                     WHERE c.project_code = i.project_code AND c.household_no = i.household_no
                       AND c.stage_code = i.stage_code AND c.item_code = i.code
                       AND (u.state IN ('pending', 'uploading')
                            OR (u.state = 'uploaded' AND u.uploaded_ns > cc.pulled_ns))) AS unseen
              FROM item_cache i JOIN case_cache cc USING (project_code, household_no)
             WHERE i.project_code = ? AND i.household_no = ? AND i.stage_code = ?
             ORDER BY i.position""", (project_code, household_no, stage_code)).fetchall()
        return [Item(r[0], r[1], r[2], r[3], bool(r[4]), int(r[5]), int(r[6]), int(r[6]) + int(r[7])) for r in rows]

    # --- captures --------------------------------------------------------------------------------------------

    def add_capture(self, source: str | Path, *, project_code: str, household_no: str, stage_code: str,
                    item_code: str, kind: str, taken_at: dt.datetime | str | None = None, lon: float | None = None,
                    lat: float | None = None, accuracy_m: float | None = None, document_no: str | None = None,
                    media_type: str | None = None, capture_uuid: str | None = None,
                    suffix: str = "") -> CaptureRecord:
        """Copy ``source`` into the store and record the capture, ``pending`` upload (crash-safe: see module)."""
        cid = str(uuid.UUID(capture_uuid) if capture_uuid else uuid.uuid4())
        when = taken_at or dt.datetime.now(dt.timezone.utc).astimezone()
        taken = when.isoformat() if isinstance(when, dt.datetime) else str(when)
        source = Path(source)
        tmp = self.tmp_dir / f"{cid}.part"
        target = self.files_dir / f"{cid}{suffix}"
        with _file_lock(self.lock_path, exclusive=False):
            digest = hashlib.sha256()
            size = 0
            with open(source, "rb") as src, open(tmp, "wb") as out:
                while block := src.read(_COPY_CHUNK):
                    out.write(block)
                    digest.update(block)
                    size += len(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            _fsync_dir(self.files_dir)
            now = time.time()
            try:
                with self.transaction() as db:
                    db.execute("INSERT INTO capture (capture_uuid, project_code, household_no, stage_code, item_code, "
                               "kind, file_name, rel_path, media_type, size_bytes, sha256, taken_at, lon, lat, "
                               "accuracy_m, document_no, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                               "?, ?, ?)",
                               (cid, project_code, household_no, stage_code, item_code, kind, source.name,
                                target.relative_to(self.data_dir).as_posix(), media_type, size, digest.hexdigest(),
                                taken, lon, lat, accuracy_m, document_no, now))
                    db.execute("INSERT INTO upload (capture_uuid, state, updated_at) VALUES (?, 'pending', ?)",
                               (cid, now))
            except BaseException:
                target.unlink(missing_ok=True)
                raise
        return self.capture(cid)

    def capture(self, capture_uuid: str) -> CaptureRecord:
        """A capture with its upload state."""
        row = self.db.execute("SELECT * FROM capture JOIN upload USING (capture_uuid) WHERE capture_uuid = ?",
                              (capture_uuid,)).fetchone()
        if row is None:
            raise StoreError(f"本机没有采集 {capture_uuid} / no capture {capture_uuid} on this device")
        return self._capture(row)

    def _capture(self, row: sqlite3.Row) -> CaptureRecord:
        return CaptureRecord(row["capture_uuid"], row["project_code"], row["household_no"], row["stage_code"],
                             row["item_code"], row["kind"], row["file_name"], self.data_dir / row["rel_path"],
                             row["media_type"], row["size_bytes"], row["sha256"], row["taken_at"], row["lon"],
                             row["lat"], row["accuracy_m"], row["document_no"], row["state"], row["server_offset"],
                             row["upload_url"], row["reason"], row["attempts"])

    def captures(self, *, states: tuple[str, ...] = UPLOAD_STATES, project_code: str | None = None,
                 household_no: str | None = None, stage_code: str | None = None) -> list[CaptureRecord]:
        """Captures in the given upload states, oldest first, optionally of one case or stage."""
        sql = ("SELECT * FROM capture JOIN upload USING (capture_uuid) WHERE state IN (%s)"
               % ",".join("?" * len(states)))
        args: list[Any] = list(states)
        for column, value in (("project_code", project_code), ("household_no", household_no),
                              ("stage_code", stage_code)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        return [self._capture(r) for r in self.db.execute(sql + " ORDER BY created_at, capture_uuid", args)]

    def set_upload(self, capture_uuid: str, state: str, *, server_offset: int | None = None,
                   upload_url: str | None = None, reason: str | None = None, attempt: bool = False) -> None:
        """Record a capture's upload state (the capture's record is never touched)."""
        if state not in UPLOAD_STATES:
            raise StoreError(f"unknown upload state {state!r}")
        with self.transaction() as db:
            db.execute("UPDATE upload SET state = ?, server_offset = coalesce(?, server_offset), "
                       "upload_url = coalesce(?, upload_url), reason = ?, attempts = attempts + ?, updated_at = ?, "
                       "uploaded_ns = CASE WHEN ? = 'uploaded' THEN ? ELSE uploaded_ns END WHERE capture_uuid = ?",
                       (state, server_offset, upload_url, reason, int(attempt), time.time(), state, time.time_ns(),
                        capture_uuid))

    # --- queued submissions and quantity records ---------------------------------------------------------------

    def queue_submission(self, project_code: str, household_no: str, stage_code: str) -> None:
        """Queue the submission of a stage (again, if it was sent before and the stage reopened)."""
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO submission VALUES (?, ?, ?, 'queued', NULL, NULL, ?, ?) "
                       "ON CONFLICT (project_code, household_no, stage_code) DO UPDATE SET state = 'queued', "
                       "missing = NULL, reason = NULL, queued_at = excluded.queued_at, "
                       "updated_at = excluded.updated_at",
                       (project_code, household_no, stage_code, now, now))

    def set_submission(self, project_code: str, household_no: str, stage_code: str, state: str, *,
                       missing: list[str] | None = None, reason: str | None = None) -> None:
        """Record how a queued submission stands."""
        with self.transaction() as db:
            db.execute("UPDATE submission SET state = ?, missing = ?, reason = ?, updated_at = ? "
                       "WHERE project_code = ? AND household_no = ? AND stage_code = ?",
                       (state, json.dumps(missing) if missing else None, reason, time.time(), project_code,
                        household_no, stage_code))

    def submissions(self, *, states: tuple[str, ...] = QUEUE_STATES) -> list[Queued]:
        """Submissions in the given states, oldest first."""
        rows = self.db.execute("SELECT * FROM submission WHERE state IN (%s) ORDER BY queued_at"
                               % ",".join("?" * len(states)), states).fetchall()
        return [Queued(r["project_code"], r["household_no"], r["stage_code"], r["state"],
                       json.loads(r["missing"]) if r["missing"] else [], r["reason"]) for r in rows]

    def queue_quantities(self, project_code: str, household_no: str, lines: list[dict]) -> None:
        """Queue the case's whole quantity record (it replaces any queued one)."""
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO quantity VALUES (?, ?, ?, 'queued', NULL, NULL, ?, ?) "
                       "ON CONFLICT (project_code, household_no) DO UPDATE SET lines = excluded.lines, "
                       "state = 'queued', reason = NULL, prompts = NULL, queued_at = excluded.queued_at, "
                       "updated_at = excluded.updated_at",
                       (project_code, household_no, json.dumps(lines, ensure_ascii=False, default=str), now, now))

    def set_quantities(self, project_code: str, household_no: str, state: str, *, reason: str | None = None,
                       prompts: list[dict] | None = None) -> None:
        """Record how a queued quantity record stands (and the server's prompts on it)."""
        with self.transaction() as db:
            db.execute("UPDATE quantity SET state = ?, reason = ?, prompts = ?, updated_at = ? "
                       "WHERE project_code = ? AND household_no = ?",
                       (state, reason, json.dumps(prompts, ensure_ascii=False) if prompts is not None else None,
                        time.time(), project_code, household_no))

    def quantity_record(self, project_code: str, household_no: str) -> QuantityRecord | None:
        """The case's quantity record as last queued, how it stands and the server's prompts on it."""
        r = self.db.execute("SELECT * FROM quantity WHERE project_code = ? AND household_no = ?",
                            (project_code, household_no)).fetchone()
        if r is None:
            return None
        return QuantityRecord(r["project_code"], r["household_no"], json.loads(r["lines"]), r["state"], r["reason"],
                              json.loads(r["prompts"]) if r["prompts"] else [], float(r["updated_at"]))

    def quantities(self, *, states: tuple[str, ...] = QUEUE_STATES) -> list[Queued]:
        """Quantity records in the given states, oldest first."""
        rows = self.db.execute("SELECT * FROM quantity WHERE state IN (%s) ORDER BY queued_at"
                               % ",".join("?" * len(states)), states).fetchall()
        return [Queued(r["project_code"], r["household_no"], None, r["state"], [], r["reason"],
                       json.loads(r["lines"])) for r in rows]

    # --- the sync log ----------------------------------------------------------------------------------------

    def log_sync_start(self) -> int:
        """Open a sync attempt in the log; its id."""
        with self.transaction() as db:
            cur = db.execute("INSERT INTO sync_log (started_at, outcome) VALUES (?, 'running')", (time.time(),))
            return int(cur.lastrowid or 0)

    def log_sync_end(self, log_id: int, outcome: str, detail: dict[str, Any] | str | None = None) -> None:
        """Close a sync attempt with its outcome (``ok``, ``unreachable``, ``expired``, ``error``)."""
        text = detail if isinstance(detail, str) or detail is None else json.dumps(detail, ensure_ascii=False)
        with self.transaction() as db:
            db.execute("UPDATE sync_log SET ended_at = ?, outcome = ?, detail = ? WHERE id = ?",
                       (time.time(), outcome, text, log_id))

    def sync_log(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest sync attempts, newest first."""
        rows = self.db.execute("SELECT * FROM sync_log ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    def waiting(self) -> dict[str, int]:
        """What waits to be sent: captures per upload state, queued submissions and quantity records."""
        out = {s: 0 for s in UPLOAD_STATES}
        for state, n in self.db.execute("SELECT state, count(*) FROM upload GROUP BY state"):
            out[state] = int(n)
        out["submissions_queued"] = int(self.db.execute(
            "SELECT count(*) FROM submission WHERE state = 'queued'").fetchone()[0])
        out["quantities_queued"] = int(self.db.execute(
            "SELECT count(*) FROM quantity WHERE state = 'queued'").fetchone()[0])
        return out
