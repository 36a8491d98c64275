"""Kernel timestamps for probes: when a datagram really left and really arrived.

A probe's RTT is taken between two kernel timestamps, not between two Python calls: the
send time is the kernel's ``SCM_TSTAMP_SCHED`` stamp (taken as the datagram enters the
interface queue, inside ``sendto``; local queueing delay counts, as it does for ``ping``)
and the receive time is the kernel's software receive stamp. A thread of the same process
holding the GIL then delays only when Python sees the numbers, not the numbers themselves.
Where the kernel offers no timestamps the caller falls back to ``time.time_ns()``.

Constants are Linux's (Python does not export them); the ``_OLD`` socket options return
timespecs of the platform's ``long``, which is why they are decoded with native sizes (a
32-bit Raspberry Pi OS has 4-byte longs).
"""

from __future__ import annotations

import socket
import struct

SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD
SO_TIMESTAMPING = 37  # SO_TIMESTAMPING_OLD
SOF_TIMESTAMPING_TX_SCHED = 1 << 8
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_TIMESTAMPING = 4
SCM_TSTAMP_SCHED = 1

_TIMESPEC = struct.Struct("@ll")
# struct sock_extended_err: errno u32, origin u8, type u8, code u8, pad u8, info u32, data u32
_EXTENDED_ERR = struct.Struct("@IBBBBII")
ANCILLARY_SPACE = 512
PROBER_FLAGS = (
    SOF_TIMESTAMPING_TX_SCHED
    | SOF_TIMESTAMPING_RX_SOFTWARE
    | SOF_TIMESTAMPING_SOFTWARE
    | SOF_TIMESTAMPING_OPT_TSONLY
)

_RECVERR = ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR))

Ancillary = list[tuple[int, int, bytes]]


def enable_prober_timestamps(sock: socket.socket) -> bool:
    """Ask for kernel send (SCHED) and receive stamps; False where the kernel refuses."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, PROBER_FLAGS)
    except OSError:
        return False
    return True


def enable_receive_timestamps(sock: socket.socket) -> bool:
    """Ask for the kernel's receive time on every datagram (``SO_TIMESTAMPNS``)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def _timespec_ns(data: bytes, offset: int = 0) -> int:
    seconds, nanoseconds = _TIMESPEC.unpack_from(data, offset)
    return int(seconds) * 1_000_000_000 + int(nanoseconds)


def receive_time_ns(ancillary: Ancillary) -> int | None:
    """The kernel's receive stamp from ``recvmsg`` ancillary data, if present."""
    for level, kind, data in ancillary:
        if level != socket.SOL_SOCKET:
            continue
        if kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            return _timespec_ns(data)
        if kind == SO_TIMESTAMPING and len(data) >= _TIMESPEC.size:
            # scm_timestamping: [software, deprecated, hardware]; software is first.
            stamp = _timespec_ns(data)
            return stamp or None
    return None


def read_send_times(sock: socket.socket) -> list[int]:
    """Drain the error queue: the SCHED send stamp of every datagram sent since the last call.

    Stamps are matched to probes by time, not by a counter: the stamp of a datagram just sent
    lies between the Python calls around its ``sendto``; a stamp that comes late (the first
    datagram to a neighbour still being resolved by ARP) falls outside and is ignored.
    """
    stamps: list[int] = []
    while True:
        try:
            _, ancillary, _, _ = sock.recvmsg(1, ANCILLARY_SPACE, socket.MSG_ERRQUEUE)
        except OSError:  # EAGAIN: the queue is empty (error-queue reads never block)
            return stamps
        stamp: int | None = None
        scheduled = False
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
                stamp = _timespec_ns(data)
            elif (level, kind) in _RECVERR and len(data) >= _EXTENDED_ERR.size:
                _, origin, _, _, _, info, _ = _EXTENDED_ERR.unpack_from(data)
                scheduled = origin == SO_EE_ORIGIN_TIMESTAMPING and info == SCM_TSTAMP_SCHED
        if stamp and scheduled:
            stamps.append(stamp)
