"""Running ``expro`` as a user would: plain database URLs, a clean environment, a served app."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL


def libpq_url(url: URL, *, scheme: str = "postgresql", password: bool = False) -> str:
    """``url`` written the way psql and GDAL take it (``postgresql://user@host:port/db``)."""
    plain = url.set(drivername=scheme)
    if not password:
        plain = plain._replace(password=None)
    return plain.render_as_string(hide_password=False)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command to completion, output captured as text."""
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def served(expro: str, env: dict[str, str], cwd: Path, timeout_s: float = 60) -> Iterator[str]:
    """``expro serve`` started as a subprocess; yields its base URL once ``/health`` answers."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([expro, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"expro serve exited with {proc.returncode}:\n{log.read_text()}")
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"expro serve did not answer within {timeout_s:.0f} s:\n{log.read_text()}")
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the test run's EXPRO_*, PG* and PYTHONPATH variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXPRO_", "PG", "PYTHONPATH"))}
    env.update(extra)
    return env
