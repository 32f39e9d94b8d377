"""camt.053 import against the real sample files, its safety, and an export that validates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache

import pytest
import xmlschema

from ledger.money import Money
from settlement.bank_statement import (
    BankStatement,
    Direction,
    StatementEntry,
    StatementError,
    StatementErrorCode,
)
from settlement.camt053 import (
    CAMT053_NAMESPACES,
    Camt053Version,
    parse_camt053,
    render_camt053,
)
from tests.unit.settlement.builders import entry, idr, shared_file, statement

Code = StatementErrorCode
VERSIONS: tuple[Camt053Version, ...] = ("001.02", "001.08")
CREATED_AT = datetime(2025, 2, 1, 6, 0, tzinfo=timezone(timedelta(hours=7)))


def sample(version: Camt053Version) -> str:
    name = f"minimal_camt053_{version.replace('.', '_')}.xml"
    return shared_file(name).read_text(encoding="utf-8")


@cache
def schema(version: Camt053Version) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(shared_file(f"camt.053.{version}.xsd")))


def error_of(document: str | bytes) -> StatementError:
    raw = document.encode("utf-8") if isinstance(document, str) else document
    with pytest.raises(StatementError) as excinfo:
        parse_camt053(raw)
    return excinfo.value


# --- the real samples ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_parses_the_real_sample_statement(version: Camt053Version) -> None:
    parsed = parse_camt053(sample(version).encode("utf-8"))
    assert (parsed.account, parsed.currency) == ("ACC-0001", "IDR")
    assert parsed.statement_id == "STMT-ACC001-20250131"
    assert (parsed.opening, parsed.closing) == (idr("1000000"), idr("1049350"))
    assert parsed.opening_date == parsed.closing_date == date(2025, 1, 31)
    credit, debit = parsed.entries
    assert credit == StatementEntry(
        date(2025, 1, 31), idr("50000"), Direction.CREDIT, "INV-2025-0131-001", "LEDGER-000123"
    )
    assert debit == StatementEntry(
        date(2025, 1, 31), idr("650"), Direction.DEBIT, "INV-2025-0131-001", "LEDGER-000124"
    )


def test_both_sample_versions_give_the_same_statement() -> None:
    parsed = [parse_camt053(sample(version).encode("utf-8")) for version in VERSIONS]
    assert parsed[0] == parsed[1]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_real_samples_validate_against_their_schemas(version: Camt053Version) -> None:
    schema(version).validate(sample(version))


# --- refusals -----------------------------------------------------------------------------


def test_refuses_a_doctype_so_no_entity_can_expand() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><d>&b;</d>'
    )
    assert error_of(bomb).code is Code.STATEMENT_XML_FORBIDDEN


def test_refuses_an_external_entity() -> None:
    document = sample("001.02").replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    )
    document = document.replace("ACC-0001", "&x;")
    assert error_of(document).code is Code.STATEMENT_XML_FORBIDDEN


def test_refuses_a_document_that_is_not_utf8() -> None:
    document = sample("001.02").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert error_of(document.encode("utf-16")).code is Code.STATEMENT_MALFORMED


def test_refuses_a_document_over_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("settlement.camt053.CAMT053_BYTES_MAX", 100)
    assert error_of(sample("001.02")).code is Code.STATEMENT_TOO_LARGE


@pytest.mark.parametrize("document", ["", "not xml", "<Document>", "<a></b>"])
def test_refuses_text_that_is_not_xml(document: str) -> None:
    assert error_of(document).code is Code.STATEMENT_MALFORMED


@pytest.mark.parametrize(
    "namespace",
    [
        "urn:iso:std:iso:20022:tech:xsd:camt.053.001.04",
        "urn:iso:std:iso:20022:tech:xsd:camt.052.001.02",
        "",
    ],
)
def test_refuses_another_message_or_version(namespace: str) -> None:
    document = sample("001.02").replace(CAMT053_NAMESPACES["001.02"], namespace)
    assert error_of(document).code is Code.STATEMENT_FORMAT_UNSUPPORTED


def test_refuses_a_document_with_two_statements_rather_than_drop_one() -> None:
    document = sample("001.08")
    start, end = document.index("<Stmt>"), document.index("</Stmt>") + len("</Stmt>")
    document = document[:end] + document[start:end] + document[end:]
    assert error_of(document).code is Code.STATEMENT_NOT_SINGLE


@pytest.mark.parametrize("version", VERSIONS)
def test_refuses_a_statement_whose_entries_do_not_reach_the_closing_balance(
    version: Camt053Version,
) -> None:
    document = sample(version).replace(
        '<Amt Ccy="IDR">1049350</Amt>', '<Amt Ccy="IDR">1049351</Amt>'
    )
    assert error_of(document).code is Code.STATEMENT_DOES_NOT_RECONCILE


def test_refuses_an_entry_in_another_currency_and_names_the_entry() -> None:
    document = sample("001.02").replace('<Amt Ccy="IDR">650</Amt>', '<Amt Ccy="USD">650</Amt>')
    error = error_of(document)
    assert error.code is Code.STATEMENT_CURRENCY_MISMATCH
    assert error.field is not None and error.field.startswith("Ntry[2]")


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (
            "<CdtDbtInd>DBIT</CdtDbtInd>",
            "<CdtDbtInd>DEBIT</CdtDbtInd>",
            Code.STATEMENT_DIRECTION_INVALID,
        ),
        ('<Amt Ccy="IDR">650</Amt>', '<Amt Ccy="IDR">6.501</Amt>', Code.STATEMENT_AMOUNT_INVALID),
        ('<Amt Ccy="IDR">650</Amt>', '<Amt Ccy="IDR">-650</Amt>', Code.STATEMENT_AMOUNT_INVALID),
        ('<Amt Ccy="IDR">650</Amt>', '<Amt Ccy="IDR">0</Amt>', Code.STATEMENT_AMOUNT_INVALID),
        ("<Cd>CLBD</Cd>", "<Cd>CLAV</Cd>", Code.STATEMENT_BALANCE_MISSING),
        ("<Cd>OPBD</Cd>", "<Cd>ITBD</Cd>", Code.STATEMENT_BALANCE_MISSING),
        ("<Othr><Id>ACC-0001</Id></Othr>", "<Othr></Othr>", Code.STATEMENT_MALFORMED),
        (
            "<BookgDt><Dt>2025-01-31</Dt></BookgDt>",
            "<BookgDt><Dt>2025-13-31</Dt></BookgDt>",
            Code.STATEMENT_DATE_INVALID,
        ),
        (
            "<AcctSvcrRef>LEDGER-000124</AcctSvcrRef>",
            "<AcctSvcrRef>" + "L" * 36 + "</AcctSvcrRef>",
            Code.STATEMENT_FIELD_TOO_LONG,
        ),
    ],
)
def test_refuses_a_bad_field_with_its_code(old: str, new: str, code: Code) -> None:
    document = sample("001.02")
    assert old in document
    assert error_of(document.replace(old, new)).code is code


def test_refuses_an_entry_without_any_date() -> None:
    document = sample("001.02")
    for tag in ("BookgDt", "ValDt"):
        document = document.replace(f"<{tag}><Dt>2025-01-31</Dt></{tag}>", "")
    assert error_of(document).code is Code.STATEMENT_DATE_INVALID


# --- variants the import understands ------------------------------------------------------


def test_skips_pending_entries_because_they_do_not_move_the_booked_balance() -> None:
    document = sample("001.08").replace("<Sts><Cd>BOOK</Cd></Sts>", "<Sts><Cd>PDNG</Cd></Sts>", 1)
    document = document.replace('<Amt Ccy="IDR">1049350</Amt>', '<Amt Ccy="IDR">999350</Amt>')
    parsed = parse_camt053(document.encode())
    assert [e.bank_reference for e in parsed.entries] == ["LEDGER-000124"]


def test_reads_iban_debit_balances_previous_closing_and_date_times() -> None:
    document = (
        sample("001.02")
        .replace("<Othr><Id>ACC-0001</Id></Othr>", "<IBAN>ID12BANK0000123456</IBAN>")
        .replace("<Cd>OPBD</Cd>", "<Cd>PRCD</Cd>")
        # Both balances (and only they) have CdtDbtInd followed by a date.
        .replace(
            "<CdtDbtInd>CRDT</CdtDbtInd>\n        <Dt>",
            "<CdtDbtInd>DBIT</CdtDbtInd>\n        <Dt>",
        )
        .replace('<Amt Ccy="IDR">1049350</Amt>', '<Amt Ccy="IDR">950650</Amt>')
        .replace(
            "<BookgDt><Dt>2025-01-31</Dt></BookgDt>",
            "<BookgDt><DtTm>2025-01-30T23:59:00+07:00</DtTm></BookgDt>",
            1,
        )
    )
    parsed = parse_camt053(document.encode())
    assert parsed.account == "ID12BANK0000123456"
    assert (parsed.opening, parsed.closing) == (idr("-1000000"), idr("-950650"))
    assert parsed.entries[0].booking_date == date(2025, 1, 30)


def test_takes_the_reference_from_remittance_text_when_end_to_end_id_is_not_provided() -> None:
    document = sample("001.02").replace(
        "<Refs><EndToEndId>INV-2025-0131-001</EndToEndId></Refs>",
        "<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
        "<RltdPties><Dbtr><Nm>Koperasi Maju</Nm></Dbtr></RltdPties>"
        "<RmtInf><Ustrd>KOP-20250131-0001</Ustrd></RmtInf>",
        1,
    )
    first = parse_camt053(document.encode()).entries[0]
    assert (first.reference, first.counterparty) == ("KOP-20250131-0001", "Koperasi Maju")


def test_an_entry_without_details_has_an_empty_reference() -> None:
    document = sample("001.08")
    start = document.index("<NtryDtls>")
    end = document.index("</NtryDtls>") + len("</NtryDtls>")
    parsed = parse_camt053((document[:start] + document[end:]).encode())
    assert (parsed.entries[0].reference, parsed.entries[0].counterparty) == ("", None)


# --- export -------------------------------------------------------------------------------


def rich_statement(currency: str = "IDR") -> BankStatement:
    """Every field the export writes: IBAN, long and short references, both directions."""
    lines = (
        entry(
            "KOP-20250131-0001",
            "500",
            bank_reference="B-1",
            counterparty="Koperasi Maju",
            currency=currency,
        ),
        entry(
            "KOP-20250131-0002",
            "7",
            Direction.DEBIT,
            counterparty="Koperasi Ñandú",
            currency=currency,
        ),
        entry("R" * 140, "1", currency=currency),
        entry("NOTPROVIDED", "2", Direction.DEBIT, currency=currency),
        entry("", "3", Direction.DEBIT, bank_reference="FEE-9", currency=currency),
    )
    built = statement(lines, opening_minor=-1_000, currency=currency)
    return BankStatement(
        "ID12BANK0000123456",
        currency,
        built.opening,
        built.closing,
        built.entries,
        statement_id="STMT-1",
        opening_date=date(2025, 1, 31),
        closing_date=date(2025, 1, 31),
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("currency", ["JPY", "IDR", "KWD"])
def test_export_validates_against_the_official_schema(
    version: Camt053Version, currency: str
) -> None:
    rendered = render_camt053(
        rich_statement(currency), message_id="KOPNET-1", created_at=CREATED_AT, version=version
    )
    schema(version).validate(rendered.decode("utf-8"))


@pytest.mark.parametrize("version", VERSIONS)
def test_export_of_a_statement_without_entries_validates(version: Camt053Version) -> None:
    empty = BankStatement("ACC-0001", "IDR", idr("0"), idr("0"), ())
    rendered = render_camt053(empty, message_id="M", created_at=CREATED_AT, version=version)
    schema(version).validate(rendered.decode("utf-8"))
    parsed = parse_camt053(rendered)
    assert parsed.statement_id == "M"
    assert parsed.opening_date == CREATED_AT.date()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("currency", ["JPY", "IDR", "KWD"])
def test_export_reads_back_to_the_same_statement(version: Camt053Version, currency: str) -> None:
    original = rich_statement(currency)
    rendered = render_camt053(original, message_id="M", created_at=CREATED_AT, version=version)
    assert parse_camt053(rendered) == original


@pytest.mark.parametrize("version", VERSIONS)
def test_export_of_the_real_sample_reads_back_and_validates(version: Camt053Version) -> None:
    original = parse_camt053(sample(version).encode())
    rendered = render_camt053(original, message_id="M", created_at=CREATED_AT, version=version)
    schema(version).validate(rendered.decode("utf-8"))
    assert parse_camt053(rendered) == original


@pytest.mark.parametrize("message_id", ["", "M" * 36, " M"])
def test_export_refuses_a_bad_message_id(message_id: str) -> None:
    with pytest.raises(StatementError) as excinfo:
        render_camt053(
            rich_statement(), message_id=message_id, created_at=datetime.now(UTC), version="001.08"
        )
    assert excinfo.value.code is Code.STATEMENT_TEXT_INVALID


def test_export_writes_balances_as_absolute_amounts_with_a_debit_indicator() -> None:
    rendered = render_camt053(
        rich_statement(), message_id="M", created_at=CREATED_AT, version="001.02"
    ).decode()
    assert '<Amt Ccy="IDR">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>' in rendered
    assert Money(-1_000, "IDR").format() == "-10.00"
