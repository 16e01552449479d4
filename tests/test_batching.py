"""Tests for service.batching: batch formation, padding, errors, limits and a stress run."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from service.batching import QUIET_BATCHES, Batcher, BatchingOptions
from service.errors import (
    DeadlineExceeded,
    InternalError,
    InvalidInput,
    ResourceExhausted,
    Unavailable,
)

Arrays = dict[str, np.ndarray]


def double(inputs: Arrays) -> Arrays:
    return {"y": inputs["x"] * 2}


class Recorder:
    """Batch fn wrapper that records every batch and can hold calls at a gate."""

    def __init__(self, fn: Callable[[Arrays], Arrays] = double, gated: bool = False) -> None:
        self.fn = fn
        self.calls: list[Arrays] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()

    def __call__(self, inputs: Arrays) -> Arrays:
        self.calls.append({k: np.array(v, copy=True) for k, v in inputs.items()})
        self.entered.set()
        assert self.gate.wait(10), "test gate never opened"
        return self.fn(inputs)

    @property
    def sizes(self) -> list[int]:
        return [len(next(iter(call.values()))) for call in self.calls]


def quieten(batcher: Batcher) -> None:
    """Run the single-row batches after which an idle caller runs its own."""
    for _ in range(QUIET_BATCHES):
        batcher.submit({"x": col(0)})


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def col(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32).reshape(-1, 1)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=16) as executor:
        yield executor


@pytest.fixture
def make() -> Iterator[Callable[..., Batcher]]:
    created: list[Batcher] = []

    def factory(fn: Callable[[Arrays], Arrays], **options: object) -> Batcher:
        observer = options.pop("observer", None)
        batcher = Batcher(fn, BatchingOptions(**options), name="t", observer=observer)
        created.append(batcher)
        return batcher

    yield factory
    for batcher in created:
        batcher.close(drain=False)


def block_with(batcher: Batcher, rec: Recorder, pool: ThreadPoolExecutor) -> Future:
    """Occupy the (single) batch thread with a 1-row request held at the recorder's gate."""
    blocker = pool.submit(batcher.submit, {"x": col(-1)})
    assert rec.entered.wait(5)
    return blocker


def enqueue(batcher: Batcher, pool: ThreadPoolExecutor, inputs: Arrays, **kw: object) -> Future:
    """Submit from a pool thread and wait until its rows are queued, fixing FIFO order."""
    before = batcher.queued_rows
    rows = len(next(iter(inputs.values())))
    future = pool.submit(batcher.submit, inputs, **kw)
    wait_until(lambda: batcher.queued_rows == before + rows)
    return future


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_batch_size": True}, "max_batch_size"),
        ({"batch_timeout_micros": -1}, "batch_timeout_micros"),
        ({"max_enqueued_batches": 0}, "max_enqueued_batches"),
        ({"num_batch_threads": 0}, "num_batch_threads"),
        ({"num_batch_threads": 1.5}, "num_batch_threads"),
        ({"max_batch_size": 8, "allowed_batch_sizes": (4, 2, 8)}, "allowed_batch_sizes"),
        ({"max_batch_size": 8, "allowed_batch_sizes": (2, 4)}, "allowed_batch_sizes"),
        ({"max_batch_size": 8, "allowed_batch_sizes": (0, 8)}, "allowed_batch_sizes"),
        ({"allowed_batch_sizes": 64}, "allowed_batch_sizes"),
    ],
)
def test_options_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BatchingOptions(**kwargs)


def test_options_accept_valid_values() -> None:
    options = BatchingOptions(max_batch_size=8, allowed_batch_sizes=[2, 4, 8])  # type: ignore
    assert options.allowed_batch_sizes == (2, 4, 8)
    assert hash(options)  # normalised to a tuple, so still hashable


def test_rows_keep_order_within_and_across_requests(make, pool) -> None:
    rec = Recorder(gated=True)
    batcher = make(rec, max_batch_size=16)
    blocker = block_with(batcher, rec, pool)
    requests = [col(1, 2, 3), col(4), col(5, 6)]
    futures = [enqueue(batcher, pool, {"x": x}) for x in requests]
    rec.gate.set()
    assert blocker.result(5)["y"].tolist() == [[-2]]
    for x, future in zip(requests, futures, strict=True):
        np.testing.assert_array_equal(future.result(5)["y"], x * 2)
    assert rec.sizes == [1, 6]  # all three queued requests went into a single call, in order
    np.testing.assert_array_equal(rec.calls[1]["x"], np.concatenate(requests))


