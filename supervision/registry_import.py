"""City-scale registry extracts (户籍): streamed, validated in vectorised chunks, loaded with COPY.

All or nothing: every problem of every row is collected (file, row, column) and nothing is
written when there is one; otherwise the rows go in with COPY inside the caller's transaction.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text
from tqdm import tqdm

from gis_core.files import sha256_file
from supervision.errors import Issue, PackageError
from supervision.identity import id_problems
from supervision.package import reader
from supervision.package.load import copy_csv, csv_buffer
from supervision.package.spec import FILES
from supervision.package.validate import PackageChecker

SPEC = FILES["registry"]
DB_COLUMNS = ["id_number", "name", "gender", "birth_date", "household_no", "relation_to_head", "village_code",
              "status", "status_date", "moved_in_on", "split_from_household_no", "split_on"]


@dataclass
class RegistryImportResult:
    """What a registry import wrote."""

    extract_id: int
    rows: int
    sha256: str


def _chunks(path: Path, chunk_rows: int):
    """(chunk, header) pairs of all-string cells; CSV streamed, XLSX read whole."""
    if path.suffix.lower() == ".xlsx":
        cells = reader.read_table_cells(path)
        yield cells
        return
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    encoding = "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:        # not just a character cut at the buffer's end
            encoding = "gb18030"
    with open(path, encoding=encoding, newline="") as fh:
        yield from pd.read_csv(fh, dtype=str, keep_default_na=False, na_filter=False, chunksize=chunk_rows)


def _duplicates(all_ids: np.ndarray) -> list[tuple[int, int, str]]:
    """(position, first position, id) of every repeated ID (vectorised; positions are 0-based)."""
    order = np.argsort(all_ids, kind="stable")
    ordered = all_ids[order]
    same = np.concatenate([[False], ordered[1:] == ordered[:-1]])
    if not same.any():
        return []
    group_start = np.maximum.accumulate(np.where(~same, np.arange(len(ordered)), 0))
    return [(int(order[i]), int(order[group_start[i]]), ordered[i].decode()) for i in np.flatnonzero(same)]


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

    def write(self, typed: pd.DataFrame, ids: np.ndarray) -> None:
        """Queue one validated chunk (sorted by ID, so that the ID indexes are filled in order)."""
        frame = typed[DB_COLUMNS].iloc[np.argsort(ids, kind="stable")].copy()
        frame["id_number"] = frame["id_number"].str.upper()
        frame.insert(0, "extract_id", str(self.extract_id))
        buf = csv_buffer(frame)                    # formatted while the previous chunk is still copying
        if self.wait() is not None:
            return
        self.pending = self.pool.submit(copy_csv, self.conn, "registry_person", list(frame.columns), buf)

    def close(self) -> None:
        """Wait for the chunk in flight and stop the worker."""
        self.wait()
        self.pool.shutdown()


def import_registry(conn: Connection, path: Path, *, project_id: int | None = None, chunk_rows: int = 250_000,
                    progress: bool | None = None, max_issues: int = 10_000) -> RegistryImportResult:
    """Validate and load a registry extract file; raise PackageError (nothing written) on any problem.

    Chunks are validated as they stream (bounded memory). While every row so far is clean, each chunk
    is COPied into ``registry_person`` on a worker thread as the next one is validated, inside a
    savepoint; the savepoint is rolled back (nothing written, even if the caller commits) when any
    problem turns up, duplicates included, which are only known once the whole file is read.
    """
    path = Path(path)
    checker = PackageChecker(path.parent, repair=False, max_distance_m=0)
    issues: list[Issue] = []
    ids: list[np.ndarray] = []
    rows_seen = 0
    language = "en"
    bar = tqdm(desc="registry", unit="row", disable=None if progress is None else not progress)
    savepoint = conn.begin_nested()
    extract_id = conn.execute(text(
        "INSERT INTO registry_extract (project_id, source_name, row_count) VALUES (:p, :n, 0) RETURNING id"),
        {"p": project_id, "n": path.name}).scalar_one()
    writer = _Writer(conn, extract_id)
    digest = writer.pool.submit(sha256_file, path)     # hashed on the worker thread while the first chunk is validated
    try:
        for chunk in _chunks(path, chunk_rows):
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
                issues.append(raw.issue(int(pos), "id_number", f"invalid ID number ({problems.iloc[pos]}): {value!r}",
                                        f"身份证号无效({problems.iloc[pos]}): {value!r}"))
            issues.extend(checker.issues)
            checker.issues = []
            ids.append(typed["id_number"].str.upper().to_numpy(dtype="S18"))
            if not issues:
                writer.write(typed, ids[-1])
            rows_seen += len(chunk)
            bar.update(len(chunk))
            if len(issues) > max_issues:
                break
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
        sha256 = digest.result()
        conn.execute(text("UPDATE registry_extract SET row_count = :c, sha256 = :s WHERE id = :e"),
                     {"c": rows_seen, "s": sha256, "e": extract_id})
        savepoint.commit()
        return RegistryImportResult(extract_id, rows_seen, sha256)
    except BaseException:
        writer.close()
        savepoint.rollback()
        raise
    finally:
        writer.close()
        bar.close()
