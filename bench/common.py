"""What every benchmark shares: configs, daemon pairs, in-process netlink and sniffing,
frame parsing, /proc sampling and statistics.

Both daemons run the *same* keepalived.conf text (vipkeeper reads keepalived's
syntax), one pair at a time, on hosts A (master, priority 150) and B (backup,
priority 100) of one :class:`lab.netns.Lab`; the observer host captures.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import math
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2 import IPRoute

from lab.conf import global_defs, vrrp_instance
from lab.netns import Lab
from lab.nodes import Node
from vipkeeper.core import timers

KINDS = ("vipkeeper", "keepalived")
MASTER, BACKUP = "A", "B"
PRIO_MASTER, PRIO_BACKUP = 150, 100
VIP = "172.20.0.115"
VRID = 42
SEED = 8  # phase offsets are drawn from random.Random(SEED + trial): the same for both daemons


# ------------------------------------------------------------------ configs
def pair_configs(
    *, version: int, advert_int: str, rt_priority: int | None = None, instances: int = 1
) -> dict[str, str]:
    """{host: keepalived.conf text} for a master A and a backup B.

    One instance: VRID 42, VIP 172.20.0.115.  More: VRIDs 1..n, VIPs 10.77.x.y.
    """
    out = {}
    for host, state, prio in ((MASTER, "MASTER", PRIO_MASTER), (BACKUP, "BACKUP", PRIO_BACKUP)):
        rt = [] if rt_priority is None else [f"vrrp_rt_priority {rt_priority}"]
        blocks = [global_defs("vrrp_garp_master_delay 1", *rt)]
        if instances == 1:
            blocks.append(
                vrrp_instance(
                    "VI_B", vrid=VRID, state=state, priority=prio, version=version, advert_int=advert_int, vips=[VIP]
                )
            )
        else:
            for i in range(instances):
                blocks.append(
                    vrrp_instance(
                        f"VI_{i + 1}",
                        vrid=i + 1,
                        state=state,
                        priority=prio,
                        version=version,
                        advert_int=advert_int,
                        vips=[scale_vip(i)],
                    )
                )
        out[host] = "".join(blocks)
    return out


def scale_vip(i: int) -> str:
    return f"10.77.{i // 200}.{i % 200 + 1}"


def advert_int_cs(advert_int: str) -> int:
    return round(float(advert_int) * 100)


def master_down_s(version: int, advert_int: str, priority: int = PRIO_BACKUP) -> float:
    """Master_Down_Interval of the backup (RFC 3768 §6.1 / RFC 5798 §6.1)."""
    return timers.master_down_us(version, priority, advert_int_cs(advert_int)) / 1e6


def skew_s(version: int, advert_int: str, priority: int = PRIO_BACKUP) -> float:
    return timers.skew_us(version, priority, advert_int_cs(advert_int)) / 1e6


# ------------------------------------------------------------------ namespaces, in process
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def socket_in_netns(ns: str, *args) -> socket.socket:
    """A socket created inside network namespace ``ns`` (by a short-lived thread that setns()es;
    this thread and the rest of the process stay where they are)."""
    box: dict[str, object] = {}

    def worker() -> None:
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns {ns}: {os.strerror(err)}")
            box["sock"] = socket.socket(*args)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            os.close(fd)

    t = threading.Thread(target=worker, name=f"setns-{ns}")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["sock"]  # type: ignore[return-value]


class NetCtl:
    """One rtnetlink socket per lab host (pyroute2, no ``ip`` processes): link up/down
    with a wall-clock timestamp, and addresses, cheaply enough to poll every few ms."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._ipr: dict[str, IPRoute] = {}
        self._idx: dict[str, int] = {}

    def _get(self, host: str) -> tuple[IPRoute, int]:
        ipr = self._ipr.get(host)
        if ipr is None:
            ipr = self._ipr[host] = IPRoute(netns=self.lab.ns(host))
            self._idx[host] = ipr.link_lookup(ifname=self.lab.host(host).ifname)[0]
        return ipr, self._idx[host]

    def set_link(self, host: str, up: bool) -> float:
        """Set eth0 down or up; returns time.time() taken just before the netlink request."""
        ipr, idx = self._get(host)
        t = time.time()
        ipr.link("set", index=idx, state="up" if up else "down")
        return t

    def addresses(self, host: str, *, every_interface: bool = False) -> set[str]:
        ipr, idx = self._get(host)
        out = set()
        for msg in ipr.get_addr() if every_interface else ipr.get_addr(index=idx):
            a = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if a:
                out.add(a)
        return out

    def holders(self, vip: str, hosts: Iterable[str] = (MASTER, BACKUP)) -> list[str]:
        return [h for h in hosts if vip in self.addresses(h)]

    def count_vips(self, host: str, prefix: str) -> int:
        """VIPs starting with ``prefix`` on any interface (the scale curve adds VLANs)."""
        return sum(1 for a in self.addresses(host, every_interface=True) if a.startswith(prefix))

    def close(self) -> None:
        for ipr in self._ipr.values():
            with contextlib.suppress(Exception):
                ipr.close()
        self._ipr.clear()


ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35


