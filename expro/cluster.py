"""The project-local PostGIS cluster under ``.expro/`` (used when EXPRO_DATABASE_URL is unset).

As root, PostgreSQL refuses to run (initdb and postgres check the effective uid), so the
cluster is owned and run by an unprivileged user (``postgres`` when it exists, otherwise a
system user ``expro`` created here). When that user cannot reach ``.expro/`` (a clone under
a root-only home), the cluster lives under ``/var/lib/expro/<hash>`` and ``.expro/cluster``
is a symlink to it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from expro.errors import ClusterError

PG_MAJOR_PREFERRED = ("15", "16", "17", "14", "13")
POSTGIS_PACKAGE = "postgresql-{major}-postgis-3"
DB_NAME = "expro"
DB_USER = "expro"


@dataclass(frozen=True)
class ClusterInfo:
    """Where the local cluster lives and how to reach it."""

    home: Path
    root: Path
    data_dir: Path
    log_file: Path
    port: int
    password: str
    bindir: Path
    run_as: str | None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the project database."""
        return f"postgresql+psycopg2://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def find_bindir() -> tuple[str, Path]:
    """The newest supported PostgreSQL major version installed and its bin directory."""
    for major in PG_MAJOR_PREFERRED:
        bindir = Path(f"/usr/lib/postgresql/{major}/bin")
        if (bindir / "initdb").exists():
            return major, bindir
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        bindir = Path(found[-1]).parent
        return bindir.parent.name, bindir
    raise ClusterError(
        "PostgreSQL server binaries were not found (looked in /usr/lib/postgresql/*/bin). "
        "Install them with: apt-get install postgresql-15 postgresql-15-postgis-3, "
        "or set EXPRO_DATABASE_URL to an existing PostGIS database.")


def postgis_installed(major: str) -> bool:
    """Whether the PostGIS extension files exist for this PostgreSQL major version."""
    return bool(glob.glob(f"/usr/share/postgresql/{major}/extension/postgis.control"))


def ensure_postgis(major: str) -> None:
    """Install PostGIS with apt-get when it is missing and we may; otherwise say what to install."""
    if postgis_installed(major):
        return
    package = POSTGIS_PACKAGE.format(major=major)
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        raise ClusterError(
            f"PostGIS is not installed for PostgreSQL {major}. Install it with:\n"
            f"    sudo apt-get update && sudo apt-get install -y {package}\n"
            "or set EXPRO_DATABASE_URL to an existing PostGIS database.")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _log(f"PostGIS missing: installing {package} with apt-get ...")
    install = prefix + ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(prefix + ["apt-get", "update"], env=env, check=False)
        if subprocess.run(install, env=env).returncode != 0:
            raise ClusterError(f"apt-get could not install {package}; install it by hand and retry.")
    if not postgis_installed(major):
        raise ClusterError(f"{package} was installed but postgis.control is still missing")


def _run_as_user() -> str | None:
    """The unprivileged user that owns and runs the cluster (None: the current user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "expro"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "expro"],
                   check=True)
    return "expro"


def _as_user(cmd: list[str], user: str | None, **kw) -> subprocess.CompletedProcess:
    if user is None:
        return subprocess.run(cmd, cwd="/", **kw)
    return subprocess.run(["runuser", "-u", user, "--"] + cmd, cwd="/", **kw)


def _chown(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _user_can_reach(path: Path, user: str | None) -> bool:
    if user is None:
        return True
    return _as_user(["test", "-r", str(path), "-a", "-w", str(path), "-a", "-x", str(path)],
                    user, capture_output=True).returncode == 0


def _free_port(preferred: int) -> int:
    for port in list(range(preferred, preferred + 200)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ClusterError("no free TCP port found for the local PostgreSQL cluster")


def _state_file(home: Path) -> Path:
    return home / "cluster.json"


def _load_state(home: Path) -> dict | None:
    path = _state_file(home)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def cluster_info(home: Path, port: int | None = None) -> ClusterInfo | None:
    """The local cluster recorded under ``home`` (None when it has not been created)."""
    state = _load_state(home)
    if state is None:
        return None
    _, bindir = find_bindir()
    root = Path(state["root"])
    return ClusterInfo(home=home, root=root, data_dir=root / "data", log_file=root / "postgres.log",
                       port=int(port or state["port"]), password=state["password"], bindir=bindir,
                       run_as=state.get("run_as"))


def _prepare_root(home: Path, user: str | None) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    local = home / "cluster"
    if local.is_symlink() or local.exists():
        return local.resolve()
    local.mkdir()
    _chown(local, user)
    if _user_can_reach(local, user):
        return local
    # a clone under a root-only home: keep the cluster where the user can reach it
    local.rmdir()
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    outside = Path("/var/lib/expro") / digest
    outside.mkdir(parents=True, exist_ok=True)
    os.chmod(outside.parent, 0o755)
    _chown(outside, user)
    local.symlink_to(outside)
    _log(f"{user} cannot reach {home}: the cluster lives in {outside} (linked from {local})")
    return outside


def is_running(info: ClusterInfo) -> bool:
    """Whether the cluster's postmaster is running."""
    if not (info.data_dir / "PG_VERSION").exists():
        return False
    res = _as_user([str(info.bindir / "pg_ctl"), "status", "-D", str(info.data_dir)], info.run_as,
                   capture_output=True)
    return res.returncode == 0


