"""Property tests for movements: every book balances, and due accounts follow obligations.

For random movements (random debit, credit and fee shares; on-us and off-us; the network
on neither side), the legs sum to zero, each cooperative's own legs sum to zero (its books
balance on their own, through its due account), and the change of each cooperative's due
account equals what it now owes minus what it is now owed. Then the same over real fee
quotes of the launch tariff, built into movements the way routing builds them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from interchange.fee_defaults import launch_schedule
from interchange.fees import BPS_WHOLE, FeeBearer, MerchantCriteria, PaymentType, Quote, quote
from interchange.movement import CoopAccounts, Movement, movement_legs, movement_obligations
from ledger.entry import Leg
from ledger.money import Money

CURRENCIES = ("JPY", "IDR", "KWD")
COOP_IDS = (1, 2, 3, 4)
NETWORK_ID = 99
WALLETS_PER_COOP = 3
AMOUNT_MINOR_TOP = 10**12


def coop_accounts(coop_id: int) -> CoopAccounts:
    """Own accounts coop × 10 + 1, 2, 3; the network's for it 5000 + coop × 10 + 2, 3."""
    base = coop_id * 10
    if coop_id == NETWORK_ID:
        return CoopAccounts(coop_id, base + 1, base + 2, base + 3, base + 2, base + 3)
    return CoopAccounts(coop_id, base + 1, base + 2, base + 3, 5_000 + base + 2, 5_000 + base + 3)


COOPS = {coop_id: coop_accounts(coop_id) for coop_id in (*COOP_IDS, NETWORK_ID)}
NETWORK = COOPS[NETWORK_ID]
FEE_ACCOUNTS = {a.fee_account_id for a in COOPS.values()} | {
    a.network_fee_account_id for a in COOPS.values()
}


def due_accounts(coop_id: int) -> set[int]:
    """A cooperative's due account; the network's are one per cooperative."""
    if coop_id == NETWORK_ID:
        return {a.network_due_account_id for a in COOPS.values()}
    return {COOPS[coop_id].due_account_id}


def wallet(coop_id: int, n: int) -> int:
    return 10_000 + coop_id * 100 + n


# Which cooperative's books each account belongs to.
OWNER = {
    account_id: accounts.coop_id
    for accounts in COOPS.values()
    for account_id in (accounts.cash_account_id, accounts.fee_account_id, accounts.due_account_id)
} | {wallet(c, n): c for c in COOP_IDS for n in range(WALLETS_PER_COOP)}
OWNER |= {
    account_id: NETWORK_ID
    for accounts in COOPS.values()
    for account_id in (accounts.network_fee_account_id, accounts.network_due_account_id)
}


@st.composite
def endpoints(draw: st.DrawFn, coop_id: int) -> int:
    """A member or merchant wallet of the coop, or its cash account (a teller's counter);
    the network has only its cash account."""
    n = draw(st.integers(min_value=-1, max_value=WALLETS_PER_COOP - 1))
    if n < 0 or coop_id == NETWORK_ID:
        return COOPS[coop_id].cash_account_id
    return wallet(coop_id, n)


@st.composite
def movements(draw: st.DrawFn) -> Movement:
    # Now and then the network itself is a side (a payout from, or a payment to, it).
    parties = st.sampled_from(COOP_IDS) | st.just(NETWORK_ID)
    source_coop = draw(parties)
    dest_coop = draw(parties.filter(lambda c: c != NETWORK_ID or source_coop != NETWORK_ID))
    source = draw(endpoints(source_coop))
    dest = draw(endpoints(dest_coop).filter(lambda account_id: account_id != source))
    credit = draw(st.integers(min_value=1, max_value=AMOUNT_MINOR_TOP))
    shares = draw(st.lists(st.integers(min_value=0, max_value=10**9), min_size=3, max_size=3))
    source_fee, dest_fee, network_fee = (draw(st.sampled_from((0, s))) for s in shares)
    debit = credit + source_fee + dest_fee + network_fee
    currency = draw(st.sampled_from(CURRENCIES))
    return Movement(
        currency,
        source_coop,
        source,
        debit,
        dest_coop,
        dest,
        credit,
        source_fee,
        dest_fee,
        network_fee,
    )


def legs_of(movement: Movement) -> tuple[Leg, ...]:
    return movement_legs(movement, COOPS[movement.source_coop_id], COOPS[movement.dest_coop_id])


def per_coop(legs: tuple[Leg, ...]) -> dict[int, int]:
    totals: defaultdict[int, int] = defaultdict(int)
    for leg in legs:
        totals[OWNER[leg.account_id]] += leg.amount.amount_minor
    return dict(totals)


def check_books(movement: Movement) -> None:
    legs = legs_of(movement)
    assert sum(leg.amount.amount_minor for leg in legs) == 0
    assert len({leg.account_id for leg in legs}) == len(legs), "one leg per account"
    assert all(leg.amount.amount_minor != 0 for leg in legs), "no zero legs"
    assert {leg.amount.currency for leg in legs} == {movement.currency}
    assert set(per_coop(legs).values()) <= {0}, "each cooperative's books balance"
    by_account = {leg.account_id: leg.amount.amount_minor for leg in legs}
    owed = movement_obligations(movement, NETWORK_ID)
    assert all(o.amount_minor > 0 and o.debtor_coop_id != o.creditor_coop_id for o in owed)
    for coop in COOPS.values():
        payable = sum(o.amount_minor for o in owed if o.debtor_coop_id == coop.coop_id)
        receivable = sum(o.amount_minor for o in owed if o.creditor_coop_id == coop.coop_id)
        due = sum(by_account.get(a, 0) for a in due_accounts(coop.coop_id))
        assert due == payable - receivable
    network_legs = {a for a in by_account if OWNER[a] == NETWORK_ID}
    source = COOPS[movement.source_coop_id]
    allowed = {source.network_fee_account_id, source.network_due_account_id}
    if NETWORK_ID in (movement.source_coop_id, movement.dest_coop_id):
        allowed |= {NETWORK.cash_account_id, NETWORK.fee_account_id, NETWORK.due_account_id}
    assert network_legs <= allowed, (
        "the network's share lands on its accounts for the paying cooperative only"
    )
    assert by_account[movement.source_account_id] == -movement.debit_minor
    assert by_account[movement.dest_account_id] == movement.credit_minor


