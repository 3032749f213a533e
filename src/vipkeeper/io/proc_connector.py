"""Process events from the host: the kernel's proc connector, and ``/proc`` reads.

The proc connector (``Documentation/driver-api/connector.rst``, ``<linux/cn_proc.h>``) is a
netlink socket (``NETLINK_CONNECTOR``, group ``CN_IDX_PROC``) on which the kernel reports
every fork, exec, exit and comm change, once a listener has sent ``PROC_CN_MCAST_LISTEN``.
It needs CAP_NET_ADMIN and answers only in the initial network namespace: elsewhere the
listen request fails with ECONNREFUSED (keepalived 2.2.7 then logs "Failed to set/clear
process event listen - errno 111" and its tracked instances stay in FAULT).  vipkeeper
then polls ``/proc`` instead (:mod:`vipkeeper.checks.process`).

Wire layout (host byte order): ``nlmsghdr`` (16 bytes) + ``cn_msg`` (id.idx, id.val, seq,
ack: u32; len, flags: u16 = 20 bytes) + ``proc_event`` (what, cpu: u32; timestamp_ns: u64;
then the event's data).
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from vipkeeper.io.linuxconst import (
    CN_IDX_PROC,
    CN_VAL_PROC,
    NETLINK_CONNECTOR,
    NLMSG_DONE,
    PROC_CN_MCAST_LISTEN,
    PROC_EVENT_COMM,
    PROC_EVENT_EXEC,
    PROC_EVENT_EXIT,
    PROC_EVENT_FORK,
)

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT_HEAD = struct.Struct("=IIQ")
_FOUR_U32 = struct.Struct("=IIII")
_DATA_AT = _NLMSGHDR.size + _CN_MSG.size + _EVENT_HEAD.size  # 52
RCVBUF_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """One event of a thread-group leader (a process): ``kind`` is fork, exec, exit or comm.

    fork: ``pid`` is the child, ``ppid`` the parent process; comm: ``comm`` the new name."""

    kind: str
    pid: int
    ppid: int = 0
    comm: str = ""


def listen_request(op: int = PROC_CN_MCAST_LISTEN) -> bytes:
    """The datagram that subscribes (or unsubscribes) this socket to process events."""
    payload = struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, 0) + cn


def parse_events(data: bytes) -> list[ProcEvent]:
    """The process events in one datagram (several netlink messages may share it); threads'
    events and anything malformed or unknown are skipped."""
    out: list[ProcEvent] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length = _NLMSGHDR.unpack_from(data, offset)[0]
        if length < _NLMSGHDR.size or offset + length > len(data):
            break
        msg = data[offset : offset + length]
        offset += (length + 3) & ~3
        if len(msg) < _DATA_AT:
            continue
        idx, val = _CN_MSG.unpack_from(msg, _NLMSGHDR.size)[:2]
        if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC):
            continue
        what = _EVENT_HEAD.unpack_from(msg, _NLMSGHDR.size + _CN_MSG.size)[0]
        body = msg[_DATA_AT:]
        if what == PROC_EVENT_FORK and len(body) >= 16:
            _parent_pid, parent_tgid, child_pid, child_tgid = _FOUR_U32.unpack_from(body)
            if child_pid == child_tgid:  # a new process, not a thread
                out.append(ProcEvent("fork", child_pid, parent_tgid))
        elif what in (PROC_EVENT_EXEC, PROC_EVENT_EXIT, PROC_EVENT_COMM) and len(body) >= 8:
            pid, tgid = struct.unpack_from("=II", body)
            if pid != tgid:
                continue
            if what == PROC_EVENT_EXEC:
                out.append(ProcEvent("exec", pid))
            elif what == PROC_EVENT_EXIT:
                out.append(ProcEvent("exit", pid))
            elif len(body) >= 24:
                comm = body[8:24].split(b"\0", 1)[0].decode(errors="replace")
                out.append(ProcEvent("comm", pid, comm=comm))
    return out


def open_connector() -> socket.socket:
    """A non-blocking socket subscribed to process events; raises OSError where the proc
    connector does not answer (ECONNREFUSED outside the initial network namespace, EPERM
    without CAP_NET_ADMIN)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_CONNECTOR)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        except OSError:
            pass  # the default buffer works, it only overflows sooner (then we rescan)
        sock.bind((0, CN_IDX_PROC))
        sock.send(listen_request())
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


# ------------------------------------------------------------------ /proc reads


@dataclass(frozen=True, slots=True)
class ProcStat:
    """What ``/proc/PID/stat`` says of a process: enough to notice a new process, an exec
    (comm changed), a reused pid (start time changed) and a zombie."""

    pid: int
    comm: str
    state: str
    ppid: int
    start_ticks: int


def parse_stat(pid: int, text: str) -> ProcStat | None:
    """``PID (COMM) STATE PPID ...`` (proc(5)); COMM may hold spaces and parentheses."""
    open_at = text.find("(")
    close_at = text.rfind(")")
    if open_at < 0 or close_at < open_at:
        return None
    rest = text[close_at + 2 :].split()
    if len(rest) < 20:
        return None
    try:
        return ProcStat(pid, text[open_at + 1 : close_at], rest[0], int(rest[1]), int(rest[19]))
    except ValueError:
        return None


class ProcFs:
    """Reads of ``/proc`` (``root`` is for tests)."""

    def __init__(self, root: str = "/proc") -> None:
        self.root = root

    def pids(self) -> list[int]:
        try:
            return [int(name) for name in os.listdir(self.root) if name.isdigit()]
        except OSError:
            return []

    def _read(self, path: str, limit: int) -> bytes | None:
        # os.open/os.read: a poll reads one small file per process, and this is about three
        # times cheaper than open() with its buffered file object
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None  # gone meanwhile
        try:
            return os.read(fd, limit)
        except OSError:
            return None
        finally:
            os.close(fd)

    def stat(self, pid: int) -> ProcStat | None:
        data = self._read(f"{self.root}/{pid}/stat", 1024)
        return None if data is None else parse_stat(pid, data.decode(errors="replace"))

    def cmdline(self, pid: int, limit: int = 4096) -> bytes:
        """NUL-separated argv (empty for kernel threads, zombies, or a process gone)."""
        return self._read(f"{self.root}/{pid}/cmdline", limit) or b""
