"""The group committer's batching, with a handler that needs no database: a unit that does
not fit the batch being drained is run next, before anything queued after it, and is never
lost behind `close`; the relay runs one batch at a time, unless the one in flight is held
up past `overlap_after_s`, and then the batches beside it do not wait again; a batch with
fewer items than the last lingers for more, for `linger_s` at most; a caller waits for its
answer a bounded time, then gets `outcome_unknown`; a unit submitted after `close` is
refused at once (`service_closed`), and one racing it is either answered or refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from ledger.entry import EntryKind, Leg
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.group_commit import Answer, GroupCommitter, answer_within, identical
from ledger.money import Money

_WAIT_S = 5.0


def _result(answer: Answer[list[str]]) -> list[str]:
    return answer_within(answer, _WAIT_S, wait_s=_WAIT_S)


class _Gate:
    """A handler that records each batch and holds the first until released."""

    def __init__(self) -> None:
        self.batches: list[list[object]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: Sequence[object]) -> list[str]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(_WAIT_S)
        return [str(item).upper() for item in items]


def test_a_unit_that_does_not_fit_runs_next_and_is_not_lost_behind_close() -> None:
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(gate, batch_size_max=2, workers=1)
    held = committer.submit(["a"])
    assert gate.entered.wait(_WAIT_S)
    small, large = committer.submit(["b"]), committer.submit(["c", "d"])
    closing = threading.Thread(target=committer.close)
    closing.start()
    gate.release.set()
    closing.join(_WAIT_S)
    assert not closing.is_alive()
    assert _result(held) == ["A"]
    assert _result(small) == ["B"]
    assert _result(large) == ["C", "D"]
    assert gate.batches == [["a"], ["b"], ["c", "d"]]


def test_units_that_fit_share_a_batch_in_the_order_they_came() -> None:
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(gate, batch_size_max=3, workers=1)
    held = committer.submit(["a"])
    assert gate.entered.wait(_WAIT_S)
    answers = [committer.submit([item]) for item in ("b", "c", "d", "e")]
    gate.release.set()
    assert [_result(f) for f in answers] == [["B"], ["C"], ["D"], ["E"]]
    committer.close()
    assert _result(held) == ["A"]
    assert gate.batches == [["a"], ["b", "c", "d"], ["e"]]


def test_the_next_batch_waits_for_the_one_in_flight_and_takes_every_unit_queued_meanwhile() -> None:
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(
        gate, batch_size_max=10, workers=2, overlap_after_s=_WAIT_S
    )
    held = committer.submit(["a"])
    assert gate.entered.wait(_WAIT_S)
    answers = [committer.submit([item]) for item in ("b", "c", "d")]
    time.sleep(0.2)  # time enough for the idle worker to start a batch, were it allowed to
    assert gate.batches == [["a"]]
    assert not any(f.wait(0) for f in answers)
    gate.release.set()
    assert [_result(f) for f in answers] == [["B"], ["C"], ["D"]]
    committer.close()
    assert _result(held) == ["A"]
    assert gate.batches == [["a"], ["b", "c", "d"]]


def test_a_batch_held_up_past_overlap_after_s_does_not_hold_up_the_next() -> None:
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(
        gate, batch_size_max=10, workers=2, overlap_after_s=0.05
    )
    held = committer.submit(["a"])
    assert gate.entered.wait(_WAIT_S)
    assert _result(committer.submit(["b"])) == ["B"]
    assert not held.wait(0)
    gate.release.set()
    assert _result(held) == ["A"]
    committer.close()
    assert gate.batches == [["a"], ["b"]]


def test_batches_beside_a_held_up_one_run_one_after_another_without_waiting_again() -> None:
    overlap_after_s = 0.2
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(
        gate, batch_size_max=10, workers=2, overlap_after_s=overlap_after_s
    )
    held = committer.submit(["a"])
    assert gate.entered.wait(_WAIT_S)
    assert _result(committer.submit(["b"])) == ["B"]  # waited its turn, once
    started = time.monotonic()
    for item in ("c", "d", "e", "f"):
        assert _result(committer.submit([item])) == [item.upper()]
    # Each waiting its turn again would take 4 * overlap_after_s.
    assert time.monotonic() - started < 2 * overlap_after_s
    gate.release.set()
    assert _result(held) == ["A"]
    committer.close()


def _after_a_batch_of_two(gate: _Gate, committer: GroupCommitter[str, str]) -> None:
    """Run a held batch of one, then a batch of two: the next batch wants two items."""
    held = committer.submit(["a"])
    assert gate.entered.wait(_WAIT_S)
    pair = [committer.submit([item]) for item in ("b", "c")]
    gate.release.set()
    assert [_result(f) for f in (held, *pair)] == [["A"], ["B"], ["C"]]
    assert gate.batches == [["a"], ["b", "c"]]


def test_a_batch_with_fewer_items_than_the_last_lingers_for_the_rest() -> None:
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(
        gate, batch_size_max=10, workers=1, linger_s=1.0
    )
    _after_a_batch_of_two(gate, committer)
    alone = committer.submit(["d"])
    time.sleep(0.2)  # time enough to run `d` alone, were the batch not lingering
    assert not alone.wait(0)
    assert _result(committer.submit(["e"])) == ["E"]
    assert _result(alone) == ["D"]
    committer.close()
    assert gate.batches == [["a"], ["b", "c"], ["d", "e"]]


def test_a_batch_lingers_for_linger_s_at_most_then_runs_with_what_it_has() -> None:
    linger_s = 0.3
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(
        gate, batch_size_max=10, workers=1, linger_s=linger_s
    )
    _after_a_batch_of_two(gate, committer)
    started = time.monotonic()
    assert _result(committer.submit(["d"])) == ["D"]
    assert linger_s <= time.monotonic() - started < _WAIT_S
    # The batch after it wants one item, as many as the last took, and does not linger.
    started = time.monotonic()
    assert _result(committer.submit(["e"])) == ["E"]
    assert time.monotonic() - started < linger_s
    committer.close()
    assert gate.batches == [["a"], ["b", "c"], ["d"], ["e"]]


def test_a_caller_unanswered_within_its_wait_gets_outcome_unknown_and_the_unit_goes_on() -> None:
    gate = _Gate()
    committer = GroupCommitter(gate, batch_size_max=10, workers=1)
    try:
        answer = committer.submit(["late"])
        assert gate.entered.wait(_WAIT_S)
        with pytest.raises(LedgerError) as waited:
            answer_within(answer, 0.05, wait_s=0.05)
        assert waited.value.code is LedgerErrorCode.OUTCOME_UNKNOWN
        gate.release.set()
        assert answer_within(answer, _WAIT_S, wait_s=_WAIT_S) == ["LATE"]
    finally:
        gate.release.set()
        committer.close()


def test_a_timeout_error_the_handler_raised_is_its_answer_not_outcome_unknown() -> None:
    answer: Answer[list[str]] = Answer()
    answer.fail(TimeoutError("the handler's own"))
    with pytest.raises(TimeoutError, match="the handler's own"):
        answer_within(answer, 0.05, wait_s=0.05)


def test_a_lingering_batch_is_in_flight_for_the_relay_from_when_it_leaves_the_queue() -> None:
    """The batch after it waits its turn, `overlap_after_s` from when the lingering batch
    started running, not from when it began to linger."""
    overlap_after_s, linger_s = 0.4, 0.6
    gate, running_x, release_x = _Gate(), threading.Event(), threading.Event()

    def handle(items: Sequence[str]) -> list[str]:
        if "x" in items:
            running_x.set()
            assert release_x.wait(_WAIT_S)
        return gate(items)

    committer: GroupCommitter[str, str] = GroupCommitter(
        handle, batch_size_max=10, workers=2, overlap_after_s=overlap_after_s, linger_s=linger_s
    )
    _after_a_batch_of_two(gate, committer)
    x = committer.submit(["x"])  # lingers for a second item that does not come
    assert running_x.wait(_WAIT_S)
    y = committer.submit(["y"])
    time.sleep(overlap_after_s / 2)
    assert not y.wait(0), "started beside x, as if x's linger had been time in flight"
    assert _result(y) == ["Y"]  # after overlap_after_s, beside x still held
    assert not x.wait(0)
    release_x.set()
    assert _result(x) == ["X"]
    committer.close()


class _WorkerStop(BaseException):
    """Stops a worker thread, as an interrupt would."""


# The worker's thread ends with the exception: that is what this test makes happen.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_stopped_by_its_handler_answers_every_unit_of_its_batch_first() -> None:
    gate = _Gate()

    def handle(items: Sequence[str]) -> list[str]:
        if "stop" in items:
            raise _WorkerStop
        return gate(items)

    committer: GroupCommitter[str, str] = GroupCommitter(handle, batch_size_max=10, workers=1)
    held = committer.submit(["a"])
    assert gate.entered.wait(_WAIT_S)
    stopped = [committer.submit([item]) for item in ("b", "stop", "c")]
    gate.release.set()
    assert _result(held) == ["A"]
    for answer in stopped:
        with pytest.raises(_WorkerStop):
            answer_within(answer, _WAIT_S, wait_s=_WAIT_S)
    committer.close()


def test_an_answer_lets_every_waiter_go_once_given() -> None:
    answer: Answer[list[str]] = Answer()
    assert not answer.wait(0)
    with pytest.raises(RuntimeError, match="not given yet"):
        answer.value()
    waited: list[bool] = []
    waiters = [
        threading.Thread(target=lambda: waited.append(answer.wait(_WAIT_S))) for _ in range(4)
    ]
    for waiter in waiters:
        waiter.start()
    started = time.monotonic()
    answer.give(["A"])
    for waiter in waiters:
        waiter.join(_WAIT_S)
    assert waited == [True] * 4
    assert time.monotonic() - started < _WAIT_S / 2
    assert answer.wait(0)
    assert answer.value() == ["A"]


def test_a_unit_submitted_after_close_is_refused_at_once_as_service_closed() -> None:
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(gate, batch_size_max=10, workers=2)
    committer.close()
    started = time.monotonic()
    with pytest.raises(LedgerError) as refused:
        committer.submit(["late"])
    assert refused.value.code is LedgerErrorCode.SERVICE_CLOSED
    assert time.monotonic() - started < 1.0
    committer.close()
    assert gate.batches == []


def test_units_racing_close_are_each_answered_or_refused_never_left_waiting() -> None:
    """Callers keep submitting from several threads, each until refused, while another
    closes the committer: every unit is handled (its answer given before `close`
    returns) or `service_closed`."""
    handled: list[str] = []

    def handle(items: Sequence[str]) -> list[str]:
        handled.extend(items)
        return [item.upper() for item in items]

    committer: GroupCommitter[str, str] = GroupCommitter(handle, batch_size_max=4, workers=2)
    answers: list[tuple[str, Answer[list[str]]]] = []
    refused: list[LedgerErrorCode] = []
    go = threading.Barrier(5)

    def caller(name: str) -> None:
        go.wait()
        for n in range(1_000_000):
            item = f"{name}{n}"
            try:
                answers.append((item, committer.submit([item])))
            except LedgerError as error:
                refused.append(error.code)
                return

    callers = [threading.Thread(target=caller, args=(name,)) for name in "abcd"]
    for thread in callers:
        thread.start()
    go.wait()
    time.sleep(0.01)
    committer.close()
    for thread in callers:
        thread.join(_WAIT_S)
    assert refused == [LedgerErrorCode.SERVICE_CLOSED] * 4
    assert all(answer.wait(0) for _, answer in answers), "a unit was left waiting"
    assert all(answer.value() == [item.upper()] for item, answer in answers)
    assert sorted(handled) == sorted(item for item, _ in answers)


def test_a_keyed_copy_of_a_unit_in_flight_waits_for_its_answer_and_is_not_queued() -> None:
    """Coalescing: while the unit keyed "p" is in flight, an equal copy gets its answer
    object and is never handled; a copy with other items under the same key, or a unit
    without a key, is queued. Once answered, the key takes a new unit again."""
    gate = _Gate()
    committer: GroupCommitter[str, str] = GroupCommitter(gate, batch_size_max=4, workers=1)
    first = committer.submit(["p"], key="p")
    assert gate.entered.wait(_WAIT_S)
    copy = committer.submit(["p"], key="p")
    other = committer.submit(["q"], key="p")
    unkeyed = committer.submit(["p"])
    assert copy is first and other is not first and unkeyed is not first
    gate.release.set()
    assert _result(first) == _result(copy) == ["P"]
    assert (_result(other), _result(unkeyed)) == (["Q"], ["P"])
    again = committer.submit(["p"], key="p")
    assert _result(again) == ["P"] and again is not first
    committer.close()
    assert gate.batches == [["p"], ["q", "p"], ["p"]]


def test_a_keyed_copy_that_is_equal_but_not_identical_is_queued() -> None:
    """A copy whose items equal the first's only by Python's `==` (`True` for `1`, `1.0`
    for `1`, an enum member for its text) may be another request to the handler (refused
    where the first passed), so it is queued and answered on its own, not given the first
    copy's answer."""
    gate = _Gate()
    committer: GroupCommitter[object, str] = GroupCommitter(gate, batch_size_max=4, workers=1)
    first = committer.submit([("p", 1, {"flag": 1})], key="p")
    assert gate.entered.wait(_WAIT_S)
    copies = [
        committer.submit([("p", True, {"flag": 1})], key="p"),
        committer.submit([("p", 1.0, {"flag": 1})], key="p"),
        committer.submit([("p", 1, {"flag": True})], key="p"),
        committer.submit([["p", 1, {"flag": 1}]], key="p"),
    ]
    same = committer.submit([("p", 1, {"flag": 1})], key="p")
    assert same is first and all(copy is not first for copy in copies)
    gate.release.set()
    assert [_result(copy) for copy in copies] == [
        ["('P', TRUE, {'FLAG': 1})"],
        ["('P', 1.0, {'FLAG': 1})"],
        ["('P', 1, {'FLAG': TRUE})"],
        ["['P', 1, {'FLAG': 1}]"],
    ]
    committer.close()
    assert len(gate.batches) == 2 and len(gate.batches[1]) == 4


