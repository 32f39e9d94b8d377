"""A payment row becomes its record with its moment in UTC, whatever time zone the row's
connection reads times in (psycopg's own rows come in the server session's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

from interchange.payment_model import PaymentKind, PaymentStatus
from interchange.payment_records import record_from_row

JAKARTA = timezone(timedelta(hours=7))


def test_a_rows_moment_read_in_another_time_zone_is_recorded_in_utc() -> None:
    row = SimpleNamespace(
        payment_id="p1",
        kind="qr_purchase",
        status="completed",
        issuer_coop_id=1,
        acquirer_coop_id=2,
        payer_account_id=10,
        payee_account_id=20,
        merchant_id=5,
        currency="IDR",
        amount_minor=3_900_000,
        extra_minor=0,
        fee_minor=27_300,
        fee_bearer="payee",
        issuer_fee_minor=10_000,
        acquirer_fee_minor=10_000,
        network_fee_minor=7_300,
        schedule_version=1,
        entry_id="pay-p1",
        original_payment_id=None,
        refunded_minor=0,
        business_date=date(2026, 12, 1),
        window_date=date(2026, 12, 1),
        request_json="{}",
        created_at=datetime(2026, 12, 1, 9, 30, tzinfo=JAKARTA),
    )
    record = record_from_row(row)
    assert record.kind is PaymentKind.QR_PURCHASE
    assert record.status is PaymentStatus.COMPLETED
    assert record.created_at.tzinfo is UTC
    assert record.created_at == datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
