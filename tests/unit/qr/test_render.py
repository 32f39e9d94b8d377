"""Rendering payloads as SVG text and PNG bytes."""

from __future__ import annotations

from interchange.qr.render import render_png, render_svg
from tests.unit.qr.builders import payload_from


def test_svg_is_markup_with_an_svg_element() -> None:
    svg = render_svg(payload_from())
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")


def test_png_is_bytes_with_the_png_signature() -> None:
    png = render_png(payload_from())
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_larger_scale_gives_a_larger_image() -> None:
    assert len(render_png(payload_from(), scale=8)) > len(render_png(payload_from(), scale=2))


def test_unicode_payloads_render() -> None:
    assert render_svg(payload_from({"59": "Warung 最佳 🍜"})).startswith("<svg")
