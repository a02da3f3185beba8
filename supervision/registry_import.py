"""City-scale registry extracts (户籍): streamed, validated in vectorised chunks, loaded with COPY.

All or nothing: every problem of every row is collected (file, row, column) and nothing is
written when there is one; otherwise the rows go in with COPY inside the caller's transaction.

A CSV is read by pyarrow's multi-threaded streaming reader, each block validated with the package
checks (vectorised; no per-row Python) and COPied on a worker thread while the next block is checked.
When the extract is at least as large as what ``registry_person`` already holds (a city-wide reload),
the table's foreign key (and, for a role that may create indexes in the schema, every index) is dropped
inside the import's savepoint and built again after the last row: one set-based check instead of a
foreign-key query per row, one sort per index instead of a B-tree insertion per row. The table is
locked for the import's duration then, and a rollback restores everything as it was.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlalchemy import Connection, text
from tqdm import tqdm

from gis_core.files import sha256_file
from supervision.errors import Issue, PackageError
from supervision.identity import id_problems
from supervision.package import reader
from supervision.package.spec import FILES
from supervision.package.validate import PackageChecker

__all__ = ["DB_COLUMNS", "RegistryImportResult", "id_problems", "import_registry"]

SPEC = FILES["registry"]
DB_COLUMNS = ["id_number", "name", "gender", "birth_date", "household_no", "relation_to_head", "village_code",
              "status", "status_date", "moved_in_on", "split_from_household_no", "split_on"]
DATE_COLUMNS = frozenset({"birth_date", "status_date", "moved_in_on", "split_on"})
#: Below this many rows an import never rebuilds the indexes (not worth locking the table).
REBUILD_MIN_ROWS = 100_000
BLOCK_BYTES = 32 << 20


@dataclass
class RegistryImportResult:
    """What a registry import wrote."""

    extract_id: int
    rows: int
    sha256: str
    #: what was dropped before the COPY and built again after it: "indexes" (every index and key),
    #: "foreign_key" (the foreign key alone), or "" (nothing: rows went into the indexed table)
    rebuilt: str = ""

    @property
    def rebuilt_indexes(self) -> bool:
        """Whether the indexes were built after the load (rather than filled row by row)."""
        return self.rebuilt == "indexes"


def _encoding(head: bytes) -> str:
    """utf-8 (a BOM is skipped by the reader) or gb18030, judged on the file's first bytes."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:        # not just a character cut at the buffer's end
            return "gb18030"
    return "utf-8"


def _header(head: bytes, encoding: str) -> list[str]:
    """The header row's cells (quoted headers included)."""
    decoded = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    return next(csv.reader(io.StringIO(decoded)), [])


def _chunks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[pd.DataFrame]:
    """Frames of all-string cells (header as columns); CSV streamed by pyarrow, XLSX read whole."""
    if path.suffix.lower() == ".xlsx":
        yield reader.read_table_cells(path)
        return
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if b"\x00" in head[:4096]:
        raise ValueError("not a text CSV file (binary content)")
    encoding = _encoding(head)
    names = _header(head, encoding)
    if not names or not any(n.strip() for n in names):
        return
    stream = pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(block_size=block_bytes, encoding=encoding),
        convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                            strings_can_be_null=False, quoted_strings_can_be_null=False))
    for batch in stream:
        if batch.num_rows:
            yield batch.to_pandas()


def _duplicates(all_ids: np.ndarray) -> list[tuple[int, int, str]]:
    """(position, first position, id) of every repeated ID (vectorised; positions are 0-based)."""
    order = np.argsort(all_ids, kind="stable")
    ordered = all_ids[order]
    same = np.concatenate([[False], ordered[1:] == ordered[:-1]])
    if not same.any():
        return []
    group_start = np.maximum.accumulate(np.where(~same, np.arange(len(ordered)), 0))
    return [(int(order[i]), int(order[group_start[i]]), ordered[i].decode()) for i in np.flatnonzero(same)]


def copy_rows(typed: pd.DataFrame, extract_id: int, order: np.ndarray | None = None) -> io.BytesIO:
    """The CSV that COPY reads for ``registry_person``: empty text and missing dates as NULL (pyarrow, no row loop)."""
    columns: dict[str, pa.Array] = {"extract_id": pa.array(np.full(len(typed), extract_id, dtype=np.int64))}
    for name in DB_COLUMNS:
        values = typed[name]
        if name in DATE_COLUMNS:
            days = values.to_numpy(dtype="datetime64[D]")
            arr = pa.array(days, type=pa.date32(), mask=np.isnat(days))
        else:
            arr = pa.array(values.array, type=pa.large_string()) if isinstance(values.dtype, pd.StringDtype) \
                else pa.array(values.astype(str).to_numpy(dtype=object), type=pa.large_string())
            arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.large_string()), arr)
        columns[name] = arr
    table = pa.table(columns)
    if order is not None:
        table = table.take(pa.array(order))
    sink = pa.BufferOutputStream()
    pcsv.write_csv(table, sink, write_options=pcsv.WriteOptions(include_header=False))
    return io.BytesIO(sink.getvalue().to_pybytes())


