"""Hot loads take turns across processes and shorten the GIL interval while they run."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from service.batching import BatchingOptions
from service.load_turns import LOADING_SWITCH_INTERVAL_S, LoadTurns
from service.repository import ModelRepository
from tests.traffic import publish

ROOT = Path(__file__).resolve().parent.parent


def _hold_turn_in_another_process(directory: Path, hold_s: float) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        import sys, time
        from service.load_turns import LoadTurns
        with LoadTurns({str(directory)!r}).hot_load():
            print("held", flush=True)
            time.sleep({hold_s})
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_hot_load_waits_for_another_workers_turn(tmp_path):
    child = _hold_turn_in_another_process(tmp_path, hold_s=1.0)
    started = time.monotonic()
    with LoadTurns(tmp_path).hot_load():
        waited = time.monotonic() - started
    assert child.wait(10) == 0
    assert waited >= 0.8, waited  # the child held its turn for 1 s after saying so


def test_a_stuck_turn_is_waited_for_only_so_long(tmp_path, caplog):
    child = _hold_turn_in_another_process(tmp_path, hold_s=30)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING), LoadTurns(tmp_path, wait_s=0.3).hot_load():
            waited = time.monotonic() - started
    finally:
        child.kill()
        child.wait()
    assert 0.3 <= waited < 5, waited
    assert "loading anyway" in caplog.text


def test_the_switch_interval_is_short_inside_and_restored_after_even_on_error():
    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError), LoadTurns(None).hot_load():
        assert sys.getswitchinterval() == pytest.approx(LOADING_SWITCH_INTERVAL_S)
        raise RuntimeError("the load failed")
    assert sys.getswitchinterval() == before


class RecordingTurns(LoadTurns):
    def __init__(self):
        super().__init__(None)
        self.turns = 0

    @contextmanager
    def hot_load(self):
        self.turns += 1
        with super().hot_load():
            yield


def test_only_loads_after_the_first_scan_take_turns(tiny_models, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits" / "1", repo / "digits" / "1")
    turns = RecordingTurns()
    repository = ModelRepository(
        repo, None, BatchingOptions(), poll_interval_s=0.1, load_turns=turns
    )
    repository.start()
    try:
        assert repository.scanned.wait(120)
        assert turns.turns == 0  # the start-up load ran in parallel, nothing was served yet
        publish(tiny_models / "digits" / "1", repo / "digits", 2)
        deadline = time.monotonic() + 120
        while repository.get("digits").version != 2:
            assert time.monotonic() < deadline, "version 2 was not loaded"
            time.sleep(0.05)
        assert turns.turns == 1
    finally:
        repository.stop()
