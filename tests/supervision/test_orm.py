"""The ORM models of the case tables agree with what the migrations created."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from supervision.orm import Base

CASE_TABLES = {t.name for t in Base.metadata.sorted_tables} - {"project", "app_user"}


def test_models_match_the_migrated_tables(conn):
    ctx = MigrationContext.configure(conn, opts={
        "include_name": lambda name, type_, parent: type_ != "table" or name in CASE_TABLES,
        "compare_type": True})
    diff = [d for d in compare_metadata(ctx, Base.metadata)
            if not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index", "add_constraint",
                                                     "remove_constraint", "add_table", "remove_table")
                    and getattr(d[1], "name", "") in ("project", "app_user"))]
    columns = [d for d in diff if not isinstance(d, tuple) or d[0] not in ("add_index", "remove_index")]
    assert columns == [], columns
    assert CASE_TABLES == {"case_file", "case_stage", "case_capture", "stage_review", "stage_reassignment",
                           "case_quantity", "case_document", "case_payment", "complaint", "capture_upload"}
