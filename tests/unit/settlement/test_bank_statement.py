"""Statement values keep their invariants whoever builds them, and the CSV import is strict."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.money import Money
from settlement.bank_statement import (
    BankStatement,
    Direction,
    StatementEntry,
    StatementError,
    StatementErrorCode,
)
from settlement.errors import SettlementError
from settlement.recon_statement_csv import (
    CSV_HEADER,
    STATEMENT_CSV_CHARS_MAX,
    parse_statement_csv,
)
from tests.unit.settlement.builders import WINDOW_DATE, entry, idr, statement

Code = StatementErrorCode
HEADER = ",".join(CSV_HEADER)


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join((header, *rows)) + "\r\n"


GOOD = csv_text(
    "2025-01-31,opening,10000.00,IDR,ACC-0001,,",
    "2025-01-31,credit,500.00,IDR,KOP-20250131-0001,LEDGER-000123,Koperasi Maju",
    "2025-01-31,debit,6.5,IDR,KOP-20250131-0002,LEDGER-000124,",
    "2025-01-31,closing,10493.50,IDR,ACC-0001,,",
)


def error_of(text: str) -> StatementError:
    with pytest.raises(StatementError) as excinfo:
        parse_statement_csv(text)
    return excinfo.value


# --- values -------------------------------------------------------------------------------


def test_statement_error_is_a_settlement_error_with_a_stable_code() -> None:
    error = StatementError(Code.STATEMENT_MALFORMED, "x", line=3)
    assert isinstance(error, SettlementError)
    assert error.code == "statement_malformed"
    assert error.line == 3


@pytest.mark.parametrize("amount_minor", [0, -1])
def test_entry_refuses_an_amount_that_is_not_positive(amount_minor: int) -> None:
    with pytest.raises(StatementError) as excinfo:
        StatementEntry(WINDOW_DATE, Money(amount_minor, "IDR"), Direction.CREDIT, "R", "B")
    assert excinfo.value.code is Code.STATEMENT_AMOUNT_INVALID


@pytest.mark.parametrize(
    ("reference", "bank_reference", "counterparty", "code"),
    [
        ("R" * 141, "", None, Code.STATEMENT_FIELD_TOO_LONG),
        ("R", "B" * 36, None, Code.STATEMENT_FIELD_TOO_LONG),
        ("R", "", "C" * 141, Code.STATEMENT_FIELD_TOO_LONG),
        (" R", "", None, Code.STATEMENT_TEXT_INVALID),
        ("R\x00", "", None, Code.STATEMENT_TEXT_INVALID),
        ("R", "", "", Code.STATEMENT_TEXT_INVALID),
        ("R", "B\r\n", None, Code.STATEMENT_TEXT_INVALID),
    ],
)
def test_entry_refuses_text_that_is_too_long_padded_empty_or_has_control_characters(
    reference: str, bank_reference: str, counterparty: str | None, code: Code
) -> None:
    with pytest.raises(StatementError) as excinfo:
        StatementEntry(
            WINDOW_DATE, idr("1"), Direction.CREDIT, reference, bank_reference, counterparty
        )
    assert excinfo.value.code is code


def test_entry_allows_an_empty_reference_since_banks_book_lines_without_one() -> None:
    assert entry("", "1.00").reference == ""


def test_statement_refuses_entries_that_do_not_carry_opening_to_closing() -> None:
    lines = (entry("A", "5.00"),)
    with pytest.raises(StatementError) as excinfo:
        BankStatement("ACC", "IDR", idr("10.00"), idr("14.99"), lines)
    assert excinfo.value.code is Code.STATEMENT_DOES_NOT_RECONCILE


def test_statement_refuses_an_entry_in_another_currency() -> None:
    lines = (entry("A", "5", currency="JPY"),)
    with pytest.raises(StatementError) as excinfo:
        BankStatement("ACC", "IDR", idr("0"), idr("5.00"), lines)
    assert excinfo.value.code is Code.STATEMENT_CURRENCY_MISMATCH


def test_statement_refuses_an_unknown_currency() -> None:
    with pytest.raises(StatementError) as excinfo:
        BankStatement("ACC", "XXX", idr("0"), idr("0"), ())
    assert excinfo.value.code is Code.STATEMENT_CURRENCY_UNKNOWN


def test_statement_refuses_an_empty_account() -> None:
    with pytest.raises(StatementError) as excinfo:
        BankStatement("", "IDR", idr("0"), idr("0"), ())
    assert excinfo.value.code is Code.STATEMENT_TEXT_INVALID


@pytest.mark.parametrize("currency", ["JPY", "IDR", "KWD"])
def test_statement_sums_credits_and_debits_in_every_exponent(currency: str) -> None:
    lines = (
        entry("A", "7", Direction.CREDIT, currency=currency),
        entry("B", "3", Direction.DEBIT, currency=currency),
    )
    built = statement(lines, opening_minor=-5, currency=currency)
    assert built.credits == Money.parse("7", currency)
    assert built.debits == Money.parse("3", currency)
    assert built.closing.amount_minor == -5 + Money.parse("4", currency).amount_minor


# --- CSV ----------------------------------------------------------------------------------


def test_parses_the_documented_example() -> None:
    parsed = parse_statement_csv(GOOD)
    assert parsed.account == "ACC-0001"
    assert (parsed.opening, parsed.closing) == (idr("10000.00"), idr("10493.50"))
    assert parsed.opening_date == parsed.closing_date == date(2025, 1, 31)
    first, second = parsed.entries
    assert (first.direction, first.amount, first.counterparty) == (
        Direction.CREDIT,
        idr("500.00"),
        "Koperasi Maju",
    )
    assert (second.direction, second.amount, second.counterparty) == (
        Direction.DEBIT,
        idr("6.50"),
        None,
    )
    assert second.reference == "KOP-20250131-0002"
    assert second.bank_reference == "LEDGER-000124"


def test_accepts_a_byte_order_mark_blank_lines_quoting_and_header_case() -> None:
    text = "\ufeff" + csv_text(
        "",
        "2025-01-31,OPENING,0,IDR,ACC-0001,,",
        '2025-01-31,credit,1.00,IDR,"KOP, 1",B1,"Koperasi ""Maju"""',
        "",
        "2025-01-31,closing,1.00,IDR,ACC-0001,,",
        header=HEADER.upper().replace(",", " , "),
    )
    parsed = parse_statement_csv(text)
    assert parsed.entries[0].reference == "KOP, 1"
    assert parsed.entries[0].counterparty == 'Koperasi "Maju"'


