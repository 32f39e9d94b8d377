"""The `qr` command line: decode, encode and render merchant QR codes.

A thin shell over the pure package: parse options, call one function, print JSON or the
payload. Every `QrError` prints `{"error": code, "message": ..., "field": ...}` on stdout
and exits with status 2; success exits 0. Only `render` writes a file, the one it is told to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from interchange.qr.amount import currency_numeric, parse_amount
from interchange.qr.decode import decode
from interchange.qr.encode import encode_merchant_qr
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.fees import FeeRule, TipIndicator, parse_fee_rule
from interchange.qr.qris import check_qris
from interchange.qr.render import render_png, render_svg
from interchange.qr.spec import MerchantQrSpec, parse_criteria

__all__ = ["EXIT_QR_ERROR", "qr_app"]

EXIT_QR_ERROR = 2
qr_app = typer.Typer(help="EMVCo merchant-presented QR codes (QRIS).", no_args_is_help=True)


def _print_json(document: object) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))


def _fail(exc: QrError) -> NoReturn:
    _print_json({"error": exc.code.value, "message": exc.message, "field": exc.field})
    raise typer.Exit(EXIT_QR_ERROR)


@qr_app.command("decode")
def decode_command(payload: Annotated[str, typer.Argument(help="The QR payload text.")]) -> None:
    """Print a payload's tags and its strict QRIS findings as JSON."""
    try:
        decoded = decode(payload)
    except QrError as exc:
        _fail(exc)
    findings = [
        {"code": f.code.value, "severity": f.severity.value, "field": f.field, "message": f.message}
        for f in check_qris(decoded)
    ]
    _print_json({"tags": decoded.as_dict(), "findings": findings})


def _fee_rule(
    tip_prompt: bool, fixed_fee: str | None, percentage_fee: str | None, currency: str
) -> FeeRule | None:
    chosen = [
        indicator
        for indicator, wanted in (
            (TipIndicator.PAYER_ENTERS_TIP, tip_prompt),
            (TipIndicator.FIXED_FEE, fixed_fee is not None),
            (TipIndicator.PERCENTAGE_FEE, percentage_fee is not None),
        )
        if wanted
    ]
    if len(chosen) > 1:
        raise QrError(QrErrorCode.TIP_VALUE_INVALID, "choose one of tip, fixed or percentage")
    indicator = chosen[0].value if chosen else None
    return parse_fee_rule(indicator, fixed_fee, percentage_fee, currency)


_Text = Annotated[str, typer.Option()]
_OptionalText = Annotated[str | None, typer.Option()]


@qr_app.command("encode")
def encode_command(
    merchant_network_id: _Text,
    merchant_name: _Text,
    merchant_city: _Text,
    mcc: _Text,
    criteria: Annotated[str, typer.Option(help="UMI, UKE, UME, UBE or URE.")] = "UMI",
    merchant_id: _OptionalText = None,
    national_merchant_id: _OptionalText = None,
    postal_code: _OptionalText = None,
    currency: _Text = "IDR",
    amount: Annotated[str | None, typer.Option(help="Major units; makes it dynamic.")] = None,
    tip_prompt: Annotated[bool, typer.Option("--tip-prompt")] = False,
    fixed_fee: _OptionalText = None,
    percentage_fee: _OptionalText = None,
    bill_number: _OptionalText = None,
    reference_label: _OptionalText = None,
    terminal_label: _OptionalText = None,
) -> None:
    """Print the payload of a kopnet merchant code: static, or dynamic with --amount."""
    # The options are named after the spec's fields, so they pass straight through.
    options = dict(locals())
    try:
        spec = _spec_from_options(options)
    except QrError as exc:
        _fail(exc)
    typer.echo(encode_merchant_qr(spec))


def _spec_from_options(options: dict[str, Any]) -> MerchantQrSpec:
    currency: str = options["currency"]
    # Refuse an unknown currency before parsing amounts in it.
    currency_numeric(currency)
    amount, tip_prompt = options.pop("amount"), options.pop("tip_prompt")
    fixed_fee, percentage_fee = options.pop("fixed_fee"), options.pop("percentage_fee")
    options["criteria"] = parse_criteria(options["criteria"])
    options["amount"] = None if amount is None else parse_amount(amount, currency)
    options["fee_rule"] = _fee_rule(tip_prompt, fixed_fee, percentage_fee, currency)
    return MerchantQrSpec(**options)


@qr_app.command("render")
def render_command(
    payload: Annotated[str, typer.Argument(help="The QR payload text.")],
    out: Annotated[Path, typer.Option(help="Output file, .svg or .png.")],
    scale: Annotated[int, typer.Option(min=1, max=64)] = 4,
) -> None:
    """Write a payload's QR symbol to an SVG or PNG file, after checking it decodes."""
    try:
        decode(payload)
        suffix = out.suffix.lower()
        if suffix not in (".svg", ".png"):
            raise QrError(QrErrorCode.RENDER_FORMAT_INVALID, f"cannot render {suffix!r}")
        image = (
            render_svg(payload, scale=scale).encode("utf-8")
            if suffix == ".svg"
            else render_png(payload, scale=scale)
        )
        _write(out, image)
    except QrError as exc:
        _fail(exc)
    typer.echo(str(out))


def _write(out: Path, image: bytes) -> None:
    try:
        out.write_bytes(image)
    except OSError as error:
        raise QrError(
            QrErrorCode.RENDER_OUTPUT_UNWRITABLE, f"cannot write {out}: {error.strerror}"
        ) from error
