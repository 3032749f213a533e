"""A small inotify(7) wrapper for asyncio (glibc via ctypes; no dependency).

Constants come from <sys/inotify.h> / <linux/inotify.h>.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Callable
from functools import cache
from typing import Any

# <linux/inotify.h>
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
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

#: Every way a file in a watched directory can change content or existence.
DIR_CHANGES = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY

_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len


@cache
def _libc() -> Any:
    """glibc through ctypes, loaded at the first watch: a config without track_file or a
    vrrp_pgsql data_directory never pays for ctypes (~0.4 MB; ctypes.util ~0.8 MB more)."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)  # glibc's soname on every Linux we run on
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


class Inotify:
    """Watches directories; calls ``on_event(dir_path, name, mask)`` from the loop."""

    def __init__(self, on_event: Callable[[str, str, int], None]) -> None:
        self.on_event = on_event
        self.fd = -1
        self._dirs: dict[int, str] = {}
        self.overflows = 0

    def open(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        fd = _libc().inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = _errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd
        (loop or asyncio.get_running_loop()).add_reader(fd, self._readable)

    def watch_dir(self, path: str, mask: int = DIR_CHANGES) -> int:
        wd = _libc().inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = _errno()
            raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")
        self._dirs[wd] = path
        return wd

    def close(self) -> None:
        if self.fd >= 0:
            try:
                asyncio.get_event_loop().remove_reader(self.fd)
            except (RuntimeError, ValueError):
                pass
            os.close(self.fd)
            self.fd = -1

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            return
        off = 0
        while off + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, off)
            name = data[off + _EVENT.size : off + _EVENT.size + length].split(b"\0", 1)[0]
            off += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                self.overflows += 1
                for d in list(self._dirs.values()):
                    self.on_event(d, "", mask)
                continue
            directory = self._dirs.get(wd)
            if directory is not None:
                self.on_event(directory, os.fsdecode(name), mask)
