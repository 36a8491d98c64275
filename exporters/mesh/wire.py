"""Wire formats of the mesh: the UDP probe datagram and the TCP message-stream framing.

Probe (UDP, 32 bytes, network byte order)::

    magic "SWMP" | kind u8 (1 probe, 2 reply) | 3 pad | session u64 | seq u64 | dwell_ns i64

The prober picks a random ``session`` when it starts, so a stray or stale reply is ignored.
The responder copies everything and fills ``dwell_ns``: how long the probe sat in the
responder, from reading the probe to just before the reply is sent. The prober
subtracts it, so a responder process that is briefly busy does not inflate the link's RTT.

Message stream (TCP): a batch is a 24-byte header then ``count`` messages, each a u32 length
prefix and ``size`` bytes::

    magic "SWMS" | flags u8 | 3 pad | count u32 | size u32 | token u64

With ``FLAG_ACK`` the server answers once the whole batch is read with 16 bytes:
``token u64 | body_bytes u64``. Many messages per header keeps the server to a few system
calls per batch, so a Python endpoint keeps up with a 1 Gbit link of 1 KB messages.
"""

from __future__ import annotations

import struct
from typing import Final

PROBE = struct.Struct("!4sB3xQQq")
PROBE_MAGIC: Final = b"SWMP"
KIND_PROBE: Final = 1
KIND_REPLY: Final = 2

BATCH = struct.Struct("!4sB3xIIQ")
BATCH_MAGIC: Final = b"SWMS"
FLAG_ACK: Final = 1
ACK = struct.Struct("!QQ")
MESSAGE_PREFIX = struct.Struct("!I")
# One batch may carry at most this much: bounds what a bad client can make the server read
# before it is found out, and keeps an acknowledged batch a meaningful unit of latency.
MAX_BATCH_BODY: Final = 256 * 1024 * 1024
MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024


class WireError(ValueError):
    """Bytes that are not a well-formed probe or batch header."""


def probe(session: int, seq: int) -> bytes:
    return PROBE.pack(PROBE_MAGIC, KIND_PROBE, session, seq, 0)


def reply_to(datagram: bytes, dwell_ns: int) -> bytes | None:
    """The reply to a probe datagram, or None if it is not one (never answer garbage)."""
    if len(datagram) != PROBE.size:
        return None
    magic, kind, session, seq, _ = PROBE.unpack(datagram)
    if magic != PROBE_MAGIC or kind != KIND_PROBE:
        return None
    return PROBE.pack(PROBE_MAGIC, KIND_REPLY, session, seq, dwell_ns)


def parse_reply(datagram: bytes) -> tuple[int, int, int] | None:
    """``(session, seq, dwell_ns)`` of a reply datagram, or None if it is not one."""
    if len(datagram) != PROBE.size:
        return None
    magic, kind, session, seq, dwell_ns = PROBE.unpack(datagram)
    if magic != PROBE_MAGIC or kind != KIND_REPLY:
        return None
    return session, seq, dwell_ns


def batch_header(count: int, size: int, token: int, ack: bool = True) -> bytes:
    return BATCH.pack(BATCH_MAGIC, FLAG_ACK if ack else 0, count, size, token)


def batch_body_length(count: int, size: int) -> int:
    return count * (MESSAGE_PREFIX.size + size)


def batch(count: int, size: int, token: int, ack: bool = True, fill: bytes = b"m") -> bytes:
    """A whole batch (header and messages) ready for one ``sendall``."""
    message = MESSAGE_PREFIX.pack(size) + (fill * (size // len(fill) + 1))[:size]
    return batch_header(count, size, token, ack) + message * count


def parse_batch_header(header: bytes) -> tuple[int, int, int, bool]:
    """``(count, size, token, wants_ack)``; WireError for anything malformed or too large."""
    if len(header) != BATCH.size:
        raise WireError(f"batch header is {len(header)} bytes, expected {BATCH.size}")
    magic, flags, count, size, token = BATCH.unpack(header)
    if magic != BATCH_MAGIC:
        raise WireError(f"bad batch magic {magic!r}")
    if size > MAX_MESSAGE_SIZE:
        raise WireError(f"message size {size} exceeds {MAX_MESSAGE_SIZE}")
    if batch_body_length(count, size) > MAX_BATCH_BODY:
        raise WireError(f"batch of {count} x {size} bytes exceeds {MAX_BATCH_BODY} bytes")
    return count, size, token, bool(flags & FLAG_ACK)
