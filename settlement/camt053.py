"""ISO 20022 camt.053 (BankToCustomerStatement) import and export, versions 001.02 and 001.08.

Import (`parse_camt053`) reads one statement (`Stmt`) of one account into a
`BankStatement`:
- account: `Acct/Id/IBAN`, else `Acct/Id/Othr/Id`; currency: `Acct/Ccy`, else the opening
  balance's `Amt@Ccy`; every `Amt@Ccy` must equal it;
- opening balance: `Bal` of type `OPBD`, else `PRCD`; closing: `CLBD`; each signed by its
  `CdtDbtInd` (`DBIT` is negative) and dated by `Dt/Dt` or the date part of `Dt/DtTm`;
- entries: only booked ones (`Sts` `BOOK`, or `Sts/Cd` `BOOK` in 001.08); pending and
  information-only entries do not move the booked balance and are skipped. The booking date
  is `BookgDt` (else `ValDt`), `Dt` or the date part of `DtTm` as written; the bank's
  reference is `AcctSvcrRef`; our reference is the first `TxDtls`' `Refs/EndToEndId`
  (unless `NOTPROVIDED`), else its first `RmtInf/Ustrd`, else ""; the counterparty is the
  debtor's name on a credit and the creditor's on a debit.
The statement must reconcile (opening + credits - debits = closing), else
`statement_does_not_reconcile`; a document with several `Stmt` is refused
(`statement_not_single`) rather than silently cut.

Safety: the document is at most `CAMT053_BYTES_MAX` bytes of UTF-8 and may not contain a
DOCTYPE or an entity declaration (`statement_xml_forbidden`), so no DTD, no entity
expansion and no external entity can be reached; it is then parsed from the decoded text
by the standard library's expat, which ignores any encoding declaration.

Export is `render_camt053` (defined in `settlement.recon_camt053_render`, re-exported here):
`parse_camt053(render_camt053(s, ...)) == s` for every statement whose `statement_id` is
set.

Pure: bytes in, values out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from ledger.money import Money
from settlement.bank_statement import (
    STATEMENT_ENTRIES_MAX,
    BankStatement,
    Direction,
    StatementEntry,
    StatementError,
    StatementErrorCode,
    parse_statement_amount,
    parse_statement_date,
)
from settlement.recon_camt053_render import (
    CAMT053_NAMESPACES,
    NOT_PROVIDED,
    Camt053Version,
    render_camt053,
)

__all__ = [
    "CAMT053_BYTES_MAX",
    "CAMT053_NAMESPACES",
    "Camt053Version",
    "parse_camt053",
    "render_camt053",
]

# About 600 bytes an entry for STATEMENT_ENTRIES_MAX entries.
CAMT053_BYTES_MAX = 64 * 2**20

_CODE = StatementErrorCode


def _malformed(message: str, field: str) -> StatementError:
    """A `statement_malformed` error about `field`."""
    return StatementError(_CODE.STATEMENT_MALFORMED, message, field=field)


# --- import -------------------------------------------------------------------------------


def _decode(xml_bytes: bytes) -> str:
    """Return the document as text, refusing oversize, non-UTF-8, DOCTYPE and ENTITY."""
    if len(xml_bytes) > CAMT053_BYTES_MAX:
        raise StatementError(_CODE.STATEMENT_TOO_LARGE, f"at most {CAMT053_BYTES_MAX} bytes")
    try:
        text = xml_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _malformed("camt.053 documents are UTF-8", "document") from exc
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        message = "DTDs and entity declarations are refused"
        raise StatementError(_CODE.STATEMENT_XML_FORBIDDEN, message, field="document")
    return text


class _Reader:
    """Namespace-aware lookups in one parsed document."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def path(self, path: str) -> str:
        """Qualify every step of a slash-separated path with the namespace."""
        return "/".join(f"{{{self.namespace}}}{step}" for step in path.split("/"))

    def find(self, element: ET.Element, path: str) -> ET.Element | None:
        """Return the first element at `path`, if any."""
        return element.find(self.path(path))

    def findall(self, element: ET.Element, path: str) -> list[ET.Element]:
        """Return every element at `path`."""
        return element.findall(self.path(path))

    def text(self, element: ET.Element, path: str) -> str | None:
        """Return the stripped text at `path`, or None when absent or empty."""
        found = self.find(element, path)
        text = (found.text or "").strip() if found is not None else ""
        return text or None

    def required(self, element: ET.Element, path: str) -> str:
        """Return the stripped text at `path`, raising `statement_malformed` if absent."""
        text = self.text(element, path)
        if text is None:
            raise _malformed(f"{path} is required", path)
        return text


