"""Peak memory of a PostgreSQL backend (and its parallel workers), sampled from /proc.

Works when the server runs on this machine and /proc of its processes is readable (here: yes, the
benchmark runs as root next to the local cluster); otherwise ``available`` is False and nothing is
reported. RssAnon is the backend's private memory (work_mem, GEOS allocations, tuple stores); VmHWM
also counts the shared buffers the backend touched.
"""

from __future__ import annotations

import os
import resource
import threading
import time


def _status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS", "RssAnon"):
                out[name] = int(value.split()[0])  # kB
    return out


def _workers(leader: int) -> list[int]:
    needle = f"parallel worker for PID {leader}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if needle in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


class BackendMemory(threading.Thread):
    """Samples RssAnon of a backend (+ workers) every ``interval`` seconds until ``stop()``."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.available = os.access(f"/proc/{pid}/status", os.R_OK)
        self.peak_anon_kb = 0          # backend alone
        self.peak_total_anon_kb = 0    # backend + parallel workers at the same instant
        self.max_workers = 0
        self._halt = threading.Event()

    def run(self) -> None:
        tick = 0
        workers: list[int] = []
        while self.available and not self._halt.is_set():
            try:
                anon = _status(self.pid)["RssAnon"]
            except (OSError, KeyError):
                break
            if tick % 3 == 0:
                workers = _workers(self.pid)
            total = anon
            for w in workers:
                try:
                    total += _status(w).get("RssAnon", 0)
                except OSError:
                    pass
            self.max_workers = max(self.max_workers, len(workers))
            self.peak_anon_kb = max(self.peak_anon_kb, anon)
            self.peak_total_anon_kb = max(self.peak_total_anon_kb, total)
            tick += 1
            self._halt.wait(self.interval)

    def stop(self) -> dict:
        """Stop sampling; the figures in MB (None when /proc could not be read)."""
        self._halt.set()
        self.join()
        if not self.available:
            return {"backend_peak_anon_mb": None, "backend_hwm_mb": None, "backend_workers_peak_anon_mb": None,
                    "parallel_workers_seen": None}
        try:
            hwm = _status(self.pid)["VmHWM"] / 1024
        except (OSError, KeyError):
            hwm = None
        return {"backend_peak_anon_mb": self.peak_anon_kb / 1024, "backend_hwm_mb": hwm,
                "backend_workers_peak_anon_mb": self.peak_total_anon_kb / 1024,
                "parallel_workers_seen": self.max_workers}


def now() -> float:
    """A monotonic clock for timings."""
    return time.perf_counter()


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent across exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mb(pid: int) -> float | None:
    """VmHWM of a live process in MB (None when it is gone)."""
    try:
        return _status(pid)["VmHWM"] / 1024
    except (OSError, KeyError):
        return None