def test_single_request_is_passed_through_without_copy(make) -> None:
    seen: list[np.ndarray] = []

    def fn(inputs: Arrays) -> Arrays:
        seen.append(inputs["x"])
        return {"y": inputs["x"] + 1}

    x = col(1, 2)
    out = make(fn).submit({"x": x})
    assert seen[0] is x
    np.testing.assert_array_equal(out["y"], x + 1)


def test_oversized_request_is_split_and_reassembled(make) -> None:
    rec = Recorder(lambda inputs: {"y": inputs["x"] * 2, "n": np.arange(len(inputs["x"]))})
    batcher = make(rec, max_batch_size=4, max_enqueued_batches=3)
    x = np.arange(10, dtype=np.int64).reshape(10, 1)
    out = batcher.submit({"x": x})
    assert rec.sizes == [4, 4, 2]
    np.testing.assert_array_equal(out["y"], x * 2)
    assert out["n"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert batcher.queued_rows == 0


def test_padding_to_allowed_batch_sizes(make) -> None:
    observed: list[tuple[int, int]] = []
    rec = Recorder()
    batcher = make(
        rec,
        max_batch_size=8,
        allowed_batch_sizes=(2, 4, 8),
        observer=lambda rows, padded, wait: observed.append((rows, padded)),
    )
    out = batcher.submit({"x": col(1, 2, 3)})
    np.testing.assert_array_equal(out["y"], col(2, 4, 6))
    assert rec.sizes == [4]
    np.testing.assert_array_equal(rec.calls[0]["x"], col(1, 2, 3, 1))  # padded with row 0
    out = batcher.submit({"x": col(*range(5))})
    assert out["y"].shape == (5, 1)
    assert rec.sizes == [4, 8]
    out = batcher.submit({"x": col(7, 8)})
    assert rec.sizes == [4, 8, 2]
    assert observed == [(3, 4), (5, 8), (2, 2)]


def test_padding_when_merging_several_requests(make, pool) -> None:
    rec = Recorder(gated=True)
    batcher = make(rec, max_batch_size=8, allowed_batch_sizes=(1, 4, 8))
    block_with(batcher, rec, pool)
    first = enqueue(batcher, pool, {"x": col(10, 11)})
    second = enqueue(batcher, pool, {"x": col(12, 13, 14)})
    rec.gate.set()
    np.testing.assert_array_equal(first.result(5)["y"], col(20, 22))
    np.testing.assert_array_equal(second.result(5)["y"], col(24, 26, 28))
    assert rec.sizes == [1, 8]
    np.testing.assert_array_equal(rec.calls[1]["x"], col(10, 11, 12, 13, 14, 10, 10, 10))


def test_lone_request_waits_for_batch_timeout(make) -> None:
    batcher = make(double, max_batch_size=8, batch_timeout_micros=20_000)
    start = time.monotonic()
    out = batcher.submit({"x": col(1)})
    elapsed = time.monotonic() - start
    np.testing.assert_array_equal(out["y"], col(2))
    assert 0.019 <= elapsed < 1.0


def test_full_batch_runs_without_waiting_for_timeout(make, pool) -> None:
    rec = Recorder()
    batcher = make(rec, max_batch_size=4, batch_timeout_micros=5_000_000)
    start = time.monotonic()
    assert batcher.submit({"x": col(1, 2, 3, 4)})["y"].shape == (4, 1)
    first = pool.submit(batcher.submit, {"x": col(5, 6)})
    wait_until(lambda: batcher.queued_rows == 2)
    second = pool.submit(batcher.submit, {"x": col(7, 8)})  # completes the batch: no waiting
    np.testing.assert_array_equal(first.result(5)["y"], col(10, 12))
    np.testing.assert_array_equal(second.result(5)["y"], col(14, 16))
    assert time.monotonic() - start < 2.0  # far below the 5 s batch timeout
    assert rec.sizes == [4, 4]


def test_batch_error_fails_exactly_that_batch_or_its_culprit(make, pool) -> None:
    def fn(inputs: Arrays) -> Arrays:
        if (inputs["x"] == 666).any():
            raise InvalidInput("poisoned batch")
        if (inputs["x"] == 777).any():
            raise KeyError("not a serving error")
        return double(inputs)

    rec = Recorder(fn, gated=True)
    batcher = make(rec, max_batch_size=2)
    block_with(batcher, rec, pool)
    futures = [enqueue(batcher, pool, {"x": col(v)}) for v in (666, 1, 2, 3, 777, 4)]
    rec.gate.set()
    # a client error (InvalidInput) in a merged batch: each request re-runs alone, so only
    # the one carrying the bad row fails; any other error fails exactly its batch
    with pytest.raises(InvalidInput, match="poisoned batch"):
        futures[0].result(5)
    np.testing.assert_array_equal(futures[1].result(5)["y"], col(2))
    np.testing.assert_array_equal(futures[2].result(5)["y"], col(4))
    np.testing.assert_array_equal(futures[3].result(5)["y"], col(6))
    for future in futures[4:]:
        with pytest.raises(KeyError, match="not a serving error"):
            future.result(5)
    assert rec.sizes == [1, 2, 1, 1, 2, 2]
    np.testing.assert_array_equal(batcher.submit({"x": col(5)})["y"], col(10))


def test_failing_chunk_fails_whole_split_request(make) -> None:
    def fn(inputs: Arrays) -> Arrays:
        if (inputs["x"] == 5).any():
            raise RuntimeError("chunk failed")
        return double(inputs)

    batcher = make(fn, max_batch_size=2)
    with pytest.raises(RuntimeError, match="chunk failed"):
        batcher.submit({"x": col(1, 2, 3, 4, 5, 6, 7)})
    assert batcher.queued_rows == 0
    np.testing.assert_array_equal(batcher.submit({"x": col(1)})["y"], col(2))


def test_wrong_output_rows_raise_internal_error(make) -> None:
    batcher = make(lambda inputs: {"good": inputs["x"], "bad": inputs["x"][:1]}, max_batch_size=4)
    with pytest.raises(InternalError, match=r"'bad' has 1 rows, expected 3"):
        batcher.submit({"x": col(1, 2, 3)})
    with pytest.raises(InternalError, match="expected a dict"):
        make(lambda inputs: [inputs["x"]]).submit({"x": col(1)})


def test_queue_full_rejects_whole_request(make, pool) -> None:
    rec = Recorder(gated=True)
    batcher = make(rec, max_batch_size=2, max_enqueued_batches=2)  # capacity: 4 rows
    block_with(batcher, rec, pool)
    queued = enqueue(batcher, pool, {"x": col(1, 2, 3)})
    with pytest.raises(ResourceExhausted, match="queue is full"):
        batcher.submit({"x": col(4, 5)})
    assert batcher.queued_rows == 3  # nothing of the rejected request was enqueued
    last = enqueue(batcher, pool, {"x": col(6)})
    with pytest.raises(ResourceExhausted):
        batcher.submit({"x": col(7)})
    rec.gate.set()
    np.testing.assert_array_equal(queued.result(5)["y"], col(2, 4, 6))
    np.testing.assert_array_equal(last.result(5)["y"], col(12))
    assert 8 not in np.concatenate([c["x"] for c in rec.calls])


def test_submit_timeout_raises_and_drops_queued_rows(make, pool) -> None:
    rec = Recorder(gated=True)
    batcher = make(rec, max_batch_size=4)
    block_with(batcher, rec, pool)
    before = enqueue(batcher, pool, {"x": col(1)})
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        batcher.submit({"x": col(42, 43)}, timeout=0.05)
    assert time.monotonic() - start >= 0.045
    assert batcher.queued_rows == 1  # the expired request no longer holds queue capacity
    after = enqueue(batcher, pool, {"x": col(3)})
    rec.gate.set()
    np.testing.assert_array_equal(before.result(5)["y"], col(2))
    np.testing.assert_array_equal(after.result(5)["y"], col(6))
    np.testing.assert_array_equal(rec.calls[1]["x"], col(1, 3))  # expired rows never ran
    assert rec.sizes == [1, 2]
    assert batcher.queued_rows == 0
    with pytest.raises(DeadlineExceeded):
        batcher.submit({"x": col(1)}, timeout=0)


def test_submit_timeout_while_batch_is_running(make) -> None:
    release = threading.Event()

    def slow(inputs: Arrays) -> Arrays:
        release.wait(5)
        return double(inputs)

    batcher = make(slow)
    with pytest.raises(DeadlineExceeded):
        batcher.submit({"x": col(1)}, timeout=0.05)
    release.set()
    np.testing.assert_array_equal(batcher.submit({"x": col(3)}, timeout=5)["y"], col(6))


def test_a_quiet_models_request_runs_on_its_callers_thread(make, pool) -> None:
    threads: list[str] = []
    rec = Recorder(gated=True)

    def fn(inputs: Arrays) -> Arrays:
        threads.append(threading.current_thread().name)
        return rec(inputs)

    batcher = make(fn, max_batch_size=8)
    rec.gate.set()
    quieten(batcher)
    assert threads == ["batcher-t-0"] * QUIET_BATCHES  # quiet, but not yet for long enough
    me = threading.current_thread().name
    for value in (1, 2):
        np.testing.assert_array_equal(
            batcher.submit({"x": col(value)}, timeout=5)["y"], col(2 * value)
        )
    assert threads[QUIET_BATCHES:] == [me, me]

    # Load returns: a batch of several requests ends the quiet spell, so the next request
    # is handed to the batch thread, whose wake-up lets company join its batch.
    rec.gate.clear()
    blocker = block_with(batcher, rec, pool)
    queued = [enqueue(batcher, pool, {"x": col(v)}) for v in (3, 4)]
    rec.gate.set()
    assert blocker.result(5)["y"].item() == -2 and [f.result(5)["y"].item() for f in queued] == [
        6,
        8,
    ]
    del threads[:]
    batcher.submit({"x": col(5)})
    assert threads == ["batcher-t-0"]


def test_requests_behind_a_callers_batch_queue_for_one_batch_thread(make, pool) -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    rec = Recorder(gated=True)

    def fn(inputs: Arrays) -> Arrays:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return rec(inputs)
        finally:
            with lock:
                running -= 1

    batcher = make(fn, max_batch_size=8)
    rec.gate.set()
    quieten(batcher)
    rec.gate.clear()
    rec.entered.clear()
    caller = pool.submit(batcher.submit, {"x": col(1)})
    assert rec.entered.wait(5)  # the caller's own batch is running, on its thread
    queued = [enqueue(batcher, pool, {"x": col(v)}) for v in (2, 3, 4)]
    time.sleep(0.05)
    assert batcher.queued_rows == 3  # the batch thread waits for the slot the caller holds
    rec.gate.set()
    assert caller.result(5)["y"].item() == 2
    assert [f.result(5)["y"].item() for f in queued] == [4, 6, 8]
    assert rec.sizes == [1] * QUIET_BATCHES + [1, 3]  # the three waiters became one batch
    assert most == 1  # num_batch_threads=1: never two model calls at once


def test_with_a_batch_timeout_or_a_tight_deadline_idle_requests_wait_for_the_batch_thread(
    make,
) -> None:
    threads: list[str] = []

    def record(inputs: Arrays) -> Arrays:
        threads.append(threading.current_thread().name)
        return double(inputs)

    waiting = make(record, batch_timeout_micros=1_000)
    quieten(waiting)
    waiting.submit({"x": col(1)})
    assert threads == ["batcher-t-0"] * (QUIET_BATCHES + 1)  # a timeout asks for company

    threads.clear()

    def slow(inputs: Arrays) -> Arrays:
        time.sleep(0.05)
        return record(inputs)

    tight = make(slow)
    quieten(tight)  # on the batch thread: times a batch at ~50 ms
    with pytest.raises(DeadlineExceeded):
        tight.submit({"x": col(2)}, timeout=0.03)  # under the last batch: the batch thread's
    wait_until(lambda: tight._free_slots == 1)  # the abandoned batch finished in the background
    assert threads == ["batcher-t-0"] * (QUIET_BATCHES + 1)
    tight.submit({"x": col(3)}, timeout=5)  # room to spare: inline
    assert threads[-1] == threading.current_thread().name


def test_close_drain_finishes_queued_requests(make, pool) -> None:
    rec = Recorder(gated=True)
    batcher = make(rec, max_batch_size=2)
    blocker = block_with(batcher, rec, pool)
    queued = [enqueue(batcher, pool, {"x": col(v)}) for v in (1, 2, 3)]
    closer = pool.submit(batcher.close, drain=True)
    wait_until(lambda: batcher._closed)
    with pytest.raises(Unavailable):
        batcher.submit({"x": col(9)})
    assert not closer.done()  # close waits for the drain
    rec.gate.set()
    closer.result(5)
    assert blocker.result(5)["y"].tolist() == [[-2]]
    assert [f.result(5)["y"].item() for f in queued] == [2, 4, 6]
    assert not any(t.name.startswith("batcher-t-") for t in threading.enumerate())


def test_close_without_drain_fails_queued_requests(make, pool) -> None:
    rec = Recorder(gated=True)
    batcher = make(rec, max_batch_size=2)
    blocker = block_with(batcher, rec, pool)
    queued = [enqueue(batcher, pool, {"x": col(v)}) for v in (1, 2, 3)]
    split = enqueue(batcher, pool, {"x": col(4, 5, 6)})
    closer = pool.submit(batcher.close, drain=False)
    for future in [*queued, split]:
        with pytest.raises(Unavailable):
            future.result(5)
    assert batcher.queued_rows == 0
    rec.gate.set()
    closer.result(5)
    assert blocker.result(5)["y"].tolist() == [[-2]]  # the running batch still completed
    assert rec.sizes == [1]
    batcher.close()  # idempotent
    with pytest.raises(Unavailable):
        batcher.submit({"x": col(1)})


def test_incompatible_requests_are_not_mixed(make, pool) -> None:
    rec = Recorder(lambda inputs: {"y": inputs["x"].sum(axis=1)}, gated=True)
    batcher = make(rec, max_batch_size=16)
    block_with(batcher, rec, pool)
    f3a = enqueue(batcher, pool, {"x": np.ones((1, 3), np.float32)})
    f4 = enqueue(batcher, pool, {"x": np.ones((2, 4), np.float32)})
    f3b = enqueue(batcher, pool, {"x": np.ones((2, 3), np.float32)})
    f3d = enqueue(batcher, pool, {"x": np.ones((1, 3), np.float64)})
    fz = enqueue(batcher, pool, {"x": np.ones((1, 3), np.float32), "z": col(1)})
    rec.gate.set()
    assert f3a.result(5)["y"].tolist() == [3]
    assert f4.result(5)["y"].tolist() == [4, 4]
    assert f3b.result(5)["y"].tolist() == [3, 3]
    assert f3d.result(5)["y"].tolist() == [3]
    assert fz.result(5)["y"].tolist() == [3]
    shapes = [(c["x"].shape, c["x"].dtype, tuple(c)) for c in rec.calls[1:]]
    assert shapes == [  # oldest lane first; the two float32 width-3 requests share one call
        ((3, 3), np.float32, ("x",)),
        ((2, 4), np.float32, ("x",)),
        ((1, 3), np.float64, ("x",)),
        ((1, 3), np.float32, ("x", "z")),
    ]


def test_string_and_bytes_inputs(make, pool) -> None:
    def upper(inputs: Arrays) -> Arrays:
        text = inputs["text"]
        blob = inputs["blob"]
        return {"text": np.char.upper(text), "blob": np.array([b[::-1] for b in blob], object)}

    rec = Recorder(upper, gated=True)
    batcher = make(rec, max_batch_size=8)
    block_with_strings = pool.submit(
        batcher.submit, {"text": np.array(["z"]), "blob": np.array([b"z"], dtype=object)}
    )
    assert rec.entered.wait(5)
    first = enqueue(
        batcher,
        pool,
        {"text": np.array(["ab", "cde"]), "blob": np.array([b"12", b"345"], dtype=object)},
    )
    second = enqueue(
        batcher,
        pool,
        {"text": np.array(["longer word"]), "blob": np.array([b"\x00\xff"], dtype=object)},
    )
    rec.gate.set()
    assert block_with_strings.result(5)["text"].tolist() == ["Z"]
    assert first.result(5)["text"].tolist() == ["AB", "CDE"]
    assert first.result(5)["blob"].tolist() == [b"21", b"543"]
    assert second.result(5)["text"].tolist() == ["LONGER WORD"]
    assert second.result(5)["blob"].tolist() == [b"\xff\x00"]
    assert rec.sizes == [1, 3]  # different string widths still share a batch


def test_invalid_requests_are_rejected(make) -> None:
    batcher = make(double)
    with pytest.raises(InvalidInput, match="rows"):
        batcher.submit({"x": col(1, 2), "w": col(1)})
    with pytest.raises(InvalidInput, match="scalar"):
        batcher.submit({"x": np.float32(1)})
    with pytest.raises(InvalidInput):
        batcher.submit({})
    with pytest.raises(InvalidInput):
        batcher.submit({"x": np.zeros((0, 1))})
    assert batcher.queued_rows == 0


def test_observer_errors_do_not_break_batching(make) -> None:
    calls: list[int] = []

    def observer(rows: int, padded: int, wait: float) -> None:
        calls.append(rows)
        raise RuntimeError("metrics backend down")

    batcher = make(double, observer=observer)
    for v in range(3):
        np.testing.assert_array_equal(batcher.submit({"x": col(v)})["y"], col(2 * v))
    assert calls == [1, 1, 1]


def test_concurrent_producers(make) -> None:
    batcher = make(double, max_batch_size=32, num_batch_threads=2)

    def produce(worker: int) -> bool:
        for i in range(50):
            x = col(worker, i)
            np.testing.assert_array_equal(batcher.submit({"x": x}, timeout=10)["y"], x * 2)
        return True

    with ThreadPoolExecutor(max_workers=16) as executor:
        assert all(executor.map(produce, range(16)))
    assert batcher.queued_rows == 0


def test_stress_random_requests_match_unbatched(make) -> None:
    def fn(inputs: Arrays) -> Arrays:
        x, ids = inputs["x"], inputs["id"]
        return {"y": x * 2 + ids[:, None], "id": ids.copy()}

    observed: list[tuple[int, int]] = []
    lock = threading.Lock()

    def observer(rows: int, padded: int, wait: float) -> None:
        assert wait >= 0
        with lock:
            observed.append((rows, padded))

    def model(inputs: Arrays) -> Arrays:
        # A model call gives the GIL back while it computes, so requests arrive and queue
        # meanwhile; a pure-Python fn would hold it and let every caller run alone.
        time.sleep(0.0002)
        return fn(inputs)

    batcher = make(
        model,
        max_batch_size=32,
        allowed_batch_sizes=(4, 8, 16, 32),
        num_batch_threads=2,
        max_enqueued_batches=64,
        observer=observer,
    )
    n_requests, n_threads = 10_000, 32
    next_id = iter(range(10**9))
    id_lock = threading.Lock()

    def client(seed: int) -> int:
        rng = random.Random(seed)
        rows_sent = 0
        for _ in range(n_requests // n_threads + (seed < n_requests % n_threads)):
            rows = rng.randint(1, 5)
            with id_lock:
                ids = np.array([next(next_id) for _ in range(rows)], dtype=np.int64)
            x = np.array([[rng.random(), rng.random()] for _ in range(rows)])
            inputs = {"x": x, "id": ids}
            expected = fn(inputs)
            out = batcher.submit(inputs, timeout=20)
            assert out.keys() == expected.keys()
            np.testing.assert_array_equal(out["id"], ids)  # no lost, duplicated or swapped rows
            np.testing.assert_array_equal(out["y"], expected["y"])
            rows_sent += rows
        return rows_sent

    with ThreadPoolExecutor(max_workers=n_threads) as executor:
        total_rows = sum(executor.map(client, range(n_threads)))
    assert sum(rows for rows, _ in observed) == total_rows
    assert all(padded in (4, 8, 16, 32) and rows <= padded for rows, padded in observed)
    assert max(rows for rows, _ in observed) > 5  # requests really were merged
    assert len(observed) < n_requests
