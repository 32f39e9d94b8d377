"""Unit tests of the pure QR package `interchange.qr`."""
