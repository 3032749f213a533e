"""A small inotify(7) wrapper over ctypes: no dependency, Linux only.

Used by ``vrrp_pgsql`` to notice a promotion (``standby.signal`` removed) or a
server start/stop (``postmaster.pid``) at once instead of at the next interval.

The descriptor is non-blocking; :meth:`Inotify.read_events` returns whatever is
queued.  In asyncio, register it with ``loop.add_reader(ino.fd, ...)``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass

# <sys/inotify.h>
IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then name)

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_init1.restype = ctypes.c_int
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        lib.inotify_add_watch.restype = ctypes.c_int
        lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.inotify_rm_watch.restype = ctypes.c_int
        _libc = lib
    return _libc


@dataclass(frozen=True, slots=True)
class InotifyEvent:
    wd: int
    mask: int
    cookie: int
    name: str  # empty for events on the watched object itself


class Inotify:
    """One inotify instance (non-blocking, close-on-exec)."""

    def __init__(self) -> None:
        fd = _lib().inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"inotify_init1: {os.strerror(e)}")
        self.fd = fd

    def add_watch(self, path: str, mask: int) -> int:
        wd = _lib().inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"inotify_add_watch {path}: {os.strerror(e)}", path)
        return wd

    def rm_watch(self, wd: int) -> None:
        if _lib().inotify_rm_watch(self.fd, wd) < 0:
            e = ctypes.get_errno()
            if e != errno.EINVAL:  # already gone (the watched object was deleted)
                raise OSError(e, f"inotify_rm_watch: {os.strerror(e)}")

    def read_events(self) -> list[InotifyEvent]:
        """Every queued event; [] when none is queued."""
        out: list[InotifyEvent] = []
        while True:
            try:
                buf = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return out
            if not buf:
                return out
            off = 0
            while off + _EVENT.size <= len(buf):
                wd, mask, cookie, length = _EVENT.unpack_from(buf, off)
                off += _EVENT.size
                name = buf[off:off + length].split(b"\0", 1)[0].decode(errors="replace")
                off += length
                out.append(InotifyEvent(wd, mask, cookie, name))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Inotify":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