def _root(xml_bytes: bytes) -> tuple[_Reader, ET.Element]:
    """Parse the document and return a reader for its camt.053 namespace and the `Stmt`."""
    text = _decode(xml_bytes)
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs and entities were refused above
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise StatementError(_CODE.STATEMENT_MALFORMED, f"not XML: {exc}", line=line) from exc
    namespaces = {f"{{{ns}}}Document": ns for ns in CAMT053_NAMESPACES.values()}
    if root.tag not in namespaces:
        message = "not a camt.053.001.02 or .08 Document"
        raise StatementError(_CODE.STATEMENT_FORMAT_UNSUPPORTED, message, field="Document")
    reader = _Reader(namespaces[root.tag])
    statements = reader.findall(root, "BkToCstmrStmt/Stmt")
    if len(statements) != 1:
        message = f"expected one Stmt, found {len(statements)}"
        raise StatementError(_CODE.STATEMENT_NOT_SINGLE, message, field="Stmt")
    return reader, statements[0]


def _date_choice(reader: _Reader, element: ET.Element | None, field: str) -> date | None:
    """Return the date of a `Dt`/`DtTm` choice (the date part as written), if present."""
    if element is None:
        return None
    day = reader.text(element, "Dt")
    if day is None:
        moment = reader.text(element, "DtTm")
        day = moment[:10] if moment is not None else None
    return parse_statement_date(day, field) if day is not None else None


def _amount(reader: _Reader, parent: ET.Element, currency: str | None, field: str) -> Money:
    """Return `Amt` signed by `CdtDbtInd` (debits negative), in `currency` when given."""
    amount = reader.find(parent, "Amt")
    if amount is None:
        raise _malformed(f"{field}/Amt is required", field)
    ccy = amount.get("Ccy", "")
    if currency is not None and ccy != currency:
        message = f"{field} is in {ccy[:8]!r}, not {currency}"
        raise StatementError(_CODE.STATEMENT_CURRENCY_MISMATCH, message, field=field)
    value = parse_statement_amount((amount.text or "").strip(), ccy, f"{field}/Amt")
    return -value if _direction(reader, parent, field) is Direction.DEBIT else value


def _direction(reader: _Reader, parent: ET.Element, field: str) -> Direction:
    """Return the direction of `CdtDbtInd`."""
    indicator = reader.text(parent, "CdtDbtInd")
    if indicator not in {"CRDT", "DBIT"}:
        message = f"{field}/CdtDbtInd is CRDT or DBIT"
        raise StatementError(_CODE.STATEMENT_DIRECTION_INVALID, message, field=field)
    return Direction.CREDIT if indicator == "CRDT" else Direction.DEBIT


def _balance(
    reader: _Reader, stmt: ET.Element, codes: tuple[str, ...], currency: str | None
) -> tuple[Money, date | None]:
    """Return the first balance of the first of `codes` that the statement has, and its date."""
    by_code: dict[str | None, ET.Element] = {}
    for balance in reader.findall(stmt, "Bal"):
        by_code.setdefault(reader.text(balance, "Tp/CdOrPrtry/Cd"), balance)
    for code in codes:
        if code in by_code:
            balance = by_code[code]
            field = f"Bal[{code}]"
            dated = _date_choice(reader, reader.find(balance, "Dt"), f"{field}/Dt")
            return _amount(reader, balance, currency, field), dated
    message = f"no {' or '.join(codes)} balance"
    raise StatementError(_CODE.STATEMENT_BALANCE_MISSING, message, field="Bal")


def _account(reader: _Reader, stmt: ET.Element) -> str:
    """Return the account's IBAN, else its other identifier."""
    iban = reader.text(stmt, "Acct/Id/IBAN")
    return iban if iban is not None else reader.required(stmt, "Acct/Id/Othr/Id")


