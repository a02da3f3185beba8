"""ORM models of the case tables (migration 0015), with GeoAlchemy2 geometry columns.

The routes and ``supervision.cases`` read and write cases, stages, captures, reviews, reassignments, the
quantity record, documents, API payments and complaints through these models; the set-based supervision SQL
(the models in ``supervision.models``) reads the same tables directly. ``tests/supervision/test_orm.py``
compares these declarations with the migrated database.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (BigInteger, CheckConstraint, Column, Date, DateTime, ForeignKey, Integer, LargeBinary, Numeric,
                        Table, Text, UniqueConstraint, Uuid, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

STAGE_STATES = ("locked", "open", "submitted", "returned", "approved")
CASE_STATES = ("active", "closed", "withdrawn")


class Base(DeclarativeBase):
    """The declarative base of Expro's ORM models."""


# The tables of the set-based schema the case tables refer to, declared only as far as the keys go (their
# rows are written by the import's SQL, not through the ORM).
Table("project", Base.metadata, Column("id", BigInteger, primary_key=True))
Table("app_user", Base.metadata, Column("id", BigInteger, primary_key=True))


def _user_fk() -> Any:
    return ForeignKey("app_user.id", ondelete="SET NULL")


class Case(Base):
    """One household's expropriation in one project (named by project and household number)."""

    __tablename__ = "case_file"
    __table_args__ = (UniqueConstraint("project_id", "household_no"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("project.id", ondelete="CASCADE"))
    household_no: Mapped[str] = mapped_column(Text)
    case_type: Mapped[str] = mapped_column(Text)
    casetype_version: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, server_default="active")
    #: the union of the household's parcels, in the project CRS
    extent: Mapped[Any | None] = mapped_column(Geometry("MULTIPOLYGON", srid=-1, spatial_index=False))
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    stages: Mapped[list[Stage]] = relationship(back_populates="case", order_by="Stage.position",
                                               cascade="all, delete-orphan")
    captures: Mapped[list[Capture]] = relationship(back_populates="case", cascade="all, delete-orphan")
    quantities: Mapped[list[QuantityLine]] = relationship(back_populates="case", order_by="QuantityLine.line_no",
                                                          cascade="all, delete-orphan")


class Stage(Base):
    """One stage of a case: state, responsible role, assignee, time limit and due date."""

    __tablename__ = "case_stage"
    __table_args__ = (UniqueConstraint("case_id", "code"), UniqueConstraint("case_id", "position"),
                      CheckConstraint("state IN ('locked', 'open', 'submitted', 'returned', 'approved')"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_file.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    time_limit_days: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(Text, server_default="locked")
    assignee_user_id: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    opened_on: Mapped[dt.date | None] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_by: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[int | None] = mapped_column(BigInteger, _user_fk())

    case: Mapped[Case] = relationship(back_populates="stages")
    reviews: Mapped[list[Review]] = relationship(back_populates="stage", order_by="Review.id",
                                                 cascade="all, delete-orphan")


class Capture(Base):
    """One file of the archive: a photo, video, document, signature or form, checked by content."""

    __tablename__ = "case_capture"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_file.id", ondelete="CASCADE"))
    capture_uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    stage_code: Mapped[str] = mapped_column(Text)
    item_code: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Text)
    file_path: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(Text)
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    #: where the capture was taken (WGS84), as the device reported it
    position: Mapped[Any | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    exif: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    document_no: Mapped[str | None] = mapped_column(Text)
    captured_by: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    case: Mapped[Case] = relationship(back_populates="captures")


class Review(Base):
    """A supervisor's decision on a submitted stage: approve, or return with an opinion."""

    __tablename__ = "stage_review"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_stage_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_stage.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(Text)
    opinion: Mapped[str] = mapped_column(Text)
    reviewer_user_id: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    stage: Mapped[Stage] = relationship(back_populates="reviews")


class Reassignment(Base):
    """A stage handed from one person to another, by whom and why."""

    __tablename__ = "stage_reassignment"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_stage_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_stage.id", ondelete="CASCADE"))
    from_user_id: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    to_user_id: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    changed_by: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    reason: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class QuantityLine(Base):
    """One line of the quantity record (核量): a building or an item, its quantity, unit price and amount."""

    __tablename__ = "case_quantity"
    __table_args__ = (UniqueConstraint("case_id", "line_no"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_file.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    item_kind: Mapped[str] = mapped_column(Text)
    parcel_code: Mapped[str | None] = mapped_column(Text)
    building_no: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    structure_type: Mapped[str | None] = mapped_column(Text)
    storeys: Mapped[int | None] = mapped_column(Integer)
    quantity: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    unit: Mapped[str] = mapped_column(Text)
    unit_price_yuan: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    amount_yuan: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    recorded_by: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    case: Mapped[Case] = relationship(back_populates="quantities")


class Document(Base):
    """A generated 核量单 or 协议书: its number, the SHA-256 of its record and of its PDF, the PDF."""

    __tablename__ = "case_document"
    __table_args__ = (UniqueConstraint("case_id", "kind", "record_sha256"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_file.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    document_no: Mapped[str] = mapped_column(Text, unique=True)
    record_sha256: Mapped[str] = mapped_column(Text)
    pdf_sha256: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    generated_by: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CasePayment(Base):
    """A payment recorded through the API (kept across re-imports; mirrored into ``payment``)."""

    __tablename__ = "case_payment"
    __table_args__ = (UniqueConstraint("case_id", "payment_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_file.id", ondelete="CASCADE"))
    payment_id: Mapped[str] = mapped_column(Text)
    payee_id_number: Mapped[str] = mapped_column(Text)
    payee_name: Mapped[str] = mapped_column(Text)
    amount_yuan: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    paid_on: Mapped[dt.date] = mapped_column(Date)
    agreement_no: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Complaint(Base):
    """A complaint about a published result, sent from the public disclosure pages."""

    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("project.id", ondelete="CASCADE"))
    household_no: Mapped[str | None] = mapped_column(Text)
    complainant_name: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    client_digest: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, server_default="new")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaptureUpload(Base):
    """A capture arriving in byte ranges (resumable): how much has arrived, and how it ended."""

    __tablename__ = "capture_upload"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_file.id", ondelete="CASCADE"))
    capture_uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    fields: Mapped[dict] = mapped_column(JSONB)
    file_name: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    received_bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")
    state: Mapped[str] = mapped_column(Text, server_default="receiving")
    error: Mapped[str | None] = mapped_column(Text)
    part_path: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(BigInteger, _user_fk())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
