"""Audit writers never wait for another open transaction (round 1's advisory lock made them wait)."""

from __future__ import annotations

import time

from sqlalchemy import text

from supervision import audit


def test_second_writer_commits_while_first_transaction_stays_open(engine):
    first = engine.connect()
    second = engine.connect()
    try:
        t1 = first.begin()
        seq1 = audit.append(first, actor="test", action="test.concurrency.first")   # uncommitted, kept open
        started = time.perf_counter()
        with second.begin():
            second.execute(text("SET LOCAL lock_timeout = '500ms'"))
            second.execute(text("SET LOCAL statement_timeout = '2s'"))
            seq2 = audit.append(second, actor="test", action="test.concurrency.second")
        sealed = audit.seal_committed(engine)
        waited = time.perf_counter() - started
        assert waited < 0.5, f"the second writer waited {waited:.3f} s"
        assert sealed >= 1
        with engine.connect() as look:
            pos2 = look.execute(text("SELECT pos FROM audit_chain WHERE seq = :s"), {"s": seq2}).scalar()
            assert pos2 is not None                                   # chained although seq1 < seq2 is open
            assert look.execute(text("SELECT count(*) FROM audit_chain WHERE seq = :s"),
                                {"s": seq1}).scalar_one() == 0
        t1.commit()
        with engine.begin() as c:
            audit.seal(c)
        with engine.connect() as look:
            pos1 = look.execute(text("SELECT pos FROM audit_chain WHERE seq = :s"), {"s": seq1}).scalar_one()
        assert pos1 > pos2                       # the chain follows commit order; seq follows nextval order
    finally:
        first.close()
        second.close()


def test_seal_does_not_wait_for_an_open_writer(engine):
    writer = engine.connect()
    try:
        writer.begin()
        audit.append(writer, actor="test", action="test.concurrency.open")
        started = time.perf_counter()
        with engine.begin() as c:
            c.execute(text("SET LOCAL lock_timeout = '500ms'"))
            audit.seal(c)
        assert time.perf_counter() - started < 0.5
    finally:
        writer.rollback()
        writer.close()