def _copy(conn: Connection, buf: io.BytesIO) -> None:
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("the connection is closed")
    cursor = raw.cursor()
    try:
        cursor.copy_expert(f"COPY registry_person (extract_id, {', '.join(DB_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                           buf)
    finally:
        cursor.close()


class _Writer:
    """COPY clean chunks into ``registry_person`` on a worker thread while the caller validates the next one.

    The database parses, indexes and checks the rows of one chunk on its own core while this process
    validates the next chunk on the other. The caller must not use the connection while a chunk is in
    flight (``wait`` first). The first database error stops the writing; ``wait`` returns it.
    """

    def __init__(self, conn: Connection, extract_id: int):
        self.conn = conn
        self.extract_id = extract_id
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-copy")
        self.pending: Future | None = None
        self.error: BaseException | None = None

    def wait(self) -> BaseException | None:
        """Wait for the chunk in flight; the first database error, if any."""
        if self.pending is not None:
            try:
                self.pending.result()
            except Exception as exc:      # noqa: BLE001 - kept and re-raised by the caller after the rollback
                self.error = self.error or exc
            self.pending = None
        return self.error

    def write(self, typed: pd.DataFrame, ids: np.ndarray, *, sort: bool) -> None:
        """Queue one validated chunk (sorted by ID when the ID indexes are filled as rows arrive)."""
        buf = copy_rows(typed, self.extract_id, np.argsort(ids, kind="stable") if sort else None)
        if self.wait() is not None:
            return
        self.pending = self.pool.submit(_copy, self.conn, buf)

    def close(self) -> None:
        """Wait for the chunk in flight and stop the worker."""
        self.wait()
        self.pool.shutdown()


def _estimated_rows(path: Path) -> int:
    """Rows of ``path`` estimated from the line length of its first 64 KiB (XLSX: 0, read whole anyway)."""
    if path.suffix.lower() == ".xlsx":
        return 0
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    lines = head.count(b"\n")
    return int(size * lines / len(head)) if head and lines else 0


def table_rows(conn: Connection) -> int:
    """Rows ``registry_person`` holds (the planner's estimate, counted when it has none)."""
    estimate = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'registry_person'::regclass")).scalar_one()
    if estimate is None or estimate < 0:
        return int(conn.execute(text("SELECT count(*) FROM registry_person")).scalar_one())
    return int(estimate)


@dataclass(frozen=True)
class _Definitions:
    """What ``registry_person`` is indexed and constrained by, read from the catalogue to be rebuilt as it was."""

    constraints: list[tuple[str, str]]      # (name, definition): primary key first, then foreign keys
    indexes: list[tuple[str, str]]          # (name, CREATE INDEX ...) not backing a constraint


def _definitions(conn: Connection) -> _Definitions:
    """Every index and key when this role may create indexes again (CREATE on the schema); else the foreign keys.

    Dropping the foreign key alone already saves its per-row query (the application role owns the table
    but, as set up by migration 0014, may not create objects in the schema, so it keeps the indexes).
    """
    may_create = conn.execute(text(
        "SELECT has_schema_privilege(current_user, 'public', 'CREATE')")).scalar_one()
    constraints = [(r.conname, r.definition) for r in conn.execute(text("""
        SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE conrelid = 'registry_person'::regclass AND contype IN ('p', 'u', 'f')
          AND (contype = 'f' OR :may_create)
        ORDER BY contype = 'f', conname"""), {"may_create": may_create})]
    if not may_create:
        return _Definitions(constraints, [])
    indexes = [(r.name, r.definition) for r in conn.execute(text("""
        SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'registry_person'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                          AND k.conrelid = i.indrelid)
        ORDER BY c.relname"""))]
    return _Definitions(constraints, indexes)


def _drop_indexes(conn: Connection, defs: _Definitions) -> None:
    for name, _ in reversed(defs.constraints):           # foreign keys first
        conn.exec_driver_sql(f'ALTER TABLE registry_person DROP CONSTRAINT "{name}"')
    for name, _ in defs.indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')


def _build_indexes(conn: Connection, defs: _Definitions) -> None:
    for name, definition in defs.constraints:            # the key (unique: duplicates were refused) first
        conn.exec_driver_sql(f'ALTER TABLE registry_person ADD CONSTRAINT "{name}" {definition}')
    for _, definition in defs.indexes:
        conn.exec_driver_sql(definition)


def import_registry(conn: Connection, path: Path, *, project_id: int | None = None,
                    block_bytes: int = BLOCK_BYTES, progress: bool | None = None, max_issues: int = 10_000,
                    rebuild_indexes: bool | None = None) -> RegistryImportResult:
    """Validate and load a registry extract file; raise PackageError (nothing written) on any problem.

    Chunks are validated as they stream (bounded work per chunk). While every row so far is clean, each
    chunk is COPied into ``registry_person`` on a worker thread as the next one is validated, inside a
    savepoint; the savepoint is rolled back (nothing written, even if the caller commits) when any
    problem turns up, duplicates included, which are only known once the whole file is read.

    ``rebuild_indexes`` (default: when the file holds at least as many rows as the table and at least
    ``REBUILD_MIN_ROWS``): drop the table's indexes and foreign key before the COPY and build them after
    it, in the same savepoint (an exclusive lock on ``registry_person`` until the transaction ends); a
    role that may not create indexes in the schema drops and re-adds the foreign key only.
    """
    path = Path(path)
    checker = PackageChecker(path.parent, repair=False, max_distance_m=0)
    issues: list[Issue] = []
    ids: list[np.ndarray] = []
    rows_seen = 0
    language = "en"
    bar = tqdm(desc="registry", unit="row", disable=None if progress is None else not progress)
    savepoint = conn.begin_nested()
    if rebuild_indexes is None:
        estimate = _estimated_rows(path)
        rebuild_indexes = estimate >= REBUILD_MIN_ROWS and estimate >= table_rows(conn)
    defs = _definitions(conn) if rebuild_indexes else None
    if defs is not None:
        _drop_indexes(conn, defs)
    extract_id = conn.execute(text(
        "INSERT INTO registry_extract (project_id, source_name, row_count) VALUES (:p, :n, 0) RETURNING id"),
        {"p": project_id, "n": path.name}).scalar_one()
    writer = _Writer(conn, extract_id)
    digest = writer.pool.submit(sha256_file, path)     # hashed on the worker thread while the first chunk is validated
    try:
        try:
            for chunk in _chunks(path, block_bytes):
                mapping, language = reader.map_headers(SPEC, [str(c) for c in chunk.columns])
                raw = reader.RawFile(SPEC, path.name, language, mapping, pd.DataFrame(index=chunk.index),
                                     np.arange(len(chunk)) + 2 + rows_seen)
                if checker._columns(raw, chunk) is None:
                    issues.extend(checker.issues)
                    break
                typed = checker.cells(raw)
                problems = id_problems(typed["id_number"])
                for pos in np.flatnonzero(problems.notna().to_numpy()).tolist():
                    value = typed["id_number"].iloc[pos]
                    issues.append(raw.issue(int(pos), "id_number",
                                            f"invalid ID number ({problems.iloc[pos]}): {value!r}",
                                            f"身份证号无效({problems.iloc[pos]}): {value!r}"))
                issues.extend(checker.issues)
                checker.issues = []
                ids.append(typed["id_number"].to_numpy(dtype="S18"))
                if not issues:
                    writer.write(typed, ids[-1], sort=defs is None or not defs.indexes)
                rows_seen += len(chunk)
                bar.update(len(chunk))
                if len(issues) > max_issues:
                    break
        except pa.ArrowInvalid as exc:       # a malformed CSV (a row with too many or too few cells, ...)
            shown = reader.public_text(str(exc), path.parent)
            issues.append(Issue(path.name, None, None, f"not a readable CSV file: {shown}",
                                f"无法读取的 CSV 文件: {shown}", language))
        if rows_seen and not issues:                     # while the last chunk is still copying
            for pos, first, value in _duplicates(np.concatenate(ids)):
                issues.append(Issue(path.name, pos + 2, "id_number" if language == "en" else "身份证号",
                                    f"duplicate ID number {value!r} (also at row {first + 2})",
                                    f"重复的身份证号 {value!r}(与第{first + 2}行重复)", language))
        error = writer.wait()
        if not rows_seen and not issues:
            issues.append(Issue(path.name, None, None, "the file has no rows", "文件没有数据行", language))
        if issues:
            raise PackageError(issues)
        if error is not None:
            raise error
        if defs is not None:
            _build_indexes(conn, defs)
        sha256 = digest.result()
        conn.execute(text("UPDATE registry_extract SET row_count = :c, sha256 = :s WHERE id = :e"),
                     {"c": rows_seen, "s": sha256, "e": extract_id})
        savepoint.commit()
        rebuilt = "" if defs is None else "indexes" if defs.indexes else "foreign_key"
        return RegistryImportResult(extract_id, rows_seen, sha256, rebuilt=rebuilt)
    except BaseException:
        writer.close()
        savepoint.rollback()
        raise
    finally:
        writer.close()
        bar.close()
