"""A network-namespace lab: hosts on one Ethernet segment, for tests and the demo.

Not part of the daemon: this module shells out to ``ip`` and ``tcpdump``.

Topology (every name carries a random per-run tag, so parallel runs never meet)::

    ns vk<tag>-sw    bridge br0 (no STP, no multicast snooping), one port per host
    ns vk<tag>-a     eth0 (veth, peer "pa" in the switch namespace), lo up
    ns vk<tag>-b     eth0 ...
    ns vk<tag>-obs   eth0: the observer, for captures

Nothing is created in the root namespace. Before any namespace is created a
marker ``/run/vipkeeper-lab/vk<tag>`` records the creator's pid (and its start
time) and the namespace names; :func:`cleanup_stale` removes what a killed run
left behind, and only when that creator is dead.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = [
    "Capture",
    "Host",
    "Lab",
    "LabError",
    "cleanup_stale",
    "netns_names",
    "netns_unavailable_reason",
    "read_pcap",
]

MARKER_DIR = Path("/run/vipkeeper-lab")
DEFAULT_PREFIX = "vk"
SWITCH = "switch"
OBSERVER = "observer"
SUBNET4 = "172.20.0.0/24"
SUBNET6 = "fd00:20::/64"
_DEFAULT_LAST_OCTET = {"A": 112, "B": 113, "C": 114}
_OBSERVER_OCTET = 200
_EXTRA_OCTETS = range(116, 200)
_NAME_RE = re.compile(r"^[A-Za-z0-9]{1,8}$")
_TAG_RE = re.compile(r"^[0-9a-f]{4}$")


class LabError(RuntimeError):
    """A lab command failed."""


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    ns: str
    ip4: str | None
    ip6: str | None
    ifname: str = "eth0"
    port: str = ""  # the bridge port (in the switch namespace) facing this host


# ---------------------------------------------------------------- helpers ---
def _ip(*argv: str, check: bool = True, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *argv], input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def _bridge(*argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bridge", *argv], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise LabError(f"bridge {' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def netns_names() -> set[str]:
    try:
        return {p.name for p in Path("/run/netns").iterdir()}
    except FileNotFoundError:
        return set()


def _proc_start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


def _kill_netns_pids(ns: str) -> None:
    """SIGKILL every process still inside namespace ``ns`` and reap our own children."""
    proc = _ip("netns", "pids", ns, check=False)
    pids = [int(p) for p in proc.stdout.split() if p.isdigit()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _delete_netns(ns: str) -> None:
    if ns not in netns_names():
        return
    _kill_netns_pids(ns)
    proc = _ip("netns", "del", ns, check=False)
    if proc.returncode != 0 and ns in netns_names():
        raise LabError(f"ip netns del {ns}: {proc.stderr.strip()}")


def _ns_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}[0-9a-f]{{4}}-[a-z0-9]+$")


def netns_unavailable_reason() -> str | None:
    """None if this process can build network namespaces, else why not (cached)."""
    global _NETNS_REASON
    if _NETNS_REASON is not False:
        return _NETNS_REASON  # type: ignore[return-value]
    reason: str | None = None
    if os.geteuid() != 0:
        reason = "network-namespace tests need root"
    elif shutil.which("ip") is None:
        reason = "iproute2 ('ip') is not installed"
    else:
        ns = f"vkprobe{os.getpid()}"
        proc = _ip("netns", "add", ns, check=False)
        if proc.returncode != 0:
            reason = f"cannot create a network namespace: {proc.stderr.strip()}"
        else:
            veth = _ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1", check=False)
            if veth.returncode != 0:
                reason = f"cannot create veth links: {veth.stderr.strip()}"
            _ip("netns", "del", ns, check=False)
    _NETNS_REASON = reason
    return reason


_NETNS_REASON: str | None | bool = False


# ---------------------------------------------------------------- capture ---
class Capture:
    """A running ``tcpdump -U -w`` in one namespace; :meth:`stop` returns the frames."""

    def __init__(
        self, lab: Lab, host: str, ns: str, ifname: str, bpf: str, path: Path, ready_timeout_s: float = 10.0
    ) -> None:
        self.host = host
        self.bpf = bpf
        self.path = path
        self._frames: list[tuple[float, bytes]] | None = None
        self._stderr: list[str] = []
        self._ready = threading.Event()
        argv = ["tcpdump", "-U", "--immediate-mode", "-n", "-Z", "root", "-s", "0", "-i", ifname, "-w", str(path)]
        if bpf:
            argv.append(bpf)
        self.proc = lab.popen(host, argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._ready.wait(ready_timeout_s):
            self.stop()
            raise LabError(f"tcpdump in {ns} not ready: {''.join(self._stderr).strip()}")

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)
            if "listening on" in line:
                self._ready.set()
        self._ready.set()  # exited: do not make the constructor wait for nothing

    def stop(self) -> list[tuple[float, bytes]]:
        """Stop tcpdump (SIGINT, it flushes) and return [(timestamp, frame bytes), ...]."""
        if self._frames is not None:
            return self._frames
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(2)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        try:
            self._frames = read_pcap(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("capture %s: cannot read %s: %s", self.host, self.path, exc)
            self._frames = []
        with contextlib.suppress(OSError):
            self.path.unlink()
        return self._frames

    @property
    def frames(self) -> list[tuple[float, bytes]]:
        return self.stop()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_pcap(data: bytes) -> list[tuple[float, bytes]]:
    """Parse a classic pcap file (µs or ns timestamps, either byte order)."""
    if len(data) < 24:
        return []
    magic = data[:4]
    table = {
        b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
        b"\xa1\xb2\xc3\xd4": (">", 1e-6),
        b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
        b"\xa1\xb2\x3c\x4d": (">", 1e-9),
    }
    if magic not in table:
        raise ValueError("not a pcap file")
    endian, unit = table[magic]
    rec = struct.Struct(endian + "IIII")
    out = []
    off = 24
    while off + rec.size <= len(data):
        sec, frac, incl, _orig = rec.unpack_from(data, off)
        off += rec.size
        if off + incl > len(data):
            break  # truncated last record (writer killed)
        out.append((sec + frac * unit, data[off : off + incl]))
        off += incl
    return out


# -------------------------------------------------------------------- lab ---
_OPEN_LABS: weakref.WeakSet[Lab] = weakref.WeakSet()


@atexit.register
def _close_open_labs() -> None:
    for lab in list(_OPEN_LABS):
        with contextlib.suppress(Exception):
            lab.close()


class Lab:
    """Hosts in network namespaces on one bridge. Always torn down; ``close()`` is idempotent."""

    def __init__(
        self,
        hosts: Sequence[str] = ("A", "B"),
        *,
        addrs4: Mapping[str, str] | None = None,
        ipv6: bool = True,
        observer: bool = True,
        tag: str | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.prefix = prefix
        self.ipv6 = ipv6
        self.hosts: dict[str, Host] = {}
        self.observer: Host | None = None
        self.namespaces: list[str] = []  # created so far, in creation order
        self._procs: list[subprocess.Popen] = []
        self._captures: list[Capture] = []
        self._closed = False
        self._marker: Path | None = None
        self._tmpdir: Path | None = None
        names = list(hosts)
        self._check_names(names)
        plan = self._plan(names, dict(addrs4 or {}), observer)
        self.tag = self._claim_tag(tag, [ns for ns in plan])
        _OPEN_LABS.add(self)
        try:
            self._build(plan)
        except BaseException:
            self.close()
            raise

    # -- planning ------------------------------------------------------------
    @staticmethod
    def _check_names(names: list[str]) -> None:
        seen = set()
        for name in names:
            if not _NAME_RE.match(name):
                raise ValueError(f"host name {name!r}: 1-8 letters or digits")
            if name.lower() in (SWITCH, OBSERVER, "sw", "obs") or name.lower() in seen:
                raise ValueError(f"host name {name!r} is reserved or repeated")
            seen.add(name.lower())

    def _plan(self, names: list[str], addrs4: dict[str, str], observer: bool) -> dict[str, tuple]:
        """{suffix: (host name, ip4, ip6)} - the namespace suffix is the key."""
        used = set()
        chosen: dict[str, str] = {}
        extra = iter(_EXTRA_OCTETS)
        for name in names:
            ip4 = addrs4.get(name)
            if ip4 is None:
                octet = _DEFAULT_LAST_OCTET.get(name.upper())
                while octet is None or octet in used:
                    octet = next(extra)
                used.add(octet)
                ip4 = f"172.20.0.{octet}"
            chosen[name] = str(ipaddress.IPv4Address(ip4))
        plan: dict[str, tuple] = {}
        for name in names:
            last = chosen[name].rsplit(".", 1)[1]
            plan[name.lower()] = (name, chosen[name], f"fd00:20::{last}" if self.ipv6 else None)
        if observer:
            plan["obs"] = (
                OBSERVER,
                f"172.20.0.{_OBSERVER_OCTET}",
                f"fd00:20::{_OBSERVER_OCTET}" if self.ipv6 else None,
            )
        return plan

    def _claim_tag(self, tag: str | None, suffixes: list[str]) -> str:
        MARKER_DIR.mkdir(parents=True, exist_ok=True)
        for _attempt in range(64):
            cand = tag if tag is not None else secrets.token_hex(2)
            if not _TAG_RE.match(cand):
                raise ValueError(f"tag {cand!r}: 4 lowercase hex digits")
            base = f"{self.prefix}{cand}"
            names = [f"{base}-{s}" for s in ["sw", *suffixes]]
            marker = MARKER_DIR / base
            try:
                fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if tag is not None:
                    raise LabError(f"lab tag {tag} is in use ({marker})") from None
                continue
            existing = netns_names()
            with os.fdopen(fd, "w") as f:
                json.dump(
                    {
                        "pid": os.getpid(),
                        "start": _proc_start_time(os.getpid()),
                        "namespaces": names,
                        "created": time.time(),
                    },
                    f,
                )
            if existing.intersection(names):
                marker.unlink()
                if tag is not None:
                    raise LabError(f"lab tag {tag}: namespaces already exist")
                continue
            self._marker = marker
            return cand
        raise LabError("no free lab tag")

    # -- building ------------------------------------------------------------
    @property
    def switch_ns(self) -> str:
        return f"{self.prefix}{self.tag}-sw"

    def _add_ns(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.namespaces.append(ns)

    def _sysctl(self, ns: str, *settings: str) -> None:
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings], capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            raise LabError(f"sysctl in {ns}: {proc.stderr.strip()}")

    def _build(self, plan: dict[str, tuple]) -> None:
        self._tmpdir = Path(tempfile.mkdtemp(prefix=f"vipkeeper-lab-{self.tag}-"))
        sw = self.switch_ns
        self._add_ns(sw)
        self._sysctl(sw, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        _ip(
            "-n",
            sw,
            "-batch",
            "-",
            input=(
                "link set lo up\n"
                "link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0\n"
                "link set br0 up\n"
            ),
        )
        for suffix, (name, ip4, ip6) in plan.items():
            host = Host(name=name, ns=f"{self.prefix}{self.tag}-{suffix}", ip4=ip4, ip6=ip6, port=f"p{suffix}"[:15])
            self._setup_host(host)
            if name == OBSERVER:
                self.observer = host
            else:
                self.hosts[name] = host

    def _setup_host(self, host: Host) -> None:
        self._add_ns(host.ns)
        # DAD off before any link exists, so link-locals are usable at once (and quiet)
        settings = [
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.all.router_solicitations=0",
            "net.ipv6.conf.default.router_solicitations=0",
        ]
        if not self.ipv6:
            settings = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
        self._sysctl(host.ns, *settings)
        cmds = ["link set lo up", f"link add {host.ifname} type veth peer name {host.port} netns {self.switch_ns}"]
        if host.ip4:
            cmds.append(f"addr add {host.ip4}/24 dev {host.ifname}")
        if host.ip6:
            cmds.append(f"addr add {host.ip6}/64 dev {host.ifname} nodad")
        cmds.append(f"link set {host.ifname} up")
        _ip("-n", host.ns, "-batch", "-", input="\n".join(cmds) + "\n")
        _ip("-n", self.switch_ns, "link", "set", host.port, "master", "br0")
        # no MAC learning (set before the port is up, or early frames get learned): the
        # bridge floods everything like a hub, so the observer sees unicast between hosts
        _bridge("-n", self.switch_ns, "link", "set", "dev", host.port, "learning", "off")
        _ip("-n", self.switch_ns, "link", "set", host.port, "up")

    # -- lookup --------------------------------------------------------------
    def host(self, name: str) -> Host:
        if name in self.hosts:
            return self.hosts[name]
        if name == OBSERVER and self.observer is not None:
            return self.observer
        raise KeyError(f"no host {name!r} in this lab")

    def ns(self, name: str) -> str:
        if name == SWITCH:
            return self.switch_ns
        return self.host(name).ns

    # -- running things ---------------------------------------------------------
    def run(
        self, host: str, *argv: str, check: bool = True, timeout: float = 30, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the host's namespace; stdout/stderr captured as text."""
        cmd = ["ip", "netns", "exec", self.ns(host), *map(str, argv)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise LabError(f"[{host}] {' '.join(map(str, argv))}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        return proc

    def popen(self, host: str, argv: Sequence[str], **kw) -> subprocess.Popen:
        """Start ``argv`` in the host's namespace in its own process group; killed and reaped at close."""
        if self._closed:
            raise LabError("lab is closed")
        kw.setdefault("start_new_session", True)
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(host), *map(str, argv)], **kw)
        self._procs.append(proc)
        return proc

    def capture(self, host_or_observer: str, bpf: str = "") -> Capture:
        """Start capturing on the host's eth0 (``"observer"`` for the observer)."""
        host = self.host(host_or_observer)
        assert self._tmpdir is not None
        fd, path = tempfile.mkstemp(dir=self._tmpdir, prefix=f"{host.name}-", suffix=".pcap")
        os.close(fd)
        cap = Capture(self, host.name, host.ns, host.ifname, bpf, Path(path))
        self._captures.append(cap)
        return cap

    # -- observing ---------------------------------------------------------------
    def addresses(self, host: str, ifname: str = "eth0") -> set[str]:
        """Addresses on the interface, without prefix length (IPv6 in compressed form)."""
        proc = _ip("-n", self.ns(host), "-j", "addr", "show", "dev", ifname)
        out = set()
        for link in json.loads(proc.stdout or "[]"):
            for a in link.get("addr_info", []):
                if "local" in a:
                    out.add(str(ipaddress.ip_address(a["local"])))
        return out

    def address_flags(self, host: str, ip: str, ifname: str = "eth0") -> dict | None:
        """The ``ip -j addr`` record of one address (keys like 'tentative', 'nodad'), or None."""
        want = ipaddress.ip_address(ip)
        proc = _ip("-n", self.ns(host), "-j", "addr", "show", "dev", ifname)
        for link in json.loads(proc.stdout or "[]"):
            for a in link.get("addr_info", []):
                if "local" in a and ipaddress.ip_address(a["local"]) == want:
                    return a
        return None

    def link(self, host: str, ifname: str = "eth0") -> dict:
        """The ``ip -j link show`` record (flags, address, operstate, mtu...)."""
        proc = _ip("-n", self.ns(host), "-j", "link", "show", "dev", ifname)
        return json.loads(proc.stdout)[0]

    def mac(self, host: str, ifname: str = "eth0") -> bytes:
        return bytes.fromhex(self.link(host, ifname)["address"].replace(":", ""))

    def holders(self, ip: str) -> list[str]:
        """Names of the hosts (not the observer) that have ``ip`` on eth0 now."""
        want = str(ipaddress.ip_address(ip))
        return [name for name, h in self.hosts.items() if want in self.addresses(name, h.ifname)]

    @staticmethod
    def wait_for(predicate: Callable[[], object], timeout_s: float, interval_s: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval_s)

    # -- faults ------------------------------------------------------------------
    def set_link(self, host: str, up: bool) -> None:
        """The host's own eth0 down/up: link loss as the host sees it."""
        h = self.host(host)
        _ip("-n", h.ns, "link", "set", h.ifname, "up" if up else "down")

    def detach(self, host: str) -> None:
        """Partition: the bridge port stops forwarding (STP state disabled); the host's link stays up.

        (``ip link set ... type bridge_slave state 0`` exits 0 but changes nothing on
        Debian 12's iproute2: the ``bridge`` tool does it.)
        """
        _bridge("-n", self.switch_ns, "link", "set", "dev", self.host(host).port, "state", "0")

    def attach(self, host: str) -> None:
        """Undo :meth:`detach` (port state forwarding)."""
        _bridge("-n", self.switch_ns, "link", "set", "dev", self.host(host).port, "state", "3")

    # -- teardown ------------------------------------------------------------------
    def _stop_procs(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in self._procs:
            try:
                proc.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            # leftover members of the group (daemonized children)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill and reap every process, delete every namespace, remove the marker. Idempotent."""
        if self._closed:
            return
        self._closed = True
        _OPEN_LABS.discard(self)
        errors = []
        for cap in self._captures:
            with contextlib.suppress(Exception):
                cap.stop()
        try:
            self._stop_procs()
        except Exception as exc:  # keep tearing down
            errors.append(exc)
        # hosts first, the switch last
        for ns in reversed(self.namespaces):
            try:
                _delete_netns(ns)
            except Exception as exc:
                errors.append(exc)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        if self._marker is not None and not errors:
            with contextlib.suppress(FileNotFoundError):
                self._marker.unlink()
        if errors:
            raise LabError(f"lab {self.tag} teardown: {errors}")

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lab(tag={getattr(self, 'tag', None)!r}, hosts={list(self.hosts)})"


def cleanup_stale(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Remove namespaces left by killed lab runs; returns the names removed.

    Only touches namespaces listed in a marker ``/run/vipkeeper-lab/<prefix><tag>``
    whose names match this module's pattern and whose creator process is dead
    (pid gone, or reused by a process with another start time).
    """
    removed: list[str] = []
    if not MARKER_DIR.is_dir():
        return removed
    pattern = _ns_pattern(prefix)
    marker_re = re.compile(rf"^{re.escape(prefix)}[0-9a-f]{{4}}$")
    for marker in MARKER_DIR.iterdir():
        if not marker_re.match(marker.name):
            continue
        try:
            info = json.loads(marker.read_text())
            pid, start, names = int(info["pid"]), info.get("start"), list(info["namespaces"])
        except (OSError, ValueError, KeyError, TypeError):
            # being written right now, or garbage: only act on old ones
            with contextlib.suppress(OSError):
                if time.time() - marker.stat().st_mtime > 120:
                    marker.unlink()
            continue
        now_start = _proc_start_time(pid)
        if now_start is not None and (start is None or now_start == start):
            continue  # creator alive
        ok = True
        for ns in names:
            if not pattern.match(ns) or not ns.startswith(marker.name + "-"):
                continue
            try:
                if ns in netns_names():
                    _delete_netns(ns)
                    removed.append(ns)
            except Exception as exc:
                ok = False
                log.warning("cleanup_stale: %s: %s", ns, exc)
        if ok:
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
    return removed
