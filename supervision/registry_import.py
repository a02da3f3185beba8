"""City-scale registry extracts (户籍): streamed, validated in vectorised chunks, loaded with COPY.

All or nothing: every problem of every row is collected (file, row, column) and nothing is
written when there is one; otherwise the rows go in with COPY inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text
from tqdm import tqdm

from supervision.errors import Issue, PackageError
from supervision.package import reader
from supervision.package.load import copy_frame
from supervision.package.spec import FILES
from supervision.package.validate import PackageChecker

SPEC = FILES["registry"]
WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
CHECK_CHARS = np.array(list("10X98765432"))
DB_COLUMNS = ["id_number", "name", "gender", "birth_date", "household_no", "relation_to_head", "village_code",
              "status", "status_date", "moved_in_on", "split_from_household_no", "split_on"]


def id_problems(ids: pd.Series, today: pd.Timestamp | None = None) -> pd.Series:
    """Vectorised GB 11643 check: ``length``, ``characters``, ``birth_date``, ``check_char`` or None per ID."""
    today = today or pd.Timestamp.today().normalize()
    s = ids.str.strip().str.upper()
    out = pd.Series(None, index=ids.index, dtype=object)
    n = s.str.len()
    out[~n.isin([15, 18])] = "length"
    is18 = (n == 18) & s.str.fullmatch(r"[0-9]{17}[0-9X]")
    is15 = (n == 15) & s.str.fullmatch(r"[0-9]{15}")
    out[out.isna() & ~(is18 | is15)] = "characters"
    birth = pd.Series("", index=ids.index)
    birth[is18] = s[is18].str[6:14]
    birth[is15] = "19" + s[is15].str[6:12]
    born = pd.to_datetime(birth.where(is18 | is15, None), format="%Y%m%d", errors="coerce")
    bad_birth = (is18 | is15) & (born.isna() | (born < pd.Timestamp("1880-01-01")) | (born > today))
    out[bad_birth & out.isna()] = "birth_date"
    check = is18 & ~bad_birth
    if check.any():
        body = np.frombuffer("".join(s[check].str[:17]).encode("ascii"), dtype=np.uint8).reshape(-1, 17) - 48
        expected = CHECK_CHARS[(body.astype(np.int64) @ WEIGHTS) % 11]
        wrong = expected != s[check].str[17].to_numpy()
        idx = s[check].index[wrong]
        out[idx] = "check_char"
    return out


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


def import_registry(conn: Connection, path: Path, *, project_id: int | None = None, chunk_rows: int = 500_000,
                    progress: bool | None = None, max_issues: int = 10_000) -> RegistryImportResult:
    """Validate and load a registry extract file; raise PackageError (nothing written) on any problem.

    Chunks are validated and COPied into a temporary staging table as they stream (bounded memory);
    only when the whole file is clean are the rows inserted into ``registry_person``.
    """
    path = Path(path)
    checker = PackageChecker(path.parent, repair=False, max_distance_m=0)
    issues: list[Issue] = []
    ids: list[np.ndarray] = []
    rows_seen = 0
    language = "en"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            digest.update(block)
    conn.exec_driver_sql("DROP TABLE IF EXISTS stg_registry")
    conn.exec_driver_sql("CREATE TEMP TABLE stg_registry (" + ", ".join(f"{c} text" for c in DB_COLUMNS) + ")")
    bar = tqdm(desc="registry", unit="row", disable=None if progress is None else not progress)
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
            for pos in np.flatnonzero(problems.notna().to_numpy()):
                value = typed["id_number"].iloc[pos]
                issues.append(raw.issue(int(pos), "id_number", f"invalid ID number ({problems.iloc[pos]}): {value!r}",
                                        f"身份证号无效({problems.iloc[pos]}): {value!r}"))
            issues.extend(checker.issues)
            checker.issues = []
            ids.append(typed["id_number"].str.upper().to_numpy(dtype="S18"))
            if not issues:
                copy_frame(conn, "stg_registry", typed[DB_COLUMNS])
            rows_seen += len(chunk)
            bar.update(len(chunk))
            if len(issues) > max_issues:
                break
        if rows_seen and not issues:
            for pos, first, value in _duplicates(np.concatenate(ids)):
                issues.append(Issue(path.name, pos + 2, "id_number" if language == "en" else "身份证号",
                                    f"duplicate ID number {value!r} (also at row {first + 2})",
                                    f"重复的身份证号 {value!r}(与第{first + 2}行重复)", language))
        if not rows_seen and not issues:
            issues.append(Issue(path.name, None, None, "the file has no rows", "文件没有数据行", language))
        if issues:
            raise PackageError(issues)
        extract_id = conn.execute(text(
            "INSERT INTO registry_extract (project_id, source_name, sha256, row_count) VALUES (:p, :n, :s, :c) "
            "RETURNING id"), {"p": project_id, "n": path.name, "s": digest.hexdigest(), "c": rows_seen}).scalar_one()
        conn.execute(text("""
            INSERT INTO registry_person (extract_id, id_number, name, gender, birth_date, household_no,
                relation_to_head, village_code, status, status_date, moved_in_on, split_from_household_no, split_on)
            SELECT :e, upper(id_number), name, NULLIF(gender, ''), CAST(birth_date AS date), NULLIF(household_no, ''),
                   NULLIF(relation_to_head, ''), NULLIF(village_code, ''), status, CAST(status_date AS date),
                   CAST(moved_in_on AS date), NULLIF(split_from_household_no, ''), CAST(split_on AS date)
            FROM stg_registry"""), {"e": extract_id})
        return RegistryImportResult(extract_id, rows_seen, digest.hexdigest())
    finally:
        conn.exec_driver_sql("DROP TABLE IF EXISTS stg_registry")
        bar.close()
