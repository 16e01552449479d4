"""Server-side request batching in the style of TF Serving's batch scheduler.

Concurrent ``Batcher.submit`` calls are queued; worker threads merge queued rows into one call
of the model's batch function to amortise per-call overhead. Requests are grouped into FIFO
*lanes* by input signature (only identically shaped rows concatenate) and the lane with the
oldest head runs first, so one odd shape cannot starve the others.

With no batch timeout, a request that finds the model quiet (nothing queued, a batch slot free,
and the last few batches one row each with nothing queued behind them) runs on its caller's
thread: it would be a batch of one anyway, and handing it to a batch thread and back costs two
thread wake-ups (~0.13 ms on these machines, most of an idle request's overhead). Under load it
is handed over as before: the batch thread's wake-up is when the next requests join a batch,
and a caller starting a batch of one at once made them wait behind it instead (rows per model
call fell from 8 to 5 at 64 connections when only an idle slot was asked for).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from service.errors import (
    DeadlineExceeded,
    InternalError,
    InvalidInput,
    ResourceExhausted,
    Unavailable,
)

_log = logging.getLogger(__name__)

# Single-row batches with an empty queue behind them, in a row, before a caller may run its
# own: one such batch happens under load too, three in a row hardly ever.
QUIET_BATCHES = 3

BatchFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
Observer = Callable[[int, int, float], None]


def _check_int(field: str, value: object, minimum: int) -> None:
    # bool is an int subclass; True as a batch size is always a config mistake.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}, got {value!r}")


class BatcherClosed(Unavailable):
    """``submit`` on a closed batcher: its model version was unloaded after the caller
    resolved it. Callers holding the version may still run it unbatched."""


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching knobs (see batching_parameters in TF Serving's serving_config docs).

    ``batch_timeout_micros == 0`` means no waiting: whatever is queued runs as soon as a batch
    thread is free. Queue capacity is ``max_enqueued_batches * max_batch_size`` rows. If
    ``allowed_batch_sizes`` is set it must be strictly ascending and end with ``max_batch_size``;
    batches are then padded up to the next allowed size. Invalid values raise ``ValueError``
    naming the field.
    """

    max_batch_size: int = 64
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 64
    num_batch_threads: int = 1
    allowed_batch_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            _check_int(name, getattr(self, name), 1)
        _check_int("batch_timeout_micros", self.batch_timeout_micros, 0)
        sizes = self.allowed_batch_sizes
        if not isinstance(sizes, tuple | list):
            raise ValueError(f"allowed_batch_sizes must be a tuple of integers, got {sizes!r}")
        object.__setattr__(self, "allowed_batch_sizes", tuple(sizes))  # keep options hashable
        for size in sizes:
            _check_int("allowed_batch_sizes", size, 1)
        if any(a >= b for a, b in itertools.pairwise(sizes)):
            raise ValueError(f"allowed_batch_sizes must be strictly ascending, got {sizes!r}")
        if sizes and sizes[-1] != self.max_batch_size:
            raise ValueError(
                f"allowed_batch_sizes must end with max_batch_size={self.max_batch_size}, "
                f"got {sizes!r}"
            )


class _Request:
    """One ``submit`` call: the latch its caller blocks on and the per-chunk results."""

    __slots__ = ("cancelled", "error", "finished", "items", "latch", "parts", "pending")

    def __init__(self) -> None:
        # A pre-acquired Lock as one-shot latch: CPython's cheapest blocking primitive (an
        # Event wraps a Condition and a Lock). Released exactly once, when finished.
        self.latch = threading.Lock()
        self.latch.acquire()
        self.items: list[_Item] = []
        self.parts: list[dict[str, np.ndarray] | None] = []
        self.pending = 0
        self.error: BaseException | None = None
        self.finished = False
        self.cancelled = False  # queued chunks are dead: workers drop them unrun


@dataclass(slots=True, eq=False)
class _Item:
    """A queued chunk of at most ``max_batch_size`` rows of one request."""

    req: _Request
    index: int
    inputs: dict[str, np.ndarray]
    rows: int
    enqueued: float
    lane: _Lane | None = None
    taken: bool = False


@dataclass(slots=True, eq=False)
class _Lane:
    """FIFO of queued items sharing one input signature, with their live row count."""

    items: deque[_Item] = field(default_factory=deque)
    rows: int = 0


