"""kernel.coalesce: the first call runs at once, calls inside the interval fold into one trailing run, and the
last call is never dropped."""

from __future__ import annotations

import threading

import pytest

from siyu.kernel.coalesce import Coalescer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_first_call_runs_at_once_and_calls_inside_the_interval_fold_into_one_trailing_run():
    clock = FakeClock()
    ran = threading.Event()
    calls: list[str] = []
    c = Coalescer(0.05, clock=clock)

    c.call("k", lambda: calls.append("first"))
    assert calls == ["first"]
    for _ in range(10):
        c.call("k", lambda: (calls.append("trailing"), ran.set()))
    assert calls == ["first"]  # nothing more yet: folded
    assert ran.wait(2), "the trailing run never came"
    assert calls == ["first", "trailing"]


def test_keys_are_independent_and_a_quiet_period_runs_at_once_again():
    clock = FakeClock()
    calls: list[str] = []
    c = Coalescer(10.0, clock=clock)
    c.call("a", lambda: calls.append("a"))
    c.call("b", lambda: calls.append("b"))
    assert calls == ["a", "b"]
    clock.now += 10.0
    c.call("a", lambda: calls.append("a2"))
    assert calls == ["a", "b", "a2"]


def test_a_call_after_the_trailing_run_is_not_lost():
    clock = FakeClock()
    done = [threading.Event(), threading.Event()]
    calls: list[int] = []
    c = Coalescer(0.05, clock=clock)
    c.call("k", lambda: calls.append(0))
    c.call("k", lambda: (calls.append(1), done[0].set()))
    assert done[0].wait(2)
    # the trailing run set the last run to "now": a call right after it trails again instead of vanishing
    c.call("k", lambda: (calls.append(2), done[1].set()))
    assert done[1].wait(2)
    assert calls == [0, 1, 2]


def test_a_process_that_exits_inside_the_interval_still_makes_its_trailing_call(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "calls"
    code = (
        "from siyu.kernel.coalesce import Coalescer\n"
        f"c = Coalescer(0.2)\n"
        f"write = lambda s: open({str(out)!r}, 'a').write(s)\n"
        "c.call('k', lambda: write('first,'))\n"
        "c.call('k', lambda: write('last'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert out.read_text() == "first,last"


def test_a_failing_trailing_call_is_logged_not_raised_in_the_timer_thread(caplog):
    clock = FakeClock()
    done = threading.Event()
    c = Coalescer(0.05, clock=clock)
    c.call("k", lambda: None)

    def boom():
        done.set()
        raise RuntimeError("queue down")

    with caplog.at_level("ERROR", logger="siyu.kernel.coalesce"):
        c.call("k", boom)
        assert done.wait(2)
        for _ in range(100):
            if caplog.records:
                break
            threading.Event().wait(0.01)
    assert "coalesced call 'k' failed" in caplog.text
    c.call("k", lambda: None)  # and the key is usable again


def test_single_flight_runs_once_at_a_time_and_a_call_during_a_run_makes_it_go_round_again():
    from siyu.kernel.coalesce import SingleFlight

    flight = SingleFlight()
    entered, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def drain() -> int:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            entered.set()
            assert release.wait(5)
        return 10

    result: list[int] = []
    first = threading.Thread(target=lambda: result.append(flight.run(drain)))
    first.start()
    assert entered.wait(5)
    assert flight.run(drain) == 0  # a second thread does not run it alongside
    assert runs == [1]
    release.set()
    first.join(5)
    assert runs == [1, 2]  # the run went round again for the call that arrived meanwhile
    assert result == [20]
    assert flight.run(drain) == 10  # and it is free again


def test_single_flight_is_free_again_after_an_exception():
    from siyu.kernel.coalesce import SingleFlight

    flight = SingleFlight()

    def boom() -> int:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        flight.run(boom)
    assert flight.run(lambda: 3) == 3
