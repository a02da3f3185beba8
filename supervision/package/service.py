"""Import a package file or folder: validate everything, then load it in the caller's transaction."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, text

from supervision.package.load import LoadResult, load_package
from supervision.package.reader import open_package
from supervision.package.validate import DEFAULT_MAX_DISTANCE_FROM_SCOPE_M, ValidatedPackage, validate_package


def import_package(conn: Connection, path: Path, *, repair: bool = False, store_dir: Path | None = None,
                   actor: str = "system", progress: bool | None = None,
                   max_distance_m: float = DEFAULT_MAX_DISTANCE_FROM_SCOPE_M) -> tuple[LoadResult, ValidatedPackage]:
    """Validate the package at ``path`` (folder or zip) and load it on ``conn``.

    Raises ``PackageError`` (nothing written) when anything is wrong. Orthophotos of a zipped
    package are copied into ``store_dir`` so that the catalogue does not point into a temporary folder
    (the copies made by a failed import are removed again). The files of catalogue rows the import
    removed are listed in ``LoadResult.obsolete_files``: the caller deletes them after the commit
    (``remove_unreferenced``).
    """
    path = Path(path)
    with open_package(path) as root:
        pkg = validate_package(root, repair=repair, max_distance_m=max_distance_m)
        copied: list[Path] = []
        if pkg.orthophotos and not path.is_dir():
            if store_dir is None:
                raise ValueError("store_dir is required to keep the orthophotos of a zipped package")
            store_dir.mkdir(parents=True, exist_ok=True)
            for ortho in pkg.orthophotos:
                target = store_dir / f"{ortho.sha256}{ortho.path.suffix.lower()}"
                if not target.exists():
                    shutil.copyfile(ortho.path, target)
                    copied.append(target)
                ortho.path = target
        try:
            return load_package(conn, pkg, actor=actor, progress=progress), pkg
        except BaseException:
            for target in copied:
                target.unlink(missing_ok=True)
            raise


def remove_unreferenced(conn: Connection, paths: Iterable[str], store_dir: Path) -> list[Path]:
    """Delete the files among ``paths`` that lie in ``store_dir`` and that no catalogue row names any more.

    Call it after the transaction that removed their rows has committed: a file goes with its row or
    not at all. Files outside the store (a package folder of the user's) are never touched.
    """
    store = Path(store_dir).resolve()
    removed = []
    for name in dict.fromkeys(paths):
        target = Path(name).resolve()
        if store not in target.parents or not target.is_file():
            continue
        used = conn.execute(text("SELECT EXISTS (SELECT 1 FROM orthophoto WHERE source_path = :s OR cog_path = :s)"),
                            {"s": name}).scalar_one()
        if not used:
            target.unlink(missing_ok=True)
            removed.append(target)
    return removed
