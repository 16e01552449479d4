"""The buffered access log: whole JSON lines, in order, in pipe-atomic writes."""

from __future__ import annotations

import os

import orjson

from service.logs import PIPE_BUF, AccessLog


def read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 1 << 16):
            data += chunk
    except BlockingIOError:
        pass
    return data


def test_lines_are_buffered_then_written_whole_and_in_order():
    read_end, write_end = os.pipe()
    log = AccessLog(fd=write_end, flush_interval_s=3600)  # only explicit flushes here
    for i in range(100):
        log.record(request_id=f"r{i}", status=200, latency_ms=1.5, path="/v1/" + "x" * 50)
    assert read_all(read_end) == b""  # nothing on the request path
    log.flush()
    lines = read_all(read_end).splitlines()
    entries = [orjson.loads(line) for line in lines]
    assert [e["request_id"] for e in entries] == [f"r{i}" for i in range(100)]
    first = entries[0]
    assert (first["level"], first["logger"], first["msg"], first["status"]) == (
        "info",
        "service.access",
        "request",
        200,
    )
    assert first["ts"].endswith("Z") and len(first["ts"]) == len("2026-01-01T00:00:00.000Z")
    os.close(read_end)
    os.close(write_end)


def test_writes_never_exceed_pipe_buf_so_workers_cannot_interleave_mid_line():
    writes: list[bytes] = []
    log = AccessLog(fd=-1, flush_interval_s=3600)
    log._write = writes.append  # observe the write boundaries, not the bytes' destination
    for i in range(500):
        log.record(request_id=str(i), path="/" + "p" * 100)
    log.flush()
    assert len(writes) > 1
    assert all(len(chunk) <= PIPE_BUF and chunk.endswith(b"\n") for chunk in writes)
    assert sum(chunk.count(b"\n") for chunk in writes) == 500


def test_disabled_log_records_nothing_and_background_flush_writes():
    read_end, write_end = os.pipe()
    quiet = AccessLog(fd=write_end, enabled=False)
    quiet.record(request_id="never")
    quiet.flush()
    assert read_all(read_end) == b""
    live = AccessLog(fd=write_end, flush_interval_s=0.01)
    live.record(request_id="soon")
    os.set_blocking(read_end, True)
    assert b'"request_id":"soon"' in os.read(read_end, 1 << 16)  # the flusher thread wrote it
    os.close(read_end)
    os.close(write_end)


def test_no_line_is_lost_or_repeated_while_threads_record_during_flushes():
    import threading

    writes: list[bytes] = []
    log = AccessLog(fd=-1, flush_interval_s=0.001)  # the flusher thread drains constantly
    log._write = writes.append

    def producer(n: int) -> None:
        for i in range(2000):
            log.record(request_id=f"{n}-{i}")

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.flush()
    ids = [orjson.loads(line)["request_id"] for chunk in writes for line in chunk.splitlines()]
    assert sorted(ids) == sorted(f"{n}-{i}" for n in range(8) for i in range(2000))