def _reference(reader: _Reader, details: ET.Element | None) -> str:
    """Return the end-to-end id (unless NOTPROVIDED), else the first unstructured remittance."""
    if details is None:
        return ""
    end_to_end = reader.text(details, "Refs/EndToEndId")
    if end_to_end is not None and end_to_end != NOT_PROVIDED:
        return end_to_end
    return reader.text(details, "RmtInf/Ustrd") or ""


def _counterparty(reader: _Reader, details: ET.Element | None, direction: Direction) -> str | None:
    """Return the debtor's name on a credit, the creditor's on a debit (001.02 or 001.08)."""
    if details is None:
        return None
    party = "Dbtr" if direction is Direction.CREDIT else "Cdtr"
    direct = reader.text(details, f"RltdPties/{party}/Nm")
    return direct if direct is not None else reader.text(details, f"RltdPties/{party}/Pty/Nm")


def _is_booked(reader: _Reader, entry: ET.Element) -> bool:
    """True for a booked entry: `Sts` is BOOK (001.02) or `Sts/Cd` is BOOK (001.08)."""
    return "BOOK" in {reader.text(entry, "Sts"), reader.text(entry, "Sts/Cd")}


def _entry(reader: _Reader, element: ET.Element, currency: str, field: str) -> StatementEntry:
    """Read one booked `Ntry`."""
    signed = _amount(reader, element, currency, field)
    direction = Direction.DEBIT if signed.amount_minor < 0 else Direction.CREDIT
    booked = reader.find(element, "BookgDt")
    booked = booked if booked is not None else reader.find(element, "ValDt")
    booking_date = _date_choice(reader, booked, f"{field}/BookgDt")
    if booking_date is None:
        message = f"{field} has neither BookgDt nor ValDt"
        raise StatementError(_CODE.STATEMENT_DATE_INVALID, message, field=field)
    details = reader.find(element, "NtryDtls/TxDtls")
    amount = -signed if direction is Direction.DEBIT else signed
    bank_reference = reader.text(element, "AcctSvcrRef") or ""
    return StatementEntry(
        booking_date,
        amount,
        direction,
        _reference(reader, details),
        bank_reference,
        _counterparty(reader, details, direction),
    )


def _entries(reader: _Reader, stmt: ET.Element, currency: str) -> tuple[StatementEntry, ...]:
    """Read the booked entries in document order, locating errors by `Ntry[n]`."""
    elements = reader.findall(stmt, "Ntry")
    if len(elements) > STATEMENT_ENTRIES_MAX:
        message = f"at most {STATEMENT_ENTRIES_MAX} entries"
        raise StatementError(_CODE.STATEMENT_TOO_LARGE, message, field="Ntry")
    entries = []
    for number, element in enumerate(elements, start=1):
        if not _is_booked(reader, element):
            continue
        field = f"Ntry[{number}]"
        try:
            entries.append(_entry(reader, element, currency, field))
        except StatementError as exc:
            raise exc.within(field) from None
    return tuple(entries)


def parse_camt053(xml_bytes: bytes) -> BankStatement:
    """Parse a camt.053.001.02 or .08 document of one statement; see the module docstring.

    Checks run in this order: `statement_too_large`, `statement_malformed` (encoding),
    `statement_xml_forbidden`, `statement_malformed` (XML), `statement_format_unsupported`,
    `statement_not_single`, then the account, balances and entries in document order, and
    last `statement_does_not_reconcile`.
    """
    assert isinstance(xml_bytes, bytes), "xml_bytes must be bytes"
    reader, stmt = _root(xml_bytes)
    account = _account(reader, stmt)
    currency = reader.text(stmt, "Acct/Ccy")
    opening, opening_date = _balance(reader, stmt, ("OPBD", "PRCD"), currency)
    currency = opening.currency
    closing, closing_date = _balance(reader, stmt, ("CLBD",), currency)
    return BankStatement(
        account,
        currency,
        opening,
        closing,
        _entries(reader, stmt, currency),
        statement_id=reader.text(stmt, "Id"),
        opening_date=opening_date,
        closing_date=closing_date,
    )