def test_allows_balance_rows_without_a_date_and_negative_balances() -> None:
    text = csv_text(",opening,-5.00,IDR,ACC-0001,,", ",closing,-5.00,IDR,ACC-0001,,")
    parsed = parse_statement_csv(text)
    assert parsed.opening == idr("-5.00")
    assert parsed.opening_date is None
    assert parsed.entries == ()


@pytest.mark.parametrize(
    ("rows", "code", "line"),
    [
        (("2025-01-31,credit,1.00,IDR,R,B,",), Code.STATEMENT_BALANCE_MISSING, 2),
        (("2025-01-31,opening,0,IDR,ACC,,",), Code.STATEMENT_BALANCE_MISSING, 2),
        (
            ("2025-01-31,opening,0,IDR,ACC,,", "2025-01-31,opening,0,IDR,ACC,,"),
            Code.STATEMENT_MALFORMED,
            3,
        ),
        (
            (
                "2025-01-31,opening,0,IDR,ACC,,",
                "2025-01-31,closing,0,IDR,ACC,,",
                "2025-01-31,credit,1.00,IDR,R,B,",
            ),
            Code.STATEMENT_MALFORMED,
            4,
        ),
        (
            ("2025-01-31,opening,0,IDR,ACC,,", "2025-01-31,closing,0,IDR,OTHER,,"),
            Code.STATEMENT_MALFORMED,
            3,
        ),
        (("2025-01-31,opening,0,IDR,ACC,X,",), Code.STATEMENT_MALFORMED, 2),
        (("2025-01-31,opening,0,IDR,,,",), Code.STATEMENT_TEXT_INVALID, 2),
    ],
)
def test_refuses_missing_repeated_or_misplaced_balance_rows(
    rows: tuple[str, ...], code: Code, line: int
) -> None:
    error = error_of(csv_text(*rows))
    assert (error.code, error.line) == (code, line)


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ("2025-01-31,credit,1.00,IDR,R,B", Code.STATEMENT_MALFORMED),
        ("2025-01-31,credit,1.00,IDR,R,B,,", Code.STATEMENT_MALFORMED),
        ("2025-01-31,refund,1.00,IDR,R,B,", Code.STATEMENT_DIRECTION_INVALID),
        ("2025-01-31,credit,1.00,USD,R,B,", Code.STATEMENT_CURRENCY_MISMATCH),
        ("31/01/2025,credit,1.00,IDR,R,B,", Code.STATEMENT_DATE_INVALID),
        ("2025-02-30,credit,1.00,IDR,R,B,", Code.STATEMENT_DATE_INVALID),
        ("20250131,credit,1.00,IDR,R,B,", Code.STATEMENT_DATE_INVALID),
        (",credit,1.00,IDR,R,B,", Code.STATEMENT_DATE_INVALID),
        ("2025-01-31,credit,1.001,IDR,R,B,", Code.STATEMENT_AMOUNT_INVALID),
        ("2025-01-31,credit,-1.00,IDR,R,B,", Code.STATEMENT_AMOUNT_INVALID),
        ("2025-01-31,credit,0.00,IDR,R,B,", Code.STATEMENT_AMOUNT_INVALID),
        ("2025-01-31,credit,1e3,IDR,R,B,", Code.STATEMENT_AMOUNT_INVALID),
        ('2025-01-31,credit,"1,000.00",IDR,R,B,', Code.STATEMENT_AMOUNT_INVALID),
        ("2025-01-31,credit,NaN,IDR,R,B,", Code.STATEMENT_AMOUNT_INVALID),
        ("2025-01-31,credit,99999999999999.00,IDR,R,B,", Code.STATEMENT_AMOUNT_INVALID),
        ("2025-01-31,credit,1.00,IDR," + "R" * 141 + ",B,", Code.STATEMENT_FIELD_TOO_LONG),
        ("2025-01-31,credit,1.00,IDR,R," + "B" * 36 + ",", Code.STATEMENT_FIELD_TOO_LONG),
        ('2025-01-31,credit,1.00,IDR,"R\x07",B,', Code.STATEMENT_TEXT_INVALID),
    ],
)
def test_refuses_a_bad_entry_row_with_its_line_number(row: str, code: Code) -> None:
    text = csv_text("2025-01-31,opening,0,IDR,ACC,,", row, "2025-01-31,closing,1.00,IDR,ACC,,")
    error = error_of(text)
    assert (error.code, error.line) == (code, 3)


