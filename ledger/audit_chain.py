"""The audit of the seal chain: gapless, every keyed link recomputes, and the anchor kept.

A link that is missing, does not read or does not recompute is reported once: the next is
checked against the links the audit computes in its place, carried from the last link that
held, as well as against the stored one and those carried from it (one of them is what the
sealer linked it to: `_check_link`), so every later link is still checked and an intact one
is not reported. A link holds over its entry's stored digest, or over the digest the
entry's values recompute (a stored digest altered after sealing is `entry_digest_mismatch`
alone, `ledger.audit`'s). The report's head link is "?" unless it held: an anchor is never
kept from a link the audit could not vouch for. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from ledger.audit_report import STREAM, AuditReport, ChainAnchor
from ledger.digest import GENESIS_HASH, chain_link
from ledger.stored_values import Unreadable, raw_value
from ledger.tables import chain

__all__ = ["EntryDigests", "check_chain"]

# How many tracks (`_Track`) a position may be checked along after links that do not hold:
# each costs up to four keyed hashes a position while the chain stays broken (a wrong key
# breaks it all). The audit's own and those from the two newest stored links.
_TRACKS_FOLLOWED_MAX = 3


@dataclass(slots=True)
class EntryDigests:
    """What the chain check needs of the entries: each one's stored digest by sequence
    number (None where it does not read), and the digest its values recompute where that
    differs from the stored one."""

    stored: dict[int, str | None] = field(default_factory=dict)
    recomputed: dict[int, str] = field(default_factory=dict)

    def sealed_over(self, seq: int) -> tuple[str, ...]:
        """The digests the link of the entry `seq` may have been computed over, the one its
        values recompute first (its stored digest may have been altered after it was
        sealed), then the stored one, which the sealer read (its values may have been);
        none where neither reads. (Of an entry number held twice, the stored digest is the
        last copy's, the recomputed one may be another's: either may be what was sealed.)"""
        stored = self.stored[seq]
        recomputed = self.recomputed.get(seq)
        if recomputed is None:
            return () if stored is None else (stored,)
        return (recomputed,) if stored is None else (recomputed, stored)


@dataclass(frozen=True, slots=True)
class _Track:
    """A link the sealer may have written, carried from an origin (a link it wrote, or the
    genesis link) over the digest of each entry since: once over the one its values
    recompute, once over the stored one (the same link where each entry had one digest)."""

    over_recomputed: str
    over_stored: str

    @classmethod
    def at(cls, link: str) -> _Track:
        """The track that starts at `link`."""
        return cls(link, link)

    def links(self) -> tuple[str, ...]:
        """Its links, each once."""
        if self.over_recomputed == self.over_stored:
            return (self.over_recomputed,)
        return (self.over_recomputed, self.over_stored)


def check_chain(
    conn: Connection,
    key: bytes,
    digests: EntryDigests,
    report: AuditReport,
    anchor: ChainAnchor | None,
) -> None:
    """Check every link in position order; report the chain's head link only where it was
    found to hold ("?" otherwise), since the report's anchor is kept from it."""
    follows: tuple[_Track, ...] = (_Track.at(GENESIS_HASH),)
    head = GENESIS_HASH
    expected_position = 1
    # Nothing reads `sealed_at` but for a value missing: any other stored there is no
    # finding (a raw form reads whatever is written behind the ledger's back).
    columns = (
        raw_value(c, conn.dialect.name) for c in (chain.c.position, *_LINK, chain.c.sealed_at)
    )
    query = select(*columns).order_by(chain.c.position)
    sealed: set[int] = set()
    # Position 0 is the genesis link that every chain starts from, even an empty one.
    anchored = anchor is None or anchor.position == 0
    if anchor is not None and anchor.position == 0 and anchor.chain_hash != GENESIS_HASH:
        report.add("chain_anchor_mismatch", "chain position 0", "the genesis link is fixed")
    for row in conn.execution_options(**STREAM).execute(query):
        subject = f"chain position {row.position}"
        report.add_unreadable(row, subject, "a link that needs it is not compared")
        # A position that does not read is taken to be the next one.
        position = expected_position if type(row.position) is Unreadable else row.position
        if position != expected_position:
            report.add("chain_gap", subject, f"expected position {expected_position}")
        expected_position = position + 1
        if anchor is not None and position == anchor.position:
            anchored = True
            if row.chain_hash != anchor.chain_hash:
                report.add("chain_anchor_mismatch", subject, "differs from the anchor kept")
        follows, held = _check_link(row, key, follows, digests, sealed, report)
        head = follows[0].over_recomputed if held else "?"
        report.chain_length = position
    if not anchored:
        assert anchor is not None
        report.add(
            "chain_anchor_missing",
            f"chain position {anchor.position}",
            f"the chain ends at position {report.chain_length}: sealed entries were removed",
        )
    report.sealed_entries = len(sealed)
    report.unsealed_entries = len(digests.stored.keys() - sealed)
    report.chain_head_hash = head


_LINK = (chain.c.entry_seq, chain.c.chain_hash)


def _check_link(
    row: Any,
    key: bytes,
    follows: tuple[_Track, ...],
    digests: EntryDigests,
    sealed: set[int],
    report: AuditReport,
) -> tuple[tuple[_Track, ...], bool]:
    """Check that the chain `row` links its entry, over either of its digests, to a link of
    one of the tracks the position before leaves (`follows`: where that link held, the one
    track that starts at it) and count the entry sealed. Return the tracks the next
    position follows, and whether this link held. A link that does not hold is reported
    once, not again at each link after it.

    The sealer wrote the next link over this one as it was then. Where this link does not
    hold, the next follows: first the audit's own track, carried from the last link that
    held (right where the links since were altered, with their entries' stored digests or
    with their values, not both at one entry, nor some one way and some the other); then
    a new track from this stored link (right where the break lies before it: a link
    removed, an entry moved); then the newest track from a stored link before, carried
    over this entry (right where the break lies before that link and the links since were
    altered). No track passes an entry whose digest is not known (gone, or its digest and
    a value it needs unreadable): past it the stored link starts the audit's own track,
    and where that link does not read either, the next is compared to nothing (the
    finding on this link says a link that needs it is not compared)."""
    subject = f"chain position {row.position}"
    link: str | None = None if type(row.chain_hash) is Unreadable else row.chain_hash
    restart = () if link is None else (_Track.at(link),)
    if type(row.entry_seq) is Unreadable:
        return restart, False
    if row.entry_seq not in digests.stored:
        report.add("sealed_entry_missing", subject, f"entry seq {row.entry_seq} is gone")
        return restart, False
    if row.entry_seq in sealed:
        report.add("value_duplicate", subject, f"entry seq {row.entry_seq} is sealed twice")
    sealed.add(row.entry_seq)
    over = digests.sealed_over(row.entry_seq)
    computed = {
        (previous, digest): chain_link(key, previous, digest)
        for track in follows
        for previous in track.links()
        for digest in over
    }
    if link is not None and link in computed.values():
        return restart, True
    if link is not None and computed:
        report.add("chain_hash_mismatch", subject, f"entry seq {row.entry_seq}")
    if not over:
        return restart, False
    carried = [
        _Track(computed[t.over_recomputed, over[0]], computed[t.over_stored, over[-1]])
        for t in follows
    ]
    return (*carried[:1], *restart, *carried[1:])[:_TRACKS_FOLLOWED_MAX], False
