"""Concurrency tests of the ledger on real PostgreSQL: threads and processes racing."""