def test_refuses_a_statement_that_does_not_reconcile_at_the_closing_line() -> None:
    error = error_of(GOOD.replace("10493.50", "10493.49"))
    assert (error.code, error.line) == (Code.STATEMENT_DOES_NOT_RECONCILE, 5)


def test_refuses_an_unknown_currency() -> None:
    error = error_of(csv_text("2025-01-31,opening,0,XYZ,ACC,,"))
    assert (error.code, error.line) == (Code.STATEMENT_CURRENCY_UNKNOWN, 2)


@pytest.mark.parametrize(
    "text", ["", "\r\n\r\n", "\r\ndate,direction,amount\r\n", HEADER.replace("amount", "amt")]
)
def test_refuses_a_missing_or_different_header(text: str) -> None:
    assert error_of(text).code is Code.STATEMENT_FORMAT_UNSUPPORTED


def test_refuses_broken_csv_quoting() -> None:
    text = csv_text('2025-01-31,opening,0,IDR,"ACC"x,,')
    assert error_of(text).code is Code.STATEMENT_MALFORMED


def test_refuses_text_over_the_size_limit_before_reading_it() -> None:
    error = error_of(" " * (STATEMENT_CSV_CHARS_MAX + 1))
    assert error.code is Code.STATEMENT_TOO_LARGE


def test_refuses_more_entries_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("settlement.recon_statement_csv.STATEMENT_ENTRIES_MAX", 2)
    rows = ["2025-01-31,credit,1.00,IDR,R,B,"] * 3
    text = csv_text("2025-01-31,opening,0,IDR,ACC,,", *rows, "2025-01-31,closing,3.00,IDR,ACC,,")
    error = error_of(text)
    assert (error.code, error.line) == (Code.STATEMENT_TOO_LARGE, 5)
