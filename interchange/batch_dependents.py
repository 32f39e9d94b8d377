"""Which commands of a batch wait for a later transaction: those that must see another's outcome.

A second refund of one purchase, or a void after a capture, must see what the ledger
decided on the first: in the same transaction, the first one's effect would count before
the ledger decides on it. The service runs such commands in the next transaction
(`split_dependents`). A payment id repeated within a batch follows its first occurrence
(`first_occurrences`): processed with it, and given its outcome, or judged against the
payment recorded before the batch if it differs (`interchange.payment_batch`). Pure: no
database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from interchange.payment_model import Capture, PaymentCommand, PaymentOutcome, Refund, Void
from interchange.routing import ParsedCommand

__all__ = ["Split", "first_occurrences", "split_dependents"]


@dataclass(frozen=True, slots=True)
class Split:
    """A batch's items split into rounds (`split_dependents`)."""

    # The indexes of the items to process now, and of those to process after them.
    now: list[int]
    later: list[int]
    # For each command processed now, the index of its payment id's first occurrence
    # (`first_occurrences`), itself processed now.
    first: dict[int, int]


def first_occurrences(payment_ids: Iterable[tuple[int, str]]) -> dict[int, int]:
    """For each (index, payment id), given in ascending index order, the index of the first
    one with that payment id: its own index for a first occurrence, an earlier one for a
    repeat. Pure."""
    first: dict[int, int] = {}
    first_by_id: dict[str, int] = {}
    previous = -1
    for index, payment_id in payment_ids:
        assert index > previous, "indexes in ascending order, each once"
        previous = index
        first[index] = first_by_id.setdefault(payment_id, index)
    assert all(first[i] <= i for i in first)
    return first


def split_dependents(items: Sequence[ParsedCommand | PaymentOutcome]) -> Split:
    """The indexes of the items to process now, and of those to process after them, in a
    later transaction, with the first occurrences among those now. Later: a command naming
    a payment (a refund's original, a capture's or void's authorization) that an earlier
    command of the batch, with another payment id, creates or names too, or that a
    deferred command creates; and every command sharing a payment id with one deferred.
    A repeat of a payment id processed now stays with it, whatever it names: its outcome
    is its first occurrence's (a replay), or, if the request differs, a replay of the
    payment recorded before the batch or a conflict.

    Planned in one transaction, an earlier command's effect would count before the ledger
    decides on it: a refund the ledger refuses would still use up the original for the
    next refund, a refused capture would still block a void. Processed after it, the
    later command sees what the earlier one did. The first item is always processed now,
    so every round makes progress. Pure."""
    now: list[int] = []
    later: list[int] = []
    deferred_ids: set[str] = set()
    # A payment created or named by a command processed now -> that command's payment id.
    taken: dict[str, str] = {}
    first = first_occurrences(
        (index, item.command.payment_id)
        for index, item in enumerate(items)
        if not isinstance(item, PaymentOutcome)
    )
    for index, item in enumerate(items):
        if isinstance(item, PaymentOutcome):
            now.append(index)
            continue
        payment_id, named = item.command.payment_id, _named_payment(item.command)
        if first[index] != index:
            (later if payment_id in deferred_ids else now).append(index)
            continue
        waits = named is not None and (
            taken.get(named, payment_id) != payment_id or named in deferred_ids
        )
        if waits:
            deferred_ids.add(payment_id)
            later.append(index)
            continue
        now.append(index)
        taken.setdefault(payment_id, payment_id)
        if named is not None:
            taken.setdefault(named, payment_id)
    assert not items or now[0] == 0, "the first item is always processed now"
    first_now = {index: first[index] for index in now if index in first}
    assert all(first_index in first_now for first_index in first_now.values())
    return Split(now, later, first_now)


def _named_payment(command: PaymentCommand) -> str | None:
    if isinstance(command, Refund):
        return command.original_payment_id
    if isinstance(command, Capture | Void):
        return command.authorization_id
    return None
