"""``expro audit verify|export|checkpoint``, the standalone verifier, and the audit rows of every CLI act."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from expro.cli import cli
from supervision import audit
from supervision.identity import china_today
from tests.imagery.conftest import canonical_project, make_tif  # noqa: F401  (fixtures)
from tests.supervision.test_registry_import import HEADER, _rows

ROOT = Path(__file__).resolve().parents[2]


def _standalone(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "supervision.audit_verify", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _last_event(conn, action: str):
    row = conn.execute(text("SELECT seq, actor, object_key, event_bytes FROM audit_event WHERE action = :a "
                            "ORDER BY seq DESC LIMIT 1"), {"a": action}).one_or_none()
    assert row is not None, f"no audit row {action}"
    return row, json.loads(bytes(row.event_bytes))


def _tamper(conn, seq: int) -> None:
    """What a superuser could do: bypass the triggers and rewrite an event (undone by the test's rollback)."""
    conn.execute(text("SET LOCAL ROLE NONE"))
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    conn.execute(text("UPDATE audit_event SET event_bytes = convert_to(replace(convert_from(event_bytes, 'UTF8'), "
                      "'原意见', '改意见'), 'UTF8') WHERE seq = :s"), {"s": seq})
    conn.execute(text("SET LOCAL session_replication_role = origin"))
    conn.execute(text("SET LOCAL ROLE expro_app"))


def test_verify_export_and_standalone_verifier_agree(conn, runner, tmp_path):
    audit.append(conn, actor="S001", action="test.cli", opinion="原意见")
    res = runner.invoke(cli, ["audit", "verify"])
    assert res.exit_code == 0, res.output
    assert "intact" in res.output and "SELECT and INSERT" in res.output
    out = tmp_path / "audit.jsonl"
    res = runner.invoke(cli, ["audit", "export", "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert first["pos"] == 1 and first["prev_hash"] == "00" * 32
    assert {"pos", "seq", "recorded_at", "actor", "action", "event_bytes", "prev_hash", "hash"} <= set(last)
    assert json.loads(base64.b64decode(last["event_bytes"]))["action"] == "audit.verify"
    done = _standalone(str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"pos {last['pos']}" in done.stdout
    assert _standalone(str(out), "--checkpoint", f"{last['pos']}:{last['hash']}").returncode == 0
    wrong = _standalone(str(out), "--checkpoint", f"{last['pos']}:{'ab' * 32}")
    assert wrong.returncode == 1 and "checkpoint" in wrong.stdout
    assert runner.invoke(cli, ["audit", "export", "-o", str(out)]).exit_code == 2     # no --overwrite
    row, _ = _last_event(conn, "audit.export")
    assert row.actor.startswith("cli:")


def test_a_row_changed_by_a_superuser_is_named(conn, runner, tmp_path):
    seq = audit.append(conn, actor="S001", action="test.cli", opinion="原意见")
    after = audit.append(conn, actor="S001", action="test.cli.next")
    audit.seal(conn)
    _tamper(conn, seq)
    res = runner.invoke(cli, ["audit", "verify"])
    assert res.exit_code == 1, res.output
    assert f"first bad row: seq {seq}" in res.output
    assert f"seq {after}" not in res.output            # only the changed row is named
    out = tmp_path / "audit.jsonl"
    assert runner.invoke(cli, ["audit", "export", "-o", str(out)]).exit_code == 0
    done = _standalone(str(out))
    assert done.returncode == 1, done.stdout
    assert f"seq {seq}:" in done.stdout and "hash" in done.stdout
    bad_line = next(i for i, line in enumerate(out.read_text(encoding="utf-8").splitlines(), 1)
                    if json.loads(line)["seq"] == seq)
    assert f"line {bad_line}," in done.stdout


def test_standalone_verifier_names_unreadable_lines_and_gaps(tmp_path, conn, runner):
    out = tmp_path / "a.jsonl"
    audit.append(conn, actor="S001", action="test.cli")
    assert runner.invoke(cli, ["audit", "export", "-o", str(out)]).exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "b.jsonl"
    broken.write_text("\n".join(lines[:1] + ["{not json"] + lines[1:]) + "\n", encoding="utf-8")
    done = _standalone(str(broken))
    assert done.returncode == 2 and "line 2" in done.stderr
    if len(lines) >= 3:
        gap = tmp_path / "c.jsonl"
        gap.write_text("\n".join(lines[:1] + lines[2:]) + "\n", encoding="utf-8")
        done = _standalone(str(gap))
        assert done.returncode == 1 and "line 2" in done.stdout and "gap" in done.stdout
    assert _standalone(str(tmp_path / "missing.jsonl")).returncode == 2


def test_standalone_verifier_needs_only_the_standard_library():
    code = ("import sys, supervision.audit_verify; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'numpy', 'expro', 'psycopg2')]; "
            "assert not bad, bad")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True).returncode == 0


def test_checkpoint_is_stored_once_printed_and_checked_by_verify(conn, runner, tmp_path):
    today = china_today()
    audit.append(conn, actor="S001", action="test.cli")
    audit.seal(conn)
    cp, new = audit.checkpoint(conn, today, created_by="S009", today=today + dt.timedelta(days=1))
    assert new
    last = conn.execute(text("SELECT pos, seq, hash FROM audit_chain ORDER BY pos DESC LIMIT 1")).one()
    assert (cp.pos, cp.seq, cp.hash) == (last.pos, last.seq, bytes(last.hash))
    assert runner.invoke(cli, ["audit", "checkpoint", "--date", today.isoformat()]).exit_code == 2   # not ended
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    pdf = tmp_path / "cp.pdf"
    res = runner.invoke(cli, ["audit", "checkpoint", "--date", yesterday, "--pdf", str(pdf)])
    assert res.exit_code == 0, res.output
    assert "审计日志每日校验点" in res.output and "核对人签字" in res.output and "--checkpoint" in res.output
    assert pdf.read_bytes().startswith(b"%PDF")
    again = runner.invoke(cli, ["audit", "checkpoint", "--date", yesterday])
    assert "已存的校验点 / stored checkpoint" in again.output
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    conn.execute(text("SET LOCAL ROLE NONE"))
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    conn.execute(text("UPDATE audit_checkpoint SET hash = sha256(hash) WHERE day = :d"), {"d": today})
    conn.execute(text("SET LOCAL session_replication_role = origin"))
    conn.execute(text("SET LOCAL ROLE expro_app"))
    res = runner.invoke(cli, ["audit", "verify"])
    assert res.exit_code == 1 and f"checkpoint {today}" in res.output


# ---- every act from the command line appends an audit row in its own transaction -------------------------

def test_user_add_and_passwd_are_audited(conn, runner):
    res = runner.invoke(cli, ["user", "add", "A900", "--name", "审计员", "--role", "inspector", "--password", "pw-1234567"])
    assert res.exit_code == 0, res.output
    row, event = _last_event(conn, "user.add")
    assert row.object_key == "A900" and row.actor.startswith("cli:") and event["details"]["role"] == "inspector"
    res = runner.invoke(cli, ["user", "passwd", "A900", "--password", "pw-7654321"])
    assert res.exit_code == 0, res.output
    row, _ = _last_event(conn, "user.passwd")
    assert row.object_key == "A900"


def test_registry_import_is_audited(conn, runner, tmp_path):
    f = tmp_path / "registry.csv"
    f.write_bytes((HEADER + "\n".join(_rows(20)) + "\n").encode("utf-8"))
    res = runner.invoke(cli, ["registry", "import", str(f)])
    assert res.exit_code == 0, res.output
    row, event = _last_event(conn, "registry.import")
    assert event["details"]["rows"] == 20 and event["attachments"][0]["name"] == "registry.csv"
    assert row.actor.startswith("cli:")


def test_check_and_ortho_ingest_are_audited(conn, runner, canonical_project, make_tif):  # noqa: F811
    res = runner.invoke(cli, ["check", "--project", "T-001"])
    assert res.exit_code == 0, res.output
    row, event = _last_event(conn, "check.run")
    assert row.object_key == "T-001" and row.actor.startswith("cli:")
    assert event["details"]["total"] == sum(event["details"]["alerts"].values()) and event["details"]["rules"]
    tif = make_tif("flight.tif", width=300, height=200)
    res = runner.invoke(cli, ["ortho", "ingest", str(tif), "--project", "T-001", "--phase", "baseline",
                              "--captured-on", "2025-02-20"])
    assert res.exit_code == 0, res.output
    row, event = _last_event(conn, "orthophoto.ingest")
    assert row.object_key == res.output.split()[1].rstrip(":") and event["details"]["phase"] == "baseline"
    assert len(event["attachments"][0]["sha256"]) == 64


def test_round_one_rows_stay_verifiable_after_the_upgrade(fresh_database, runner, monkeypatch, tmp_path):
    """A database at 0013 with rows chained by round 1's trigger: after 0014 they verify, and the chain goes on."""
    from alembic import command
    from alembic.config import Config

    from expro import db
    from expro.settings import get_settings

    url = fresh_database.render_as_string(hide_password=False)
    with db.owner_engine(url).begin() as c:
        c.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        cfg = Config()
        cfg.set_main_option("script_location", str(db.migrations_dir()))
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0013")
        for action in ("old.one", "old.two"):
            c.execute(text("INSERT INTO audit_event (actor, action, event_bytes, prev_hash, hash) "
                           "VALUES ('r1', :a, :b, '\\x', '\\x')"),
                      {"a": action, "b": audit.canonical_bytes({"actor": "r1", "action": action, "details": {},
                                                                "object_type": None, "object_key": None})})
    with db.owner_engine(url).begin() as c:
        db.migrate(c)
    monkeypatch.setenv("EXPRO_DATABASE_URL", url)
    get_settings.cache_clear()
    res = runner.invoke(cli, ["audit", "verify"])
    assert res.exit_code == 0 and "intact: 2 " in res.output, res.output
    out = tmp_path / "a.jsonl"
    assert runner.invoke(cli, ["audit", "export", "-o", str(out)]).exit_code == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["action"] for r in records] == ["old.one", "old.two", "audit.verify"]
    assert _standalone(str(out)).returncode == 0
    db.engine_for(url).dispose()