def test_identical_looks_through_dataclasses_and_containers() -> None:
    """`identical` is `==` with the types compared too, all the way down."""
    assert identical(EntryKind.POSTED, EntryKind.POSTED)
    assert not identical(EntryKind.POSTED, "posted")
    assert identical(Leg(1, Money(5, "IDR")), Leg(1, Money(5, "IDR")))
    assert not identical(Leg(True, Money(5, "IDR")), Leg(1, Money(5, "IDR")))
    assert not identical({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not identical((1, 2), [1, 2])
    assert not identical((1, 2), (1, 2, 3))


def test_a_keyed_copy_of_a_unit_that_failed_is_queued_afresh() -> None:
    """A unit answered with the handler's error no longer takes copies: the retry runs."""
    calls: list[list[str]] = []

    def fail_first(items: Sequence[str]) -> list[str]:
        calls.append(list(items))
        if len(calls) == 1:
            raise ConnectionError("the connection dropped")
        return [item.upper() for item in items]

    committer: GroupCommitter[str, str] = GroupCommitter(fail_first, batch_size_max=4, workers=1)
    with pytest.raises(ConnectionError):
        _result(committer.submit(["p"], key="p"))
    assert _result(committer.submit(["p"], key="p")) == ["P"]
    committer.close()
    assert calls == [["p"], ["p"]]
