"""ISO 20022 camt.053 export: a `BankStatement` as a BankToCustomerStatement document.

`render_camt053` writes version 001.02 or 001.08, valid against the official schema of that
version (the tests validate against `shared/testdata/camt.053.001.0{2,8}.xsd`):
- one `Stmt`, identified by the statement's `statement_id`, else the message id;
- the account as `Acct/Id/IBAN` when it has an IBAN's shape, else `Acct/Id/Othr/Id`;
- balances `OPBD` and `CLBD`, dated by the statement's dates, else the first and last
  booking date, else the creation day;
- one booked `Ntry` per entry in order, with bank transaction code PMNT/RCDT/OTHR (credit)
  or PMNT/ICDT/OTHR (debit), `AcctSvcrRef` from the bank reference, and under
  `NtryDtls/TxDtls` our reference as `Refs/EndToEndId` (when it fits in 35 characters and
  is not `NOTPROVIDED`, else as `RmtInf/Ustrd`) and the counterparty as the debtor's name
  on a credit and the creditor's on a debit.
`settlement.camt053.parse_camt053` reads every one of these back to an equal statement
(when `statement_id` is set). The namespaces and versions live here and are re-exported by
`settlement.camt053`.

Pure: values in, bytes out; the clock is the caller's `created_at`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

from ledger.money import Money
from settlement.bank_statement import (
    BankStatement,
    Direction,
    StatementEntry,
    StatementError,
    StatementErrorCode,
)

__all__ = [
    "CAMT053_NAMESPACES",
    "END_TO_END_ID_CHARS_MAX",
    "NOT_PROVIDED",
    "Camt053Version",
    "render_camt053",
]

Camt053Version: TypeAlias = Literal["001.02", "001.08"]
CAMT053_NAMESPACES: Final[Mapping[Camt053Version, str]] = MappingProxyType(
    {
        "001.02": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02",
        "001.08": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08",
    }
)
# ISO 20022's placeholder for an absent end-to-end id, and that field's Max35Text length.
NOT_PROVIDED = "NOTPROVIDED"
END_TO_END_ID_CHARS_MAX = 35
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}")
_CODE = StatementErrorCode


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    """Append a child `tag` with optional text (in the root's default namespace)."""
    child = ET.SubElement(parent, tag, attrib)
    if text is not None:
        child.text = text
    return child


def _sub_path(parent: ET.Element, path: str, text: str) -> None:
    """Append the chain of elements `A/B/C` with `text` in the last one."""
    *steps, last = path.split("/")
    for step in steps:
        parent = _sub(parent, step)
    _sub(parent, last, text)


def _put_amount(parent: ET.Element, amount: Money) -> None:
    """Append `Amt` (absolute value) and `CdtDbtInd` (`DBIT` when negative)."""
    _sub(
        parent,
        "Amt",
        Money(abs(amount.amount_minor), amount.currency).format(),
        Ccy=amount.currency,
    )
    _sub(parent, "CdtDbtInd", "DBIT" if amount.amount_minor < 0 else "CRDT")


def _put_balance(stmt: ET.Element, code: str, amount: Money, on_date: date) -> None:
    """Append a `Bal` of type `code`."""
    balance = _sub(stmt, "Bal")
    _sub_path(balance, "Tp/CdOrPrtry/Cd", code)
    _put_amount(balance, amount)
    _sub_path(balance, "Dt/Dt", on_date.isoformat())


def _put_details(entry: ET.Element, item: StatementEntry, version: Camt053Version) -> None:
    """Append `NtryDtls/TxDtls` with the reference and counterparty, when there are any."""
    short = len(item.reference) <= END_TO_END_ID_CHARS_MAX and item.reference != NOT_PROVIDED
    if not item.reference and item.counterparty is None:
        return
    details = _sub(_sub(entry, "NtryDtls"), "TxDtls")
    if item.reference and short:
        _sub_path(details, "Refs/EndToEndId", item.reference)
    if item.counterparty is not None:
        party = "Dbtr" if item.direction is Direction.CREDIT else "Cdtr"
        name_path = f"RltdPties/{party}/Nm" if version == "001.02" else f"RltdPties/{party}/Pty/Nm"
        _sub_path(details, name_path, item.counterparty)
    if item.reference and not short:
        _sub_path(details, "RmtInf/Ustrd", item.reference)


def _put_entry(
    stmt: ET.Element, number: int, item: StatementEntry, version: Camt053Version
) -> None:
    """Append one booked `Ntry` with a standard bank transaction code."""
    entry = _sub(stmt, "Ntry")
    _sub(entry, "NtryRef", str(number))
    signed = item.amount if item.direction is Direction.CREDIT else -item.amount
    _put_amount(entry, signed)
    _sub_path(entry, "Sts" if version == "001.02" else "Sts/Cd", "BOOK")
    _sub_path(entry, "BookgDt/Dt", item.booking_date.isoformat())
    if item.bank_reference:
        _sub(entry, "AcctSvcrRef", item.bank_reference)
    # PMNT/RCDT is a received credit transfer, PMNT/ICDT an issued one.
    family = "RCDT" if item.direction is Direction.CREDIT else "ICDT"
    domain = _sub(_sub(entry, "BkTxCd"), "Domn")
    _sub(domain, "Cd", "PMNT")
    fmly = _sub(domain, "Fmly")
    _sub(fmly, "Cd", family)
    _sub(fmly, "SubFmlyCd", "OTHR")
    _put_details(entry, item, version)


def _balance_dates(statement: BankStatement, created_at: datetime) -> tuple[date, date]:
    """The balances' dates: as given, else the first and last booking, else the creation day."""
    booked = sorted(entry.booking_date for entry in statement.entries)
    opening = statement.opening_date or (booked[0] if booked else created_at.date())
    closing = statement.closing_date or (booked[-1] if booked else created_at.date())
    return opening, closing


def render_camt053(
    statement: BankStatement,
    *,
    message_id: str,
    created_at: datetime,
    version: Camt053Version,
) -> bytes:
    """Render `statement` as a UTF-8 camt.053 document of `version` that validates.

    `message_id` (1-35 characters) identifies the message and, when the statement has no
    `statement_id`, the statement too; `created_at` is timezone-aware.
    """
    assert created_at.tzinfo is not None, "created_at is timezone-aware"
    assert version in CAMT053_NAMESPACES, "version is 001.02 or 001.08"
    if not 1 <= len(message_id) <= 35 or message_id != message_id.strip():
        message = "message_id is 1-35 unpadded characters"
        raise StatementError(_CODE.STATEMENT_TEXT_INVALID, message, field="message_id")
    # The namespace is declared as a plain attribute so that every element, unprefixed, is
    # in it while `Amt@Ccy` stays unqualified, as the schema wants; ElementTree's
    # `default_namespace` refuses unqualified attributes.
    document = ET.Element("Document", xmlns=CAMT053_NAMESPACES[version])
    body = _sub(document, "BkToCstmrStmt")
    header = _sub(body, "GrpHdr")
    _sub(header, "MsgId", message_id)
    _sub(header, "CreDtTm", created_at.isoformat())
    _put_statement(_sub(body, "Stmt"), statement, message_id, created_at, version)
    rendered: bytes = ET.tostring(document, encoding="utf-8", xml_declaration=True)
    return rendered


def _put_statement(
    stmt: ET.Element,
    statement: BankStatement,
    message_id: str,
    created_at: datetime,
    version: Camt053Version,
) -> None:
    """Fill `Stmt`: identity, account, balances and entries, in schema order."""
    _sub(stmt, "Id", statement.statement_id or message_id)
    _sub(stmt, "CreDtTm", created_at.isoformat())
    account = _sub(stmt, "Acct")
    if _IBAN.fullmatch(statement.account):
        _sub_path(account, "Id/IBAN", statement.account)
    else:
        _sub_path(account, "Id/Othr/Id", statement.account)
    _sub(account, "Ccy", statement.currency)
    opening_date, closing_date = _balance_dates(statement, created_at)
    _put_balance(stmt, "OPBD", statement.opening, opening_date)
    _put_balance(stmt, "CLBD", statement.closing, closing_date)
    for number, item in enumerate(statement.entries, start=1):
        _put_entry(stmt, number, item, version)