class Sniffer:
    """An AF_PACKET socket on the observer: waits for the master's next advert, so a fault
    can be injected at a chosen phase of the advert cycle (the measurement itself comes
    from tcpdump's capture)."""

    def __init__(self, lab: Lab, src_ip: str, vrid: int) -> None:
        obs = lab.host("observer")
        self.sock = socket_in_netns(obs.ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((obs.ifname, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.src = socket.inet_aton(src_ip)
        self.vrid = vrid

    def drain(self) -> None:
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recv(2048)
        self.sock.setblocking(True)

    def next_advert(self, timeout_s: float, *, drain: bool = True) -> float | None:
        """Kernel receive time (time.time() clock) of the master's next advert, or None
        (``drain=False``: the queued packets count too, e.g. after an explicit :meth:`drain`)."""
        if drain:
            self.drain()
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            data, anc, _flags, _addr = self.sock.recvmsg(2048, 64)
            adv = parse_advert(data)
            if adv is not None and adv[1] == self.src and adv[2] == self.vrid:
                for level, kind, raw in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", raw[:16])
                        return sec + nsec / 1e9
                return time.time()

    def close(self) -> None:
        self.sock.close()


def sleep_until(t_wall: float) -> None:
    """Sleep until time.time() >= t_wall (the last ms busy-waiting, for precision)."""
    while True:
        left = t_wall - time.time()
        if left <= 0:
            return
        if left > 0.002:
            time.sleep(left - 0.0015)


# ------------------------------------------------------------------ frames
def parse_advert(frame: bytes) -> tuple[float, bytes, int, int] | None:
    """(0, source IPv4 bytes, VRID, priority) of an Ethernet frame carrying IPv4 protocol 112."""
    if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00" or frame[23] != 112:
        return None
    ihl = (frame[14] & 0x0F) * 4
    vrrp = 14 + ihl
    if len(frame) < vrrp + 8:
        return None
    return 0.0, frame[26:30], frame[vrrp + 1], frame[vrrp + 2]


def garps(frames: Iterable[tuple[float, bytes]], vip: str) -> list[tuple[float, bytes]]:
    """(time, sender MAC) of gratuitous ARPs for ``vip`` (sender IP = target IP = VIP)."""
    want = socket.inet_aton(vip)
    return [
        (ts, f[6:12])
        for ts, f in frames
        if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[28:32] == want and f[38:42] == want
    ]


def adverts(frames: Iterable[tuple[float, bytes]]) -> list[tuple[float, bytes, int, int]]:
    """(time, source IPv4 bytes, VRID, priority) of every VRRP advert."""
    out = []
    for ts, f in frames:
        a = parse_advert(f)
        if a is not None:
            out.append((ts, a[1], a[2], a[3]))
    return out


# ------------------------------------------------------------------ daemons
@dataclass
class Pair:
    """A master on A and a backup on B, both of one daemon kind, with the same config text."""

    lab: Lab
    workdir: Path
    kind: str
    confs: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)

    def start(self, host: str) -> Node:
        node = self.nodes.get(host)
        if node is None:
            node = self.nodes[host] = Node(self.lab, host, self.workdir, kind=self.kind)
            node.write_config(self.confs[host])
        node.start(log_level="info", extra_env=self.extra_env or None)
        return node

    def start_all(self) -> None:
        for host in (MASTER, BACKUP):
            self.start(host)

    def stop(self, host: str, sig: int = signal.SIGTERM) -> int | None:
        node = self.nodes.get(host)
        if node is None or not node.running:
            return None
        return node.stop(sig, timeout_s=15)

    def stop_all(self) -> None:
        for host in (BACKUP, MASTER):
            self.stop(host)

    def pids(self, host: str) -> dict[str, int]:
        """{"main": pid} for vipkeeper; {"parent": pid, "vrrp": pid} for keepalived."""
        node = self.nodes[host]
        assert node.proc is not None
        if self.kind == "vipkeeper":
            return {"main": node.proc.pid}
        vrrp_pid_file = node.state_dir / "vrrp.pid"
        ok = Lab.wait_for(lambda: vrrp_pid_file.exists() and vrrp_pid_file.read_text().strip(), 10)
        if not ok:
            raise RuntimeError(f"keepalived on {host}: no VRRP child pid in {vrrp_pid_file}\n{node.log()[-2000:]}")
        return {"parent": node.proc.pid, "vrrp": int(vrrp_pid_file.read_text().split()[0])}

    def logs(self) -> str:
        return "".join(f"--- {self.kind} {h}\n{n.log()[-3000:]}" for h, n in self.nodes.items())

    def __enter__(self) -> Pair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def wait_stable_holder(net: NetCtl, vip: str, host: str, stable_s: float, timeout_s: float) -> bool:
    """True once ``host`` alone has held ``vip`` for ``stable_s`` seconds in a row."""
    deadline = time.monotonic() + timeout_s
    since = None
    while time.monotonic() < deadline:
        if net.holders(vip) == [host]:
            since = since or time.monotonic()
            if time.monotonic() - since >= stable_s:
                return True
        else:
            since = None
        time.sleep(0.02)
    return False


def wait_until(pred: Callable[[], object], timeout_s: float, interval_s: float = 0.005) -> float | None:
    """time.time() at which ``pred()`` first held, or None on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        if pred():
            return time.time()
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval_s)


# ------------------------------------------------------------------ /proc
CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), in seconds, from /proc/PID/stat."""
    s = Path(f"/proc/{pid}/stat").read_text()
    f = s[s.rindex(")") + 2 :].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


def sched_cpu_s(pid: int) -> float:
    """CPU time of every thread of ``pid`` from /proc/PID/task/*/schedstat (ns resolution)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


# ------------------------------------------------------------------ load
HOG = "import time, sys\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: pass\n"


@contextlib.contextmanager
def cpu_hogs(lab: Lab, n: int, seconds: float):
    """``n`` busy-looping processes (one per core), each ending by itself after ``seconds``;
    killed and reaped on exit in any case."""
    procs = [lab.popen(MASTER, [sys.executable, "-c", HOG, f"{seconds:.1f}"]) for _ in range(n)]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                p.wait(5)


# ------------------------------------------------------------------ statistics
def percentile(sorted_xs: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_xs:
        return math.nan
    k = (len(sorted_xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (k - lo)


def summary(samples: Sequence[float], ndigits: int = 6) -> dict:
    xs = sorted(samples)
    r = lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else round(v, ndigits)  # noqa: E731
    return {
        "samples": [round(x, ndigits) for x in samples],
        "n": len(xs),
        "median": r(percentile(xs, 50)) if xs else None,
        "p90": r(percentile(xs, 90)) if xs else None,
        "p99": r(percentile(xs, 99)) if xs else None,
        "min": r(xs[0]) if xs else None,
        "max": r(xs[-1]) if xs else None,
    }


def phase_offsets(n: int, advert_int_s: float, salt: str) -> list[float]:
    """Fault-injection phases (seconds after one of the master's adverts), the same list for
    both daemons: each trial is paired, so the medians compare daemons, not luck."""
    rnd = random.Random(f"{SEED}-{salt}")
    return [rnd.uniform(0.1, 0.9) * advert_int_s for _ in range(n)]


def ip4(b: bytes) -> str:
    return str(ipaddress.IPv4Address(b))
