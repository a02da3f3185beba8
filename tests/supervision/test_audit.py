"""The audit trail is append-only and hash-chained, in the real database."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from supervision import audit, audit_verify


def _chained(conn, seqs):
    return conn.execute(text("SELECT c.pos, c.seq, c.prev_hash, c.hash, e.event_bytes FROM audit_chain c "
                             "JOIN audit_event e USING (seq) WHERE c.seq = ANY(:s) ORDER BY c.pos"),
                        {"s": list(seqs)}).all()


def test_chain_verifies_and_detects_tampering(conn):
    seqs = [audit.append(conn, actor="S003", action="alert.assign", object_type="alert", object_key="1",
                         details={"amount_yuan": "12.50"}, opinion="请核实"),
            audit.append(conn, actor="S002", action="alert.confirm", object_type="alert", object_key="1"),
            audit.append(conn, actor="S002", action="alert.close", object_type="alert", object_key="1")]
    assert audit.seal(conn) >= 3
    mine = _chained(conn, seqs)
    assert [r.seq for r in mine] == seqs                        # sealed in seq order
    assert [r.pos for r in mine] == list(range(mine[0].pos, mine[0].pos + 3))
    assert bytes(mine[1].prev_hash) == bytes(mine[0].hash)     # each row chains to the previous one
    assert bytes(mine[0].hash) == hashlib.sha256(bytes(mine[0].prev_hash) + bytes(mine[0].event_bytes)).digest()
    report = audit.verify_database(conn)
    assert report.intact, [b.render() for b in report.breaks]
    assert report.summary.last_seq == seqs[-1]
    records = list(audit.export_records(conn))
    target = next(r for r in records if r.seq == seqs[1])
    tampered = [dataclasses.replace(r, event_bytes=r.event_bytes.replace(b"confirm", b"unfounded"))
                if r is target else r for r in records]
    summary = audit_verify.verify_records(enumerate(tampered, start=1))
    assert [b.seq for b in summary.breaks] == [seqs[1]]
    renamed = [dataclasses.replace(r, actor="S999") if r is target else r for r in records]
    assert [b.seq for b in audit_verify.verify_records(enumerate(renamed, start=1)).breaks] == [seqs[1]]


def test_event_bytes_carry_seq_time_opinion_result_and_attachments(conn):
    digest = hashlib.sha256(b"scan").hexdigest()
    seq = audit.append(conn, actor="S002", action="stage.review", object_type="case_stage", object_key="P/H1/quantity",
                       details={"decision": "return"}, opinion="面积有误", result="returned",
                       attachments=[{"name": "scan.pdf", "sha256": digest}])
    row = conn.execute(text("SELECT recorded_at, event_bytes FROM audit_event WHERE seq = :s"), {"s": seq}).one()
    import json
    event = json.loads(bytes(row.event_bytes))
    assert event["seq"] == seq and event["opinion"] == "面积有误" and event["result"] == "returned"
    assert event["attachments"] == [{"name": "scan.pdf", "sha256": digest}]
    assert audit_verify.canonical(event) == bytes(row.event_bytes)
    import datetime as dt
    assert dt.datetime.fromisoformat(event["recorded_at"]) == row.recorded_at
    with pytest.raises(audit.AuditError):
        audit.append(conn, actor="S002", action="x", attachments=[{"name": "a", "sha256": "not-a-digest"}])


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'x' WHERE seq = :s",
    "DELETE FROM audit_event WHERE seq = :s",
    "TRUNCATE audit_event",
    "UPDATE audit_chain SET hash = hash WHERE seq = :s",
    "DELETE FROM audit_chain WHERE seq = :s",
    "DELETE FROM audit_pending",
    "UPDATE audit_checkpoint SET pos = pos",
])
def test_rows_cannot_be_changed_or_deleted(conn, statement):
    seq = audit.append(conn, actor="admin", action="test.event")
    audit.seal(conn)
    with pytest.raises(DBAPIError, match="append-only|permission denied"):
        with conn.begin_nested():
            conn.execute(text(statement), {"s": seq})
    assert conn.execute(text("SELECT actor FROM audit_event WHERE seq = :s"), {"s": seq}).scalar_one() == "admin"


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'x' WHERE seq = :s",
    "DELETE FROM audit_event WHERE seq = :s",
    "UPDATE audit_chain SET hash = hash WHERE seq = :s",
    "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update",
    "SET session_replication_role = replica",
])
def test_application_role_may_not_change_audit_rows(conn, statement):
    """The application's engine acts as expro_app: the privilege check refuses before any trigger."""
    assert conn.execute(text("SELECT current_user")).scalar_one() == "expro_app"
    assert audit.guard(conn)[0]
    seq = audit.append(conn, actor="admin", action="test.event")
    audit.seal(conn)
    with pytest.raises(DBAPIError, match="permission denied|must be owner"):
        with conn.begin_nested():
            conn.execute(text(statement), {"s": seq})


def test_canonical_bytes_are_key_order_independent():
    assert audit.canonical_bytes({"b": 1, "a": "张"}) == audit.canonical_bytes({"a": "张", "b": 1})
    assert audit.canonical_bytes({"a": "张"}) == '{"a":"张"}'.encode()


def test_round_one_api_still_verifies_rows(conn):
    seq = audit.append(conn, actor="admin", action="test.event")
    audit.seal(conn)
    rows = [(r.seq, bytes(r.event_bytes), bytes(r.prev_hash), bytes(r.hash)) for r in _chained(conn, [seq])]
    assert audit.verify_chain([(s, b, audit.GENESIS_HASH, hashlib.sha256(audit.GENESIS_HASH + b).digest())
                               for s, b, _p, _h in rows]) == []
