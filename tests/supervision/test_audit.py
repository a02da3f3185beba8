"""The audit trail is append-only and hash-chained, in the real database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from supervision import audit


def _export(conn, since: int):
    return [tuple(r) for r in conn.execute(text(
        "SELECT seq, event_bytes, prev_hash, hash FROM audit_event WHERE seq >= :s ORDER BY seq"), {"s": since})]


def test_chain_verifies_and_detects_tampering(conn):
    first = audit.append(conn, actor="S003", action="alert.assign", object_type="alert", object_key="1",
                         details={"opinion": "请核实", "amount_yuan": "12.50"})
    audit.append(conn, actor="S002", action="alert.confirm", object_type="alert", object_key="1")
    audit.append(conn, actor="S002", action="alert.close", object_type="alert", object_key="1")
    rows = conn.execute(text("SELECT seq, event_bytes, prev_hash, hash FROM audit_event ORDER BY seq")).all()
    assert audit.verify_chain([tuple(r) for r in rows]) == []
    mine = _export(conn, first)
    assert len(mine) == 3 and [r[0] for r in mine] == sorted(r[0] for r in mine)
    assert bytes(mine[0][1]) == audit.canonical_bytes({"actor": "S003", "action": "alert.assign",
                                                       "object_type": "alert", "object_key": "1",
                                                       "details": {"opinion": "请核实", "amount_yuan": "12.50"}})
    assert bytes(mine[1][2]) == bytes(mine[0][3])          # each row chains to the previous one
    tampered = list(rows)
    seq, data, prev, digest = tampered[-2]
    tampered[-2] = (seq, bytes(data).replace(b"confirm", b"unfounded"), prev, digest)
    breaks = audit.verify_chain([tuple(r) for r in tampered])
    assert [b.seq for b in breaks] == [seq]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'x' WHERE seq = :s",
    "DELETE FROM audit_event WHERE seq = :s",
    "TRUNCATE audit_event",
])
def test_rows_cannot_be_changed_or_deleted(conn, statement):
    seq = audit.append(conn, actor="admin", action="test.event")
    with pytest.raises(DBAPIError, match="append-only"):
        with conn.begin_nested():
            conn.execute(text(statement), {"s": seq})
    assert conn.execute(text("SELECT actor FROM audit_event WHERE seq = :s"), {"s": seq}).scalar_one() == "admin"


def test_canonical_bytes_are_key_order_independent():
    assert audit.canonical_bytes({"b": 1, "a": "张"}) == audit.canonical_bytes({"a": "张", "b": 1})
    assert audit.canonical_bytes({"a": "张"}) == '{"a":"张"}'.encode()
