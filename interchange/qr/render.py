"""Rendering a payload as a QR symbol image (SVG text or PNG bytes), in memory.

The one module of the package that calls a third-party library with side effects of its own;
it writes no files. Byte-mode content is encoded as UTF-8, the same bytes the CRC covers.
Error correction level M is what QRIS asks for.
"""

from __future__ import annotations

import io

import segno

from interchange.qr.errors import QrError, QrErrorCode

__all__ = ["render_png", "render_svg"]

_ERROR_LEVEL = "m"
_ENCODING = "utf-8"


def render_svg(payload: str, *, scale: int = 4) -> str:
    """Return a standalone SVG document (XML declaration, SVG namespace) of `payload`'s
    QR symbol; `qr_render_too_large` if no symbol holds it."""
    assert payload and scale > 0
    buffer = io.BytesIO()
    _symbol(payload).save(buffer, kind="svg", scale=scale, encoding=_ENCODING)
    return buffer.getvalue().decode(_ENCODING)


def render_png(payload: str, *, scale: int = 4) -> bytes:
    """Return PNG bytes of `payload`'s QR symbol; `qr_render_too_large` if no symbol
    holds it."""
    assert payload and scale > 0
    symbol = _symbol(payload)
    buffer = io.BytesIO()
    symbol.save(buffer, kind="png", scale=scale)
    return buffer.getvalue()


def _symbol(payload: str) -> segno.QRCode:
    # A payload can decode and still not fit: the decoder allows more characters than the
    # largest symbol at level M holds bytes (2,331).
    try:
        return segno.make_qr(payload, error=_ERROR_LEVEL, encoding=_ENCODING)
    except segno.DataOverflowError as error:
        raise QrError(QrErrorCode.RENDER_TOO_LARGE, "no QR symbol holds this payload") from error
