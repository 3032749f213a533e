"""AF_PACKET sender for ready-made Ethernet frames (gratuitous ARP, unsolicited NA).

Frames are built by :mod:`vipkeeper.core.frames`; this module only puts them
on the wire of one interface. The socket is opened with protocol 0, so the
kernel never queues received frames on it: it is send-only.
"""

from __future__ import annotations

import errno
import logging
import socket

log = logging.getLogger(__name__)

__all__ = ["L2Sender"]

_MIN_FRAME = 14  # Ethernet header


class L2Sender:
    """Send complete Ethernet frames on one interface. ``send`` never raises."""

    def __init__(self, *, ifname: str, ifindex: int | None = None) -> None:
        self.ifname = ifname
        self.ifindex = ifindex
        self._sock: socket.socket | None = None
        self.sent = 0
        self.send_errors = 0
        self.last_send_errno = 0

    def open(self) -> None:
        """Create the socket and bind it to the interface. Raises OSError on setup failure."""
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # proto 0: receive nothing
        try:
            sock.bind((self.ifname, 0))
            sock.setblocking(False)
            if self.ifindex is None:
                self.ifindex = socket.if_nametoindex(self.ifname)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def send(self, frame: bytes) -> bool:
        """Send one frame (destination MAC first). False, logged and counted on error."""
        sock = self._sock
        if sock is None:
            self.send_errors += 1
            self.last_send_errno = errno.EBADF
            return False
        if len(frame) < _MIN_FRAME:
            self.send_errors += 1
            self.last_send_errno = errno.EINVAL
            log.debug("L2 frame on %s too short: %d bytes", self.ifname, len(frame))
            return False
        try:
            sock.send(frame)
        except OSError as exc:
            self.send_errors += 1
            self.last_send_errno = exc.errno or 0
            log.debug("L2 send on %s failed: %s", self.ifname, exc)
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def __enter__(self) -> L2Sender:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
