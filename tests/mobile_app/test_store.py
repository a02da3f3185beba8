"""The offline store survives a kill at any moment: nothing, or a complete capture (issue 12)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mobile_app.store import Store
from mobile_app.sync import Retry, token_expiry

ROOT = Path(__file__).resolve().parents[2]

#: A child that keeps one capture, then adds more and is killed at ``point`` (or by the parent, "loop").
CHILD = r"""
import contextlib, os, signal, sys
from pathlib import Path
from mobile_app import store as m

data, point, source = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
s = m.Store(data)
def add():
    return s.add_capture(source, project_code="T-001", household_no="H", stage_code="survey",
                         item_code="house_front_photo", kind="photo", lon=123.5, lat=41.7, accuracy_m=3.0,
                         suffix=".bin")
add()
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
real_replace, real_tx = os.replace, m.Store.transaction
def replace(a, b):
    if point == "before_rename":
        die()
    real_replace(a, b)
    if point == "after_rename":
        die()
@contextlib.contextmanager
def tx(self):
    with real_tx(self) as db:
        yield db
        if point == "before_commit":
            die()
m.os.replace = replace
m.Store.transaction = tx
print("ready", flush=True)
while True:
    add()
"""


def _child(data: Path, point: str, source: Path) -> subprocess.Popen:
    return subprocess.Popen(["nice", "-n", "5", sys.executable, "-c", CHILD, str(data), point, str(source)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)


def _check_complete(data: Path) -> int:
    """Every row's file is there with its SHA-256, no file without a row, no temporary file; how many."""
    with Store(data) as store:
        rows = store.captures()
        for c in rows:
            assert c.path.is_file() and hashlib.sha256(c.path.read_bytes()).hexdigest() == c.sha256
            assert c.size_bytes == c.path.stat().st_size and c.state == "pending"
        files = {p for p in store.files_dir.iterdir() if p.is_file()}
        assert files == {c.path for c in rows}
        assert list(store.tmp_dir.iterdir()) == []
        return len(rows)


@pytest.mark.parametrize("point", ["before_rename", "after_rename", "before_commit"])
def test_a_capture_killed_mid_write_leaves_no_half_row(tmp_path, point):
    source = tmp_path / "photo.bin"
    source.write_bytes(os.urandom(256 * 1024))
    proc = _child(tmp_path / "device", point, source)
    proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
    assert _check_complete(tmp_path / "device") == 1           # the first capture, whole; the killed one: nothing


def test_captures_killed_at_random_moments_are_whole_or_absent(tmp_path):
    source = tmp_path / "photo.bin"
    source.write_bytes(os.urandom(2 * 1024**2))
    total = 0
    for delay in (0.05, 0.13, 0.31):
        proc = _child(tmp_path / "device", "loop", source)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        count = _check_complete(tmp_path / "device")
        assert count > total
        total = count


def test_the_store_keeps_its_session_and_settings(tmp_path):
    with Store(tmp_path) as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2          # FULL
        store.save_session("http://x/", "S001", "a.eyJleHAiOjQxMDI0NDQ4MDB9.b", token_expiry(
            "a.eyJleHAiOjQxMDI0NDQ4MDB9.b"))
    with Store(tmp_path) as store:
        session = store.session()
        assert session is not None and session.server_url == "http://x" and session.expires_at == 4102444800
        assert not session.expired


def test_backoff_grows_with_jitter_and_honours_retry_after():
    retry = Retry(attempts=5, base_s=1.0, cap_s=8.0)
    delays = [retry.delay(n) for n in range(6) for _ in range(200)]
    assert all(0 <= d <= 8.0 for d in delays)
    assert max(retry.delay(0) for _ in range(200)) <= 1.0 < max(retry.delay(3) for _ in range(200))
    assert len({round(retry.delay(2), 6) for _ in range(50)}) > 10                # jittered
    assert retry.delay(0, "3") == 3.0 and retry.delay(0, "120") == 8.0            # Retry-After, capped


def test_recovery_never_removes_a_file_another_store_is_writing(tmp_path):
    from mobile_app.store import _file_lock

    with Store(tmp_path) as first:
        leftover = first.tmp_dir / "in-flight.part"
        with _file_lock(first.lock_path, exclusive=False):          # as add_capture holds it while writing
            leftover.write_bytes(b"half")
            Store(tmp_path).close()
            assert leftover.exists()
        Store(tmp_path).close()
        assert not leftover.exists()


def test_the_core_imports_no_kivy():
    code = ("import sys, mobile_app.store, mobile_app.gates, mobile_app.field, mobile_app.sync, mobile_app.cli; "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'kivy'], 'kivy imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
