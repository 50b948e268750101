"""Run `reader` so that it stops itself (SIGSTOP) at a named point, for crash tests.

    python tests/stop_at.py POINT N reader-arguments...

The process stops the Nth time it reaches POINT; the test then looks at the site
and kills it with SIGKILL, as a crash or an operator's `kill -9` would. Imports use
worker processes however small they are, and index builds are split over processes
from 50 articles (Whoosh starts a build worker at the 100th), so that kills at those
points also test that the workers die with the process.
"""

from __future__ import annotations

import os
import signal
import sys

from readerapp import cli, search, store

# Where each point is: the function that runs there, in the `reader` process itself.
POINTS = {
    # Inside the import's one transaction, at a new article.
    "storing": (store.Store, "_free_slug"),
    # With the index writer open, at an article it is adding.
    "indexing": (search, "_fields"),
    # The index has committed the import; the archive does not know yet.
    "marking": (store.Store, "mark_indexed"),
    # A complete new index generation, not yet the current one.
    "swapping": (search.ArchiveIndex, "_swap_to"),
    # After the swap, before the old generation is deleted (the 2nd call).
    "cleaning": (search.ArchiveIndex, "remove_stale"),
}


def main() -> None:
    point, nth, *arguments = sys.argv[1:]
    owner, name = POINTS[point]
    original = getattr(owner, name)
    calls = 0

    def stopping(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == int(nth):
            os.kill(os.getpid(), signal.SIGSTOP)
        return original(*args, **kwargs)

    setattr(owner, name, stopping)
    cli.POOL_THRESHOLD = 0
    search.PARALLEL_BUILD = 50
    sys.argv = ["reader", *arguments]
    cli.main()


if __name__ == "__main__":
    main()
