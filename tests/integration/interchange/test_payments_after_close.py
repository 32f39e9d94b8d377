"""Payments after `close`, on both engines: `Payments.submit` hands commands to the same
group committer as the ledger (ledger/group_commit.py), which refuses a unit submitted
once it is closed at once, with `service_closed`, rather than leaving the caller to wait
out `answer_wait_s` for `outcome_unknown` while nothing will ever handle it."""

from __future__ import annotations

import time

import pytest

from interchange.payment_model import CashIn, PaymentError, PaymentErrorCode
from ledger.errors import LedgerError, LedgerErrorCode
from tests.network import TestNetwork, idr


def test_a_payment_submitted_after_close_is_refused_at_once_and_never_recorded(
    net: TestNetwork,
) -> None:
    coop = net.add_coop("KSA")
    ani = net.add_member("ani", coop)
    payments = net.services.payments
    payments.close()
    started = time.monotonic()
    with pytest.raises(LedgerError) as refused:
        payments.submit(CashIn("after-close", ani.id, coop.id, idr(50_000)))
    assert refused.value.code is LedgerErrorCode.SERVICE_CLOSED
    assert time.monotonic() - started < 5
    with pytest.raises(PaymentError) as missing:
        payments.payment("after-close")
    assert missing.value.code is PaymentErrorCode.ORIGINAL_NOT_FOUND