def _prepare(inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int, tuple]:
    """Validate one request; return its arrays, row count and batching signature."""
    if not inputs:
        raise InvalidInput("a batched request needs at least one input")
    arrays: dict[str, np.ndarray] = {}
    signature = []
    rows = -1
    for name, value in inputs.items():
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
        if arr.ndim == 0:
            raise InvalidInput(f"input {name!r} is a scalar; batched inputs need a batch dimension")
        if rows < 0:
            rows = arr.shape[0]
        elif arr.shape[0] != rows:
            raise InvalidInput(f"input {name!r} has {arr.shape[0]} rows, other inputs have {rows}")
        arrays[name] = arr
        # Fixed-width strings of different widths concatenate fine (numpy widens), and requests
        # built from JSON get a width per request; keying on the exact dtype would never batch.
        dtype = np.dtype(arr.dtype.kind) if arr.dtype.kind in "US" else arr.dtype
        signature.append((name, dtype, arr.shape[1:]))
    if rows == 0:
        raise InvalidInput("a batched request needs at least one row")
    signature.sort(key=lambda entry: entry[0])
    return arrays, rows, tuple(signature)


class Batcher:
    """Merges concurrent ``submit`` calls into calls of ``run_batch`` of at most
    ``max_batch_size`` rows, run by ``num_batch_threads`` daemon threads.

    ``run_batch`` receives a dict of arrays sharing dim 0 and must return a dict of arrays
    whose dim 0 equals that (padded) row count. ``observer(rows, padded_rows, oldest_wait_s)``
    is called once per executed batch, for metrics; its exceptions are logged and ignored.
    """

    def __init__(
        self,
        run_batch: BatchFn,
        options: BatchingOptions,
        name: str = "",
        observer: Observer | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._name = name
        self._observer = observer
        self._observer_failed = False
        self._max = options.max_batch_size
        self._timeout = options.batch_timeout_micros / 1e6
        self._capacity = options.max_enqueued_batches * options.max_batch_size
        # pad_to[rows] -> padded batch rows; a table avoids a search per batch.
        sizes = options.allowed_batch_sizes
        self._pad_to = [
            sizes[bisect.bisect_left(sizes, n)] if sizes else n for n in range(self._max + 1)
        ]
        # A plain Lock: Condition's default RLock costs more and nothing here re-enters.
        self._cond = threading.Condition(threading.Lock())
        self._lanes: dict[tuple, _Lane] = {}
        self._queued_rows = 0
        self._closed = False
        # Batches may run at once on the batch threads or, when idle, on a caller's thread;
        # this many more may start now. Guarded by _cond like the queue.
        self._free_slots = options.num_batch_threads
        # For callers deciding whether to run a batch themselves: the last batch's duration
        # (unknown until one has run) and how many quiet batches ran in a row.
        self._recent_run_s = math.inf
        self._quiet_batches = 0
        self._threads = [
            threading.Thread(target=self._worker, name=f"batcher-{name}-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def queued_rows(self) -> int:
        """Rows waiting to be batched (excluding batches already running)."""
        return self._queued_rows

    def submit(
        self, inputs: Mapping[str, np.ndarray], timeout: float | None = None
    ) -> dict[str, np.ndarray]:
        """Run ``inputs`` (arrays sharing dim 0) as part of a batch and return its outputs.

        Outputs have the request's rows, in order. When the model is quiet (see the module
        docstring) the batch of this request alone runs on the calling thread. Requests above
        ``max_batch_size`` rows are split into chunks and the results concatenated. Raises
        ``InvalidInput`` for malformed inputs, ``ResourceExhausted`` if the queue cannot take
        all rows (nothing is enqueued), ``DeadlineExceeded`` after ``timeout`` seconds (a late
        result is dropped), ``Unavailable`` once closed, and whatever ``run_batch`` raised for
        this batch.
        """
        if self._closed:
            raise BatcherClosed(f"batcher {self._name!r} is closed")
        arrays, rows, key = _prepare(inputs)
        if rows > self._capacity:  # would never fit: not a reason to retry later
            raise InvalidInput(
                f"the request has {rows} rows; model {self._name!r} takes at most "
                f"{self._capacity} rows per request (max_batch_size x max_enqueued_batches)"
            )
        if timeout is not None and timeout <= 0:
            raise DeadlineExceeded(f"batcher {self._name!r}: deadline expired before enqueueing")
        now = time.monotonic()
        req = _Request()
        if rows <= self._max:
            req.items.append(_Item(req, 0, arrays, rows, now))
        else:  # views, not copies: chunks are concatenated into a batch later anyway
            for i, start in enumerate(range(0, rows, self._max)):
                chunk = {n: a[start : start + self._max] for n, a in arrays.items()}
                req.items.append(_Item(req, i, chunk, min(self._max, rows - start), now))
        req.parts = [None] * len(req.items)
        req.pending = len(req.items)
        with self._cond:
            if self._closed:
                raise BatcherClosed(f"batcher {self._name!r} is closed")
            inline = (
                self._free_slots > 0
                and not self._timeout  # a batch timeout asks requests to wait for company
                and not self._queued_rows
                and len(req.items) == 1
                and self._quiet_batches >= QUIET_BATCHES
                # A caller cannot leave its own batch at its deadline, so it runs one only
                # when the last batch's duration says it will finish well within it; a run
                # that ends late anyway is answered DeadlineExceeded like a queued one.
                and (timeout is None or 2 * self._recent_run_s < timeout)
            )
            if inline:
                self._free_slots -= 1
            else:
                self._enqueue_locked(req, rows, key)
        if inline:
            try:
                self._execute(req.items, 0.0)
            finally:
                with self._cond:
                    self._free_slots += 1
                    if self._queued_rows:  # arrived meanwhile: a batch thread takes them
                        self._cond.notify()
            if timeout is not None and time.monotonic() - now > timeout:
                raise DeadlineExceeded(f"batcher {self._name!r}: no result within {timeout:.3f}s")
            return self._result(req)
        if timeout is None:
            req.latch.acquire()
        elif not req.latch.acquire(
            timeout=min(max(now + timeout - time.monotonic(), 0.0), threading.TIMEOUT_MAX)
        ):
            with self._cond:
                if not req.finished:  # else the result raced in: return it rather than drop it
                    self._cancel_locked(req)
                    raise DeadlineExceeded(
                        f"batcher {self._name!r}: no result within {timeout:.3f}s"
                    )
        return self._result(req)

    def _enqueue_locked(self, req: _Request, rows: int, key: tuple) -> None:
        if self._queued_rows + rows > self._capacity:
            raise ResourceExhausted(
                f"batcher {self._name!r} queue is full ({self._queued_rows} of "
                f"{self._capacity} rows queued, request has {rows})"
            )
        was_empty = self._queued_rows == 0
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        for item in req.items:
            item.lane = lane
        lane.items.extend(req.items)
        lane.rows += rows
        self._queued_rows += rows
        # Workers only sleep untimed on an empty queue, and a timed sleeper only needs
        # waking early if a batch became full; any other wakeup would be wasted.
        if was_empty or lane.rows >= self._max:
            self._cond.notify()

    @staticmethod
    def _result(req: _Request) -> dict[str, np.ndarray]:
        if req.error is not None:
            raise req.error
        if len(req.parts) == 1:
            return req.parts[0]  # type: ignore[return-value]
        first = req.parts[0]
        return {n: np.concatenate([part[n] for part in req.parts]) for n in first}  # type: ignore

    def close(self, drain: bool = True) -> None:
        """Stop accepting requests and stop the threads, waiting for running batches.

        ``drain=True`` runs everything already queued first; ``drain=False`` fails queued
        requests with ``Unavailable``. Idempotent.
        """
        dropped: list[_Item] = []
        with self._cond:
            self._closed = True
            if not drain:
                for lane in self._lanes.values():
                    for item in lane.items:
                        if not item.req.cancelled:
                            item.taken = True
                            dropped.append(item)
                self._lanes.clear()
                self._queued_rows = 0
            self._cond.notify_all()
        for item in dropped:
            self._deliver(item, None, Unavailable(f"batcher {self._name!r} closed"))
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:  # close() called from run_batch must not self-join
                thread.join()

    # -- worker side -------------------------------------------------------------------------

    def _worker(self) -> None:
        ran = False
        while (job := self._next_batch(ran)) is not None:
            self._execute(*job)
            ran = True

    def _next_batch(self, ran: bool) -> tuple[list[_Item], float] | None:
        """Block until a batch is due and a slot is free; return the batch with its oldest
        item's queue wait. ``ran``: this thread is giving back the slot of its last batch."""
        with self._cond:
            if ran:
                self._free_slots += 1
            while True:
                now = time.monotonic()
                if not self._free_slots:  # callers run the idle batches; wait for theirs
                    if self._closed and not self._queued_rows:
                        return None
                    self._cond.wait()
                    continue
                lane, wake_at = self._pick_locked(now)
                if lane is not None:
                    batch = self._take_locked(lane)
                    self._free_slots -= 1
                    if self._queued_rows:
                        self._cond.notify()  # let an idle peer start on the remainder
                    return batch, now - batch[0].enqueued
                if wake_at is not None:
                    self._cond.wait(wake_at - now)
                elif self._closed:
                    return None
                else:
                    self._cond.wait()

    def _pick_locked(self, now: float) -> tuple[_Lane | None, float | None]:
        """Return the lane to run now, or (None, when to look again; None = on notify)."""
        oldest: _Lane | None = None
        full: _Lane | None = None
        empty = []
        for key, lane in self._lanes.items():
            items = lane.items
            while items and items[0].req.cancelled:
                items.popleft()  # rows were already uncounted by _cancel_locked
            if not items:
                empty.append(key)
                continue
            head = items[0].enqueued
            if oldest is None or head < oldest.items[0].enqueued:
                oldest = lane
            if lane.rows >= self._max and (full is None or head < full.items[0].enqueued):
                full = lane
        for key in empty:
            del self._lanes[key]
        if oldest is None:
            return None, None
        deadline = oldest.items[0].enqueued + self._timeout
        if self._closed or deadline <= now:  # with timeout 0 the deadline has always passed
            return oldest, None
        if full is not None:  # a full batch never waits behind a filling one
            return full, None
        return None, deadline

    def _take_locked(self, lane: _Lane) -> list[_Item]:
        items = lane.items
        batch: list[_Item] = []
        rows = 0
        while items:
            item = items[0]
            if item.req.cancelled:
                items.popleft()
                continue
            if rows + item.rows > self._max:
                break  # stop rather than skip: a smaller later request must not overtake
            items.popleft()
            item.taken = True
            batch.append(item)
            rows += item.rows
        lane.rows -= rows  # an emptied lane is deleted by the next _pick_locked
        self._queued_rows -= rows
        return batch

    def _execute(self, batch: list[_Item], waited: float) -> None:
        rows = sum(item.rows for item in batch)
        padded = self._pad_to[rows]
        started = time.monotonic()
        try:
            outputs = self._check_outputs(
                self._run_batch(self._merge(batch, rows, padded)), rows, padded
            )
        except BaseException as exc:  # every waiter must wake up, whatever went wrong
            if isinstance(exc, InvalidInput) and len({id(item.req) for item in batch}) > 1:
                # The model refused the data of a batch that merges several requests (e.g. an
                # assertion in the graph on one row): a client whose rows were valid must not
                # get another client's 400. Run each request alone, so only the culprit
                # fails; one model call per request, on this path only.
                for item in batch:
                    if not item.req.finished:
                        self._execute([item], waited)
                return
            for item in batch:
                self._deliver(item, None, exc)
        else:
            self._recent_run_s = time.monotonic() - started
            # Read without the lock: a heuristic, and a stale count only delays a hand-off.
            quiet = rows == 1 and not self._queued_rows
            self._quiet_batches = self._quiet_batches + 1 if quiet else 0
            if len(batch) == 1 and padded == rows:
                self._deliver(batch[0], outputs, None)
            else:
                start = 0
                for item in batch:
                    end = start + item.rows
                    self._deliver(item, {n: a[start:end] for n, a in outputs.items()}, None)
                    start = end
        if self._observer is not None:  # after delivery: metrics stay off the latency path
            try:
                self._observer(rows, padded, waited)
            except Exception:
                if not self._observer_failed:  # log once; a broken metric must not flood logs
                    self._observer_failed = True
                    _log.exception("batcher %r: observer failed (logged once)", self._name)

    @staticmethod
    def _merge(batch: list[_Item], rows: int, padded: int) -> dict[str, np.ndarray]:
        if len(batch) == 1 and padded == rows:
            return batch[0].inputs  # the idle-server case: no copy at all
        merged = {}
        for name, first in batch[0].inputs.items():
            parts = [item.inputs[name] for item in batch]
            if padded > rows:  # repeat the first row; broadcast_to avoids a temporary copy
                parts.append(np.broadcast_to(first[:1], (padded - rows, *first.shape[1:])))
            merged[name] = np.concatenate(parts)
        return merged

    def _check_outputs(self, outputs: object, rows: int, padded: int) -> dict[str, np.ndarray]:
        if not isinstance(outputs, Mapping):
            raise InternalError(
                f"batch function of batcher {self._name!r} returned "
                f"{type(outputs).__name__}, expected a dict of arrays"
            )
        checked = {}
        for name, value in outputs.items():
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
            got = arr.shape[0] if arr.ndim else "no batch dimension"
            if got != padded:
                raise InternalError(
                    f"batch output {name!r} has {got} rows, expected {padded} "
                    f"(batch of {rows} real rows padded to {padded})"
                )
            checked[name] = arr
        return checked

    def _deliver(
        self, item: _Item, outputs: dict[str, np.ndarray] | None, error: BaseException | None
    ) -> None:
        req = item.req
        if len(req.parts) == 1:
            # Single-chunk request: only the thread that took the item can get here, so no
            # lock. Set parts/error before finished: a timed-out waiter reads them if finished.
            req.parts[0], req.error = outputs, error
            req.finished = True
            req.latch.release()
            return
        with self._cond:  # chunks may complete on several threads at once
            if req.finished:
                return
            if error is not None:
                req.error = error
                self._cancel_locked(req)  # one failed chunk fails the request: drop the rest
            else:
                req.parts[item.index] = outputs
                req.pending -= 1
                if req.pending:
                    return
                req.finished = True
        req.latch.release()

    def _cancel_locked(self, req: _Request) -> None:
        """Mark ``req`` finished and un-count its still-queued rows (workers skip them)."""
        req.finished = req.cancelled = True
        for item in req.items:
            if not item.taken:
                item.lane.rows -= item.rows  # type: ignore[union-attr]
                self._queued_rows -= item.rows
