"""Another service away for a while: notice it once, ask it seldom, say when it is back.

A node depends on two services it does not run: the store (PostgreSQL, when several
nodes share one) and the page cache (Redis). Either may restart, or be away for
seconds during a failover. Meanwhile a node must neither wait on it for every request
nor log a traceback per request: the first failure is logged, the service is then
asked by one request each RETRY_AFTER seconds (the rest act on what they know: a
miss, a kept page, a 503), and the first answer after the outage is logged with what
was done meanwhile. This is the circuit breaker of Nygard's "Release It!".
"""

from __future__ import annotations

import logging
import threading
import time


class Outage:
    """Whether a service is away, as the requests of one process have found it."""

    RETRY_AFTER = 1.0  # seconds between requests that ask a service found away

    def __init__(self, service: str, meanwhile: str, logger: logging.Logger) -> None:
        self.service = service  # who, for the log: "page cache (RedisCache)"
        self.meanwhile = meanwhile  # what requests do until it answers
        self.logger = logger
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._spared = 0  # requests that did without it during the outage

    @property
    def down(self) -> bool:
        """Tell whether the service was away when last asked."""
        return self._down_since is not None

    def down_for(self) -> float | None:
        """Return the seconds since the service was found away, None if it is up."""
        since = self._down_since
        return None if since is None else time.monotonic() - since

    def worth_asking(self) -> bool:
        """Return whether this request should ask the service: always, but during
        an outage one request each RETRY_AFTER (the others count as spared)."""
        if self._down_since is None:
            return True
        with self._lock:
            now = time.monotonic()
            if self._down_since is None or now >= self._retry_at:
                self._retry_at = now + self.RETRY_AFTER
                return True
            self._spared += 1
            return False

    def spared(self) -> None:
        """Count a request that did without the service it asked while away."""
        self._spared += 1  # under the GIL; a figure for the log, not exact

    def failed(self, error: BaseException) -> None:
        """Note that asking the service failed; log it if it was up until now."""
        with self._lock:
            self._retry_at = time.monotonic() + self.RETRY_AFTER
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
            self._spared = 0
        self.logger.warning(
            "%s unreachable, %s until it answers: %s: %s",
            self.service,
            self.meanwhile,
            type(error).__name__,
            error,
        )

    def answered(self) -> bool:
        """Note that the service answered; return True when that ends an outage."""
        if self._down_since is None:
            return False
        with self._lock:
            if self._down_since is None:
                return False
            outage = time.monotonic() - self._down_since
            spared, self._down_since = self._spared, None
        self.logger.warning(
            "%s answering again after %.1f s; %d requests did without it meanwhile",
            self.service,
            outage,
            spared,
        )
        return True