def _wait_ready(info: ClusterInfo, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        res = subprocess.run([str(info.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(info.port)],
                             capture_output=True)
        if res.returncode == 0:
            return
        time.sleep(0.2)
    raise ClusterError(f"PostgreSQL did not accept connections within {timeout_s:.0f} s; see {info.log_file}")


def up(home: Path, port: int | None = None) -> ClusterInfo:
    """Create (once) and start the local cluster; return how to reach it. Idempotent."""
    major, bindir = find_bindir()
    ensure_postgis(major)
    info = cluster_info(home, port)
    if info is None or not (info.data_dir / "PG_VERSION").exists():
        info = _init(home, bindir, port)
    if not is_running(info):
        _start(info)
    _wait_ready(info)
    _ensure_database(info)
    return info


def _init(home: Path, bindir: Path, port: int | None) -> ClusterInfo:
    user = _run_as_user()
    root = _prepare_root(home, user)
    data_dir = root / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    state = _load_state(home) or {}
    password = state.get("password") or secrets.token_urlsafe(24)
    chosen = port or state.get("port") or _free_port(
        54320 + int(hashlib.sha256(str(home.resolve()).encode()).hexdigest(), 16) % 500)
    pwfile = root / ".pwfile"
    pwfile.write_text(password + "\n", encoding="utf-8")
    os.chmod(pwfile, 0o600)
    _chown(pwfile, user)
    try:
        _log(f"creating the PostgreSQL cluster in {data_dir} ...")
        res = _as_user([str(bindir / "initdb"), "-D", str(data_dir), "-U", DB_USER, "--pwfile", str(pwfile),
                        "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8",
                        "--locale=C.UTF-8"], user, capture_output=True, text=True)
        if res.returncode != 0:
            raise ClusterError(f"initdb failed:\n{res.stdout}\n{res.stderr}")
    finally:
        pwfile.unlink(missing_ok=True)
    conf = data_dir / "postgresql.auto.conf"
    with conf.open("a", encoding="utf-8") as fh:
        fh.write("\n".join([
            f"port = {chosen}",
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "shared_buffers = '512MB'",
            "work_mem = '64MB'",
            "maintenance_work_mem = '512MB'",
            "max_wal_size = '4GB'",
            "synchronous_commit = off",
            "max_connections = 50",
            "",
        ]))
    home_state = {"root": str(root), "port": chosen, "password": password, "run_as": user}
    state_path = _state_file(home)
    state_path.write_text(json.dumps(home_state, indent=2), encoding="utf-8")
    os.chmod(state_path, 0o600)
    return ClusterInfo(home=home, root=root, data_dir=data_dir, log_file=root / "postgres.log", port=chosen,
                       password=password, bindir=bindir, run_as=user)


def _start(info: ClusterInfo) -> None:
    _log(f"starting PostgreSQL on 127.0.0.1:{info.port} ...")
    res = _as_user([str(info.bindir / "pg_ctl"), "start", "-D", str(info.data_dir), "-l", str(info.log_file),
                    "-w", "-t", "60", "-o", f"-p {info.port}"], info.run_as, capture_output=True, text=True)
    if res.returncode != 0:
        tail = ""
        if info.log_file.exists():
            tail = "\n".join(info.log_file.read_text(errors="replace").splitlines()[-15:])
        raise ClusterError(f"pg_ctl start failed:\n{res.stdout}{res.stderr}\n{tail}")


def _ensure_database(info: ClusterInfo) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=info.port, user=DB_USER, password=info.password,
                            dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        conn.close()


def down(home: Path) -> bool:
    """Stop the local cluster; return whether it was running."""
    info = cluster_info(home)
    if info is None or not is_running(info):
        return False
    res = _as_user([str(info.bindir / "pg_ctl"), "stop", "-D", str(info.data_dir), "-m", "fast", "-w"],
                   info.run_as, capture_output=True, text=True)
    if res.returncode != 0:
        raise ClusterError(f"pg_ctl stop failed:\n{res.stdout}{res.stderr}")
    return True
