"""Import a package file or folder: validate everything, then load it in the caller's transaction."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Connection

from supervision.package.load import LoadResult, load_package
from supervision.package.reader import open_package
from supervision.package.validate import DEFAULT_MAX_DISTANCE_FROM_SCOPE_M, ValidatedPackage, validate_package


def import_package(conn: Connection, path: Path, *, repair: bool = False, store_dir: Path | None = None,
                   actor: str = "system", progress: bool | None = None,
                   max_distance_m: float = DEFAULT_MAX_DISTANCE_FROM_SCOPE_M) -> tuple[LoadResult, ValidatedPackage]:
    """Validate the package at ``path`` (folder or zip) and load it on ``conn``.

    Raises ``PackageError`` (nothing written) when anything is wrong. Orthophotos of a zipped
    package are copied into ``store_dir`` so that the catalogue does not point into a temporary folder.
    """
    path = Path(path)
    with open_package(path) as root:
        pkg = validate_package(root, repair=repair, max_distance_m=max_distance_m)
        if pkg.orthophotos and not path.is_dir():
            if store_dir is None:
                raise ValueError("store_dir is required to keep the orthophotos of a zipped package")
            store_dir.mkdir(parents=True, exist_ok=True)
            for ortho in pkg.orthophotos:
                target = store_dir / f"{ortho.sha256}{ortho.path.suffix.lower()}"
                if not target.exists():
                    shutil.copyfile(ortho.path, target)
                ortho.path = target
        return load_package(conn, pkg, actor=actor, progress=progress), pkg
