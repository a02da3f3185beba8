"""A bounded in-memory cache of encoded tiles (least recently used out first), shared by a process's threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

#: Default budget of the encoded tiles kept (bytes).
DEFAULT_MAX_BYTES = 256 * 2**20


class TileCache:
    """Encoded tiles by key, at most ``max_bytes`` of them; the least recently used go first.

    Keys should carry what makes a tile stale (the COG's checksum), so that a re-ingested flight is
    never answered from its old tiles; ``drop`` frees a flight's entries early.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        """The tile under ``key`` (marked recently used), or None."""
        with self._lock:
            body = self._items.get(key)
            if body is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        """Keep ``body`` under ``key``, evicting the least recently used tiles beyond the budget."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = body
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted)

    def drop(self, prefix: tuple) -> int:
        """Forget every tile whose key (a tuple) starts with ``prefix``; returns how many."""
        n = len(prefix)
        with self._lock:
            stale = [k for k in self._items if isinstance(k, tuple) and k[:n] == prefix]
            for k in stale:
                self._bytes -= len(self._items.pop(k))
            return len(stale)

    @property
    def size_bytes(self) -> int:
        """Bytes of tiles held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
