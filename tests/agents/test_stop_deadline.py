"""The worker's stop ends within ``SELLERWATCH_STOP_TIMEOUT_S``, with the status its cause calls
for (the live test: ``tests/integration/test_worker.py``, a SIGTERM with the broker gone)."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import pytest

from sellerwatch.agents.deadlines import StageGaveUp, StateRefused
from sellerwatch.agents.settings import Settings, SettingsError
from sellerwatch.agents.stop_deadline import StopDeadline, exit_status


def _deadline(seconds: float, status: int = 0) -> tuple[StopDeadline, list[int], threading.Event]:
    exits: list[int] = []
    done = threading.Event()

    def exit_now(code: int) -> None:
        exits.append(code)
        done.set()

    return StopDeadline(seconds, lambda: status, exit_now), exits, done


def test_a_stop_that_hangs_ends_the_process_after_the_deadline_saying_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deadline, exits, done = _deadline(0.05)
    with caplog.at_level(logging.WARNING):
        deadline.arm()
        assert done.wait(5)
    assert exits == [0]
    assert "has not stopped 0.05s after it was asked to" in caplog.text


def test_nothing_exits_before_the_deadline_is_armed_and_arming_twice_keeps_the_first() -> None:
    deadline, exits, done = _deadline(0.05)
    assert not done.wait(0.2) and exits == []
    deadline.arm()
    first = deadline.timer
    deadline.arm()  # a second SIGTERM does not push the exit back
    assert deadline.timer is first
    assert done.wait(5) and exits == [0]


@pytest.mark.parametrize(
    ("reason", "status"),
    [(None, 0), (StageGaveUp("kept failing"), 1), (StateRefused("other policy"), 2)],
)
def test_a_forced_exit_keeps_the_status_of_what_stopped_the_worker(
    reason: BaseException | None, status: int
) -> None:
    """A supervisor restarts a worker that gave up (non-zero); a plain SIGTERM is a 0."""
    assert exit_status(SimpleNamespace(crash_reason=reason)) == status


def test_the_stop_deadline_is_25_seconds_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SELLERWATCH_STOP_TIMEOUT_S", raising=False)
    assert Settings().stop_timeout_s == 25
    monkeypatch.setenv("SELLERWATCH_STOP_TIMEOUT_S", "0")
    with pytest.raises(SettingsError, match="SELLERWATCH_STOP_TIMEOUT_S must be positive"):
        Settings()
