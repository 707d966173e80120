"""Per-key request counting over a sliding minute (share link, client address).

Counted in this process: behind N replicas a key gets up to N times the limit, which is still a
limit; the point is to stop a script hammering one link or one address, not to meter anyone.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class SlidingWindow:
    def __init__(self, window_seconds: float = 60.0, clock=time.monotonic):
        self.window = window_seconds
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, limit: int) -> int:
        """0 if one more request for `key` is within `limit` (and it is counted), else the whole
        seconds until it would be."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle keys so a flood of addresses stays bounded
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}
            return 0