@given(movement=movements())
def test_random_movements_keep_every_cooperatives_books_balanced(movement: Movement) -> None:
    check_books(movement)


@given(movement=movements())
def test_the_fees_land_on_the_fee_accounts_of_whoever_earned_them(movement: Movement) -> None:
    legs = {leg.account_id: leg.amount.amount_minor for leg in legs_of(movement)}
    source, dest = COOPS[movement.source_coop_id], COOPS[movement.dest_coop_id]
    expected: defaultdict[int, int] = defaultdict(int)
    expected[source.fee_account_id] += movement.source_fee_minor
    expected[dest.fee_account_id] += movement.dest_fee_minor
    expected[source.network_fee_account_id] += movement.network_fee_minor
    for account_id, amount in expected.items():
        assert legs.get(account_id, 0) == amount


# Real quotes, built into movements the way routing builds them


@dataclass(frozen=True)
class Priced:
    payment_type: PaymentType
    criteria: MerchantCriteria | None
    amount: Money
    issuer: int
    acquirer: int


@st.composite
def priced_payments(draw: st.DrawFn) -> Priced:
    currency = draw(st.sampled_from(CURRENCIES))
    payment_type = draw(st.sampled_from(PaymentType))
    criteria = None
    if payment_type is PaymentType.QR_PURCHASE:
        criteria = draw(st.sampled_from([None, *MerchantCriteria]))
    low = 1
    if payment_type is PaymentType.CASH_IN:
        low = 100_001  # the deposit must cover the fixed fee
    amount = draw(st.integers(min_value=low, max_value=AMOUNT_MINOR_TOP))
    issuer = draw(st.sampled_from(COOP_IDS))
    acquirer = draw(st.sampled_from(COOP_IDS))
    return Priced(payment_type, criteria, Money(amount, currency), issuer, acquirer)


def priced_quote(p: Priced) -> Quote:
    schedule = launch_schedule(p.amount.currency)
    return quote(p.amount, p.payment_type, schedule, p.issuer, p.acquirer, p.criteria)


def movement_of(p: Priced, q: Quote) -> Movement:
    """As routing does: a cash-in comes from the counter and deducts the fee."""
    shares = q.shares
    currency = p.amount.currency
    if p.payment_type is PaymentType.CASH_IN:
        return Movement(
            currency,
            p.acquirer,
            COOPS[p.acquirer].cash_account_id,
            p.amount.amount_minor,
            p.issuer,
            wallet(p.issuer, 0),
            p.amount.amount_minor - q.fee.amount_minor,
            shares.acquirer.amount_minor,
            shares.issuer.amount_minor,
            shares.network.amount_minor,
        )
    dest = COOPS[p.acquirer].cash_account_id if p.payment_type is PaymentType.CASH_OUT else None
    return Movement(
        currency,
        p.issuer,
        wallet(p.issuer, 0),
        q.payer_pays.amount_minor,
        p.acquirer,
        dest or wallet(p.acquirer, 1),
        q.payee_receives.amount_minor,
        shares.issuer.amount_minor,
        shares.acquirer.amount_minor,
        shares.network.amount_minor,
    )


@given(p=priced_payments())
def test_a_quote_balances_and_its_shares_add_up_to_the_fee(p: Priced) -> None:
    q = priced_quote(p)
    assert q.payer_pays == q.payee_receives + q.fee
    assert q.shares.issuer + q.shares.acquirer + q.shares.network == q.fee
    assert min(s.amount_minor for s in (q.shares.issuer, q.shares.acquirer, q.shares.network)) >= 0
    if q.bearer is FeeBearer.MERCHANT:
        assert (q.payer_pays, q.payee_receives) == (p.amount, p.amount - q.fee)
    else:
        assert (q.payer_pays, q.payee_receives) == (p.amount + q.fee, p.amount)


@given(p=priced_payments())
def test_a_purchase_discount_is_split_forty_forty_twenty_to_within_a_unit(p: Priced) -> None:
    q = priced_quote(p)
    if p.payment_type is not PaymentType.QR_PURCHASE:
        return
    fee = q.fee.amount_minor
    for share, bps in (
        (q.shares.issuer, 4000),
        (q.shares.acquirer, 4000),
        (q.shares.network, 2000),
    ):
        assert abs(share.amount_minor * BPS_WHOLE - fee * bps) < BPS_WHOLE


@given(p=priced_payments())
def test_a_quoted_payment_moves_exactly_what_the_quote_says(p: Priced) -> None:
    q = priced_quote(p)
    movement = movement_of(p, q)
    check_books(movement)
    legs = {leg.account_id: leg.amount.amount_minor for leg in legs_of(movement)}
    if p.payment_type is PaymentType.CASH_IN:
        assert legs[movement.dest_account_id] == p.amount.amount_minor - q.fee.amount_minor
    else:
        assert legs[movement.source_account_id] == -q.payer_pays.amount_minor
        assert legs[movement.dest_account_id] == q.payee_receives.amount_minor
    fee_legs = sum(legs.get(a, 0) for a in FEE_ACCOUNTS)
    assert fee_legs == q.fee.amount_minor
