"""Hot loads that leave the CPU and the GIL to the requests being served meanwhile.

A version loaded while a worker serves (a hot reload) costs ~0.25 s of CPU for the tiny
sentiment model, in every worker at once, since each loads its own copy: on 2 cores, the
whole machine for that moment. Two things keep it from the requests of other models:

- **Workers take turns.** One hot load at a time across the workers that share the state
  directory (an exclusive ``flock`` on a file in it), so a request always has a core that
  no load is using. Loads at start are not serialised: nothing is served yet, and in
  parallel they finish sooner.
- **The GIL changes hands every 0.5 ms, not 5 ms**, while a worker loads. Importing the
  graph runs TensorFlow's Python op wrappers with the GIL held; at CPython's default
  interval a request thread waits up to 5 ms per hand-over, several per request.

Measured with tests/test_isolation.py (digits p99 while sentiment reloads back to back,
interleaved runs, when the test still polled /metrics): 24-31 ms without either, 20-26 ms
with both. The graph import, one C call that held the GIL for 9-23 ms per load, now goes in
parts (service/graph_import.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOADING_SWITCH_INTERVAL_S = 0.0005


class LoadTurns:
    """One hot load at a time among the processes that share ``directory``.

    ``directory`` None (one process, e.g. tests) turns the cross-worker lock off; the
    switch interval still applies. A turn is waited for at most ``wait_s``: a worker stuck
    in a load must not stop the others from ever loading, so past it the load goes ahead.
    """

    def __init__(self, directory: Path | None, wait_s: float = 60.0):
        self.path = Path(directory) / "model-loads.lock" if directory else None
        self.wait_s = wait_s

    @contextlib.contextmanager
    def hot_load(self) -> Iterator[None]:
        """Hold the turn and the short GIL interval for the body (one version's load).

        Not reentrant across threads of one process: the repository's own lock already
        serialises its loads, so one process never sets the interval twice at once.
        """
        with self._turn():
            previous = sys.getswitchinterval()
            sys.setswitchinterval(LOADING_SWITCH_INTERVAL_S)
            try:
                yield
            finally:
                sys.setswitchinterval(previous)

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        with open(self.path, "a") as lock_file:  # the lock goes with the fd, also on SIGKILL
            deadline = time.monotonic() + self.wait_s
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        log.warning(
                            "another worker has been loading for over %.0f s; loading anyway",
                            self.wait_s,
                        )
                        break
                    time.sleep(0.01)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
