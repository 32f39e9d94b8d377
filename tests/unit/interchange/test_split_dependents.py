"""Which commands of a batch wait for a later transaction: those that must see an earlier
command's outcome; and which is the first occurrence of each repeated payment id. Pure; no
database."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from interchange.batch_dependents import first_occurrences, split_dependents
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    PaymentCommand,
    PaymentErrorCode,
    PaymentOutcome,
    Refund,
    Void,
)
from interchange.routing_model import ParsedCommand
from ledger.money import Money

RP = Money(100_000, "IDR")


def parsed(command: PaymentCommand) -> ParsedCommand:
    return ParsedCommand(command, None, f'{{"payment_id": "{command.payment_id}"}}')


def split(commands: Sequence[PaymentCommand | PaymentOutcome]) -> tuple[list[int], list[int]]:
    rounds = split_dependents([c if isinstance(c, PaymentOutcome) else parsed(c) for c in commands])
    return rounds.now, rounds.later


def test_independent_commands_all_go_now() -> None:
    commands: list[PaymentCommand] = [
        CashIn("c-1", 1, 1, RP),
        Refund("r-1", "p-1", RP),
        Void("v-1", "a-1"),
    ]
    assert split(commands) == ([0, 1, 2], [])


def test_a_second_refund_of_one_purchase_waits_for_the_first() -> None:
    commands = [Refund("r-1", "p-1", RP), Refund("r-2", "p-1", RP), Refund("r-3", "p-2", RP)]
    assert split(commands) == ([0, 2], [1])


def test_a_void_after_a_capture_of_one_authorization_waits() -> None:
    assert split([Capture("c-1", "a-1"), Void("v-1", "a-1")]) == ([0], [1])


def test_a_refund_of_a_payment_made_earlier_in_the_batch_waits_for_it() -> None:
    assert split([CashIn("p-1", 1, 1, RP), Refund("r-1", "p-1", RP)]) == ([0], [1])


def test_a_repeated_command_stays_with_its_first_occurrence() -> None:
    commands = [Refund("r-1", "p-1", RP), Refund("r-1", "p-1", RP)]
    assert split(commands) == ([0, 1], [])


def test_a_repeat_of_an_id_processed_now_stays_with_it_whatever_it_names() -> None:
    commands = [Refund("q", "none", RP), Refund("r-0", "buy", RP), Refund("q", "buy", RP)]
    assert split(commands) == ([0, 1, 2], [])


def test_every_command_with_the_id_of_one_that_waits_waits_too() -> None:
    commands: list[PaymentCommand] = [
        Refund("r-1", "p-1", RP),
        Refund("r-2", "p-1", RP),
        CashIn("r-2", 1, 1, RP),
    ]
    assert split(commands) == ([0], [1, 2])


def test_a_refund_of_a_capture_that_waits_waits_too() -> None:
    commands: list[PaymentCommand] = [
        Authorize("a-1", 1, "qr"),
        Capture("c-1", "a-1"),
        Refund("r-1", "c-1", RP),
    ]
    assert split(commands) == ([0], [1, 2])


def test_refusals_go_now() -> None:
    refusal = PaymentOutcome("bad", None, PaymentErrorCode.PAYMENT_ID_INVALID, "bad id")
    assert split([Refund("r-1", "p-1", RP), refusal, Refund("r-2", "p-1", RP)]) == ([0, 1], [2])


def test_the_split_names_the_first_occurrence_of_each_command_processed_now() -> None:
    refusal = PaymentOutcome("bad", None, PaymentErrorCode.PAYMENT_ID_INVALID, "bad id")
    commands: list[ParsedCommand | PaymentOutcome] = [
        parsed(CashIn("c-1", 1, 1, RP)),
        refusal,
        parsed(Refund("r-1", "p-1", RP)),
        parsed(CashIn("c-1", 1, 1, RP)),
        parsed(Refund("r-2", "p-1", RP)),
        parsed(Refund("r-2", "p-1", RP)),
    ]
    rounds = split_dependents(commands)
    assert (rounds.now, rounds.later) == ([0, 1, 2, 3], [4, 5])
    # The refusal has no first occurrence; the deferred r-2 and its repeat are not named.
    assert rounds.first == {0: 0, 2: 2, 3: 0}


def test_each_repeat_maps_to_the_first_index_of_its_payment_id() -> None:
    pairs = [(0, "a"), (2, "b"), (3, "a"), (5, "b"), (6, "c"), (7, "a")]
    assert first_occurrences(pairs) == {0: 0, 2: 2, 3: 0, 5: 2, 6: 6, 7: 0}


def test_a_batch_without_repeats_is_all_first_occurrences() -> None:
    assert first_occurrences([(1, "a"), (4, "b")]) == {1: 1, 4: 4}
    assert first_occurrences([]) == {}


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from("abc")), max_size=20))
def test_each_index_points_at_the_earliest_with_its_payment_id(
    steps_and_ids: list[tuple[int, str]],
) -> None:
    pairs, index = [], -1
    for step, payment_id in steps_and_ids:
        index += step + 1
        pairs.append((index, payment_id))
    first = first_occurrences(pairs)
    ids = dict(pairs)
    assert sorted(first) == [i for i, _ in pairs]
    for i, payment_id in pairs:
        assert first[i] == min(j for j, other in pairs if other == payment_id)
        assert ids[first[i]] == payment_id and first[first[i]] == first[i]


_IDS = st.sampled_from(["p-1", "p-2", "r-1", "r-2", "a-1"])
_COMMANDS = st.one_of(
    st.builds(Refund, _IDS, _IDS, st.just(RP)),
    st.builds(Capture, _IDS, _IDS),
    st.builds(Void, _IDS, _IDS),
    st.builds(CashIn, _IDS, st.just(1), st.just(1), st.just(RP)),
)


@given(st.lists(_COMMANDS, min_size=1, max_size=12))
def test_rounds_partition_the_batch_and_each_is_independent(
    commands: list[PaymentCommand],
) -> None:
    remaining, rounds = list(range(len(commands))), 0
    while remaining:
        now, later = split([commands[i] for i in remaining])
        assert sorted(now + later) == list(range(len(remaining)))
        assert now and now[0] == 0, "every round makes progress"
        assert split([commands[remaining[i]] for i in now])[1] == [], "a round is independent"
        remaining, rounds = [remaining[i] for i in later], rounds + 1
    assert rounds <= len(commands)
