"""Kernel send timestamps for probes: when a datagram really entered the interface queue.

The send time of a probe is the kernel's ``SCM_TSTAMP_SCHED`` stamp, taken inside
``sendto`` as the datagram enters the interface queue (local queueing and an egress netem
delay count, as they do for ``ping``), so a thread of the same process holding the GIL
between our clock read and the system call cannot inflate the RTT. Where the kernel offers
no stamps the caller falls back to ``time.time_ns()``.

Receive times are deliberately NOT the kernel's receive stamps: Linux takes those when the
interface hands the packet up, before netfilter and before an ifb ingress qdisc. A delay
emulated on the receiving host (the lab's NFQUEUE delayer on INPUT, netem on ifb) happens
after that stamp and would vanish from the RTT -- ``ping`` from a delayed node misses it
for that reason. The receive time is taken when the packet reaches the socket's reader.

Constants are Linux's (Python does not export them); the ``_OLD`` socket options return
timespecs of the platform's ``long``, which is why they are decoded with native sizes (a
32-bit Raspberry Pi OS has 4-byte longs).
"""

from __future__ import annotations

import socket
import struct

SO_TIMESTAMPING = 37  # SO_TIMESTAMPING_OLD
SOF_TIMESTAMPING_TX_SCHED = 1 << 8
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
PROBER_FLAGS = SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY

_RECVERR = ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR))


def enable_prober_timestamps(sock: socket.socket) -> bool:
    """Ask for kernel send (SCHED) stamps; False where the kernel refuses."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, PROBER_FLAGS)
    except OSError:
        return False
    return True


def _timespec_ns(data: bytes, offset: int = 0) -> int:
    seconds, nanoseconds = _TIMESPEC.unpack_from(data, offset)
    return int(seconds) * 1_000_000_000 + int(nanoseconds)


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
