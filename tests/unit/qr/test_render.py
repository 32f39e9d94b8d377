"""Rendering payloads as SVG text and PNG bytes."""

from __future__ import annotations

from xml.etree import ElementTree

from interchange.qr.render import render_png, render_svg
from tests.unit.qr.builders import payload_from


def test_svg_is_a_standalone_document_in_the_svg_namespace() -> None:
    """A `.svg` file without the namespace shows as text, not as an image, in a browser."""
    svg = render_svg(payload_from())
    assert svg.startswith('<?xml version="1.0" encoding="utf-8"?>')
    root = ElementTree.fromstring(svg.encode("utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.rstrip().endswith("</svg>")


def test_png_is_bytes_with_the_png_signature() -> None:
    png = render_png(payload_from())
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_larger_scale_gives_a_larger_image() -> None:
    assert len(render_png(payload_from(), scale=8)) > len(render_png(payload_from(), scale=2))


def test_unicode_payloads_render() -> None:
    svg = render_svg(payload_from({"59": "Warung 最佳 🍜"}))
    assert ElementTree.fromstring(svg.encode("utf-8")).tag.endswith("svg")
