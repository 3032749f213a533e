"""The daemon: wires sockets, netlink, trackers and timers to the pure engine.

Inputs (packets, link events, tracker results, the earliest deadline,
signals) go into ``core.instance.VrrpRouter``; the effects it returns are
carried out in order.  Effects that need netlink (adding and removing VIPs)
and the gratuitous ARPs that must follow them run through one ordered queue
per instance, so "add VIPs, then announce them" always holds.
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import ipaddress
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .checks import Tracker
from .checks.script import ScriptCheck
from .config.model import Config, VirtualAddress, VrrpInstance
from .core import codec, frames
from .core.checksum_compat import UnicastChecksum
from .core.events import (
    AddVips,
    AdvertDropped,
    AdvertReceived,
    DelVips,
    Effect,
    Event,
    LinkChanged,
    PeerConflict,
    PriorityChanged,
    SendAdvert,
    SendGratuitous,
    Shutdown,
    Start,
    State,
    StateChanged,
)
from .core.instance import VrrpRouter
from .core.params import from_config
from .core.tracking import Status, Tracked, evaluate
from .errors import DecodeError, VipkeeperError
from .io import scripts
from .io.l2_socket import L2Sender
from .io.netlink import LinkInfo, Netlink
from .io.vrrp_socket import ReceivedPacket, VrrpSocket

log = logging.getLogger("vipkeeper")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class StartupError(VipkeeperError):
    pass


class RateLimitedLog:
    """At most one WARNING per key every ``period_s``; the rest at DEBUG, counted."""

    def __init__(self, period_s: float = 10.0) -> None:
        self.period_s = period_s
        self._last: dict[tuple, float] = {}
        self._suppressed: dict[tuple, int] = {}

    def warn(self, key: tuple, msg: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is None or now - last >= self.period_s:
            n = self._suppressed.pop(key, 0)
            suffix = f" ({n} more suppressed)" if n else ""
            log.warning(msg + suffix, *args)
            self._last[key] = now
        else:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            log.debug(msg, *args)


@dataclass
class InstanceRuntime:
    cfg: VrrpInstance
    router: VrrpRouter
    link: LinkInfo
    sock: VrrpSocket
    l2: L2Sender
    src: IPAddress
    dsts: tuple[IPAddress, ...]
    tracked: list[tuple[Tracked, Tracker]] = field(default_factory=list)
    actions: asyncio.Queue = field(default_factory=asyncio.Queue)
    advert_cache: dict[tuple[int, IPAddress], bytes] = field(default_factory=dict)
    worker: asyncio.Task | None = None
    vips_held: bool = False
    garps_sent: int = 0
    csum: UnicastChecksum | None = None  # VRRPv3 IPv4 unicast checksum dialect (old_unicast_checksum)

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def all_vips(self) -> tuple[VirtualAddress, ...]:
        return self.cfg.vips + self.cfg.vips_excluded


def _now_us() -> int:
    return time.monotonic_ns() // 1000


class Daemon:
    def __init__(self, config: Config, *, state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir
        self.pid_file = state_dir / "vipkeeper.pid"
        self.instances: dict[str, InstanceRuntime] = {}
        self._by_key: dict[tuple[int, int, int], InstanceRuntime] = {}  # (ifindex, family, vrid)
        self._sockets: dict[tuple[int, int], VrrpSocket] = {}
        self._l2: dict[int, L2Sender] = {}
        self._trackers: dict[str, Tracker] = {}  # by the name track_script/track_file use
        self._heap: list[tuple[int, int, str]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._nl: Netlink | None = None
        self._ratelog = RateLimitedLog()
        self.unknown_vrid = 0
        self.decode_errors: dict[str, int] = {}

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        self._write_pid()
        try:
            async with Netlink() as nl:
                self._nl = nl
                await self._setup(nl)
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self._stop.set)
                self._tasks.append(asyncio.create_task(self._link_watch(nl), name="link-watch"))
                for tracker in self._trackers.values():
                    self._tasks.append(asyncio.create_task(tracker.run_forever(), name=f"track-{tracker.name}"))
                now = _now_us()
                for rt in self.instances.values():
                    self._feed(rt, LinkChanged(up=rt.link.up), now)
                    self._feed(rt, evaluate(self._tracker_states(rt)), now)
                    self._feed(rt, Start(), now)
                log.info("vipkeeper started: %d instance(s)", len(self.instances))
                timer = asyncio.create_task(self._timer_loop(), name="timers")
                await self._stop.wait()
                log.info("shutting down")
                timer.cancel()
                await self._shutdown()
        finally:
            for t in self._tasks:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for s in self._sockets.values():
                s.close()
            for l2 in self._l2.values():
                l2.close()
            self._remove_pid()
        return 0

    def _write_pid(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            old = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            old = None
        if old and old != os.getpid() and _alive(old):
            raise StartupError(f"{self.pid_file}: another vipkeeper is running (pid {old})")
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        tmp.replace(self.pid_file)

    def _remove_pid(self) -> None:
        try:
            if int(self.pid_file.read_text().strip()) == os.getpid():
                self.pid_file.unlink()
        except (OSError, ValueError):
            pass

    async def _setup(self, nl: Netlink) -> None:
        gd = self.config.global_defs
        env = scripts.script_env()
        for name, sc in self.config.scripts.items():
            run_as, refused = self._script_user(sc.user, sc.group, sc.script)
            check = ScriptCheck(sc, run_as=run_as, env=env, on_change=self._on_check_change)
            check.refused = refused
            self._trackers[name] = check
        for inst in self.config.instances:
            link = await nl.link_by_name(inst.interface)
            if link is None:
                raise StartupError(f"{inst.loc}: ({inst.name}) interface {inst.interface} does not exist")
            src = await self._source_address(nl, inst, link)
            key = (link.ifindex, inst.family)
            sock = self._sockets.get(key)
            if sock is None:
                sock = VrrpSocket(family=inst.family, ifname=link.ifname, ifindex=link.ifindex,
                                  on_packet=self._on_packet)
                sock.open()
                self._sockets[key] = sock
            if not inst.unicast:
                sock.join(gd.vrrp_mcast_group4 if inst.family == 4 else gd.vrrp_mcast_group6)
            l2 = self._l2.get(link.ifindex)
            if l2 is None:
                l2 = L2Sender(ifname=link.ifname, ifindex=link.ifindex)
                l2.open()
                self._l2[link.ifindex] = l2
            router = VrrpRouter(from_config(inst))
            router.src_addr = src
            dsts = tuple(inst.unicast_peers) or (
                (gd.vrrp_mcast_group4 if inst.family == 4 else gd.vrrp_mcast_group6),
            )
            rt = InstanceRuntime(inst, router, link, sock, l2, src, dsts)
            rt.csum = UnicastChecksum.for_instance(
                mode=inst.old_unicast_checksum, version=inst.version, family=inst.family, unicast=inst.unicast,
                v3_checksum_as_v2=inst.v3_checksum_as_v2, group=gd.vrrp_mcast_group4)
            for ref in inst.track_scripts + inst.track_files:
                tracker = self._trackers.get(ref.name)
                if tracker is None:
                    log.error("(%s) tracker %s is not supported yet; ignored", inst.name, ref.name)
                    continue
                weight = ref.weight if ref.weight is not None else tracker.default_weight
                reverse = ref.weight_reverse if ref.weight is not None else tracker.default_reverse
                rt.tracked.append((Tracked(ref.name, weight, reverse), tracker))
            self.instances[inst.name] = rt
            self._by_key[(link.ifindex, inst.family, inst.vrid)] = rt
            # A crash may have left our VIPs behind: remove them before the
            # first election so the cluster never sees two holders.
            removed = await self._del_vips(rt, quiet=True)
            if removed:
                log.warning("(%s) removed %d stale VIP(s) left from a previous run: %s", inst.name,
                            len(removed), ", ".join(removed))
            rt.worker = asyncio.create_task(self._action_worker(rt), name=f"actions-{inst.name}")
            self._tasks.append(rt.worker)
            log.info("(%s) VRID %d on %s, VRRPv%d %s, priority %d, source %s, %s %s", inst.name, inst.vrid,
                     inst.interface, inst.version, "IPv4" if inst.family == 4 else "IPv6", inst.priority, src,
                     "unicast to" if inst.unicast else "multicast to", ", ".join(map(str, dsts)))

    def _script_user(self, user: str | None, group: str | None, script: str) -> tuple[scripts.RunAs | None, str | None]:
        """keepalived's rule: the script's ``user``, else ``script_user``, else the
        ``keepalived_script`` account if it exists, else root (with a warning)."""
        gd = self.config.global_defs
        name = user or gd.script_user
        grp_name = group if user else gd.script_group
        run_as = scripts.resolve_user(name, grp_name) if name else scripts.resolve_user("keepalived_script")
        if name and run_as is None:
            return None, f"user {name} does not exist"
        if run_as is None:
            run_as = scripts.RunAs("root", 0, 0)
            if not gd.enable_script_security:
                log.warning("scripts run as root: no script_user and no keepalived_script user "
                            "(keepalived: SECURITY VIOLATION - enable_script_security is off)")
        if gd.enable_script_security:
            argv = scripts.split_command(script)
            why = scripts.insecure_reason(argv[0], run_as.uid) if argv else "empty script"
            if why:
                log.error("refusing to run script %s as %s: %s (enable_script_security)", script,
                          run_as.user, why)
                return run_as, why
        return run_as, None

    async def _source_address(self, nl: Netlink, inst: VrrpInstance, link: LinkInfo) -> IPAddress:
        if inst.unicast_src_ip is not None:
            return inst.unicast_src_ip
        if inst.mcast_src_ip is not None:
            return inst.mcast_src_ip
        addr = await nl.primary_address(link.ifindex, inst.family)
        if addr is None:
            raise StartupError(f"{inst.loc}: ({inst.name}) {inst.interface} has no IPv{inst.family} address to send from")
        return addr

    # ------------------------------------------------------------ timers

    def _schedule(self, rt: InstanceRuntime) -> None:
        d = rt.router.next_deadline()
        if d is not None:
            self._seq += 1
            heapq.heappush(self._heap, (d, self._seq, rt.name))
            if self._heap[0][1] == self._seq:
                self._wake.set()

    async def _timer_loop(self) -> None:
        while True:
            now = _now_us()
            while self._heap and self._heap[0][0] <= now:
                d, _, name = heapq.heappop(self._heap)
                rt = self.instances.get(name)
                if rt is None or rt.router.next_deadline() != d:
                    continue  # stale entry: the deadline moved
                self._apply(rt, rt.router.on_timer(now))
                self._schedule(rt)
            self._wake.clear()
            timeout = (self._heap[0][0] - _now_us()) / 1e6 if self._heap else None
            if timeout is not None and timeout <= 0:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------ inputs

    def _feed(self, rt: InstanceRuntime, event: Event, now: int | None = None) -> None:
        self._apply(rt, rt.router.handle(event, _now_us() if now is None else now))
        self._schedule(rt)

    def _on_packet(self, pkt: ReceivedPacket) -> None:
        """Hot path: one received VRRP message.  Nothing here may raise."""
        payload = pkt.payload
        if len(payload) < 2:
            self._count_decode("too_short", pkt)
            return
        rt = self._by_key.get((pkt.ifindex, pkt.family, payload[1]))
        if rt is None:
            self.unknown_vrid += 1
            log.debug("packet for unknown VRID %d from %s on ifindex %d", payload[1], pkt.src, pkt.ifindex)
            return
        if pkt.src == rt.src:
            return  # our own advert looped back
        assert rt.csum is not None
        try:
            adv, switched = rt.csum.decode(payload, family=pkt.family, src=pkt.src, dst=pkt.dst,
                                           v3_checksum_pseudo=not rt.cfg.v3_checksum_as_v2)
        except DecodeError as exc:
            self._count_decode(exc.reason, pkt, rt, str(exc))
            return
        if switched:  # keepalived: "Setting unicast VRRPv3 checksum to old version"
            rt.advert_cache.clear()
            log.warning("(%s) %s uses the old VRRPv3 unicast checksum (pseudo-header destination %s); "
                        "using it from now on, as keepalived does (old_unicast_checksum)",
                        rt.name, pkt.src, rt.csum.group)
        multicast = pkt.dst.is_multicast
        self._feed(rt, AdvertReceived(adv, pkt.src, pkt.ttl, multicast))

    def _count_decode(self, reason: str, pkt: ReceivedPacket, rt: InstanceRuntime | None = None,
                      detail: str = "") -> None:
        self.decode_errors[reason] = self.decode_errors.get(reason, 0) + 1
        if rt is not None:
            drops = rt.router.counters.drops
            drops[reason] = drops.get(reason, 0) + 1
        name = rt.name if rt else f"ifindex {pkt.ifindex}"
        self._ratelog.warn((name, reason), "(%s) dropped packet from %s: %s", name, pkt.src, detail or reason)

    def _on_check_change(self, name: str, status: Status) -> None:
        now = _now_us()
        for rt in self.instances.values():
            if any(t.name == name for t, _ in rt.tracked):
                self._feed(rt, evaluate(self._tracker_states(rt)), now)

    def _tracker_states(self, rt: InstanceRuntime) -> list[tuple[Tracked, Status]]:
        return [(t, check.status) for t, check in rt.tracked]

    async def _link_watch(self, nl: Netlink) -> None:
        async for ev in nl.link_events():
            for rt in self.instances.values():
                if rt.link.ifindex == ev.ifindex:
                    if ev.up == ("link down" not in rt.router.faults):
                        continue
                    log.info("(%s) interface %s is %s", rt.name, ev.ifname, "up" if ev.up else "down")
                    self._feed(rt, LinkChanged(up=ev.up))

    # ------------------------------------------------------------ effects

    def _apply(self, rt: InstanceRuntime, effects: list[Effect]) -> None:
        for e in effects:
            match e:
                case SendAdvert(priority=prio):
                    self._send_advert(rt, prio)
                case AddVips() | DelVips() | SendGratuitous():
                    rt.actions.put_nowait(e)
                case StateChanged(old=old, new=new, reason=reason, priority=prio):
                    log.info("(%s) %s -> %s: %s [priority %d]", rt.name, old, new, reason, prio)
                case PriorityChanged(old=old, new=new):
                    log.info("(%s) effective priority %d -> %d", rt.name, old, new)
                case AdvertDropped(reason=reason, src=src, detail=detail):
                    self._ratelog.warn((rt.name, reason), "(%s) dropped advert from %s: %s (%s)",
                                       rt.name, src, reason, detail)
                case PeerConflict(message=msg):
                    self._ratelog.warn((rt.name, "conflict"), "(%s) %s", rt.name, msg)

    def _send_advert(self, rt: InstanceRuntime, priority: int) -> None:
        cfg = rt.cfg
        for dst in rt.dsts:
            key = (priority, dst)
            wire = rt.advert_cache.get(key)
            if wire is None:
                adv = codec.Advertisement(
                    version=cfg.version, vrid=cfg.vrid, priority=priority,
                    addresses=rt.router.p.vips, advert_int_cs=cfg.advert_int_cs,
                    auth_type=rt.router.p.auth_type, auth_data=rt.router.p.auth_data,
                )
                pseudo_dst = rt.csum.pseudo_dst(dst) if rt.csum is not None else dst
                wire = codec.encode(adv, family=cfg.family, src=rt.src, dst=pseudo_dst,
                                    v3_checksum_pseudo=not cfg.v3_checksum_as_v2)
                if len(rt.advert_cache) > 64:
                    rt.advert_cache.clear()
                rt.advert_cache[key] = wire
            rt.sock.send(wire, dst, rt.src)

    async def _action_worker(self, rt: InstanceRuntime) -> None:
        while True:
            action = await rt.actions.get()
            try:
                match action:
                    case AddVips():
                        await self._add_vips(rt)
                    case DelVips():
                        await self._del_vips(rt)
                    case SendGratuitous(count=count, interval_us=interval_us):
                        await self._send_gratuitous(rt, count, interval_us)
            except OSError as exc:
                log.error("(%s) %s failed: %s", rt.name, type(action).__name__, exc)
            finally:
                rt.actions.task_done()

    async def _add_vips(self, rt: InstanceRuntime) -> None:
        assert self._nl is not None
        added = []
        for v in rt.all_vips:
            ifindex = await self._vip_ifindex(rt, v)
            if await self._nl.add_address(ifindex, v.address, brd=v.brd, scope=v.scope, label=v.label):
                added.append(str(v.address.ip))
        rt.vips_held = True
        log.info("(%s) VIPs added: %s", rt.name, ", ".join(added) or "(already present)")

    async def _del_vips(self, rt: InstanceRuntime, quiet: bool = False) -> list[str]:
        assert self._nl is not None
        removed = []
        for v in rt.all_vips:
            ifindex = await self._vip_ifindex(rt, v)
            if await self._nl.del_address(ifindex, v.address):
                removed.append(str(v.address.ip))
        rt.vips_held = False
        if not quiet:
            log.info("(%s) VIPs removed: %s", rt.name, ", ".join(removed) or "(none present)")
        return removed

    async def _vip_ifindex(self, rt: InstanceRuntime, v: VirtualAddress) -> int:
        if v.dev is None or v.dev == rt.link.ifname:
            return rt.link.ifindex
        assert self._nl is not None
        link = await self._nl.link_by_name(v.dev)
        if link is None:
            raise OSError(errno.ENODEV, f"VIP {v.address} dev {v.dev}: no such interface")
        return link.ifindex

    async def _send_gratuitous(self, rt: InstanceRuntime, count: int, interval_us: int) -> None:
        mac = rt.link.mac
        frames_out = []
        for v in rt.all_vips:
            ip = v.address.ip
            if ip.version == 4:
                frames_out.append(frames.gratuitous_arp(mac, ip))
            else:
                frames_out.append(frames.unsolicited_na(mac, ip))
        for i in range(count):
            if i and interval_us:
                await asyncio.sleep(interval_us / 1e6)
            if rt.router.state is not State.MASTER:
                return
            for f in frames_out:
                if rt.l2.send(f):
                    rt.garps_sent += 1

    async def _shutdown(self) -> None:
        now = _now_us()
        for rt in self.instances.values():
            self._feed(rt, Shutdown(), now)
        for rt in self.instances.values():
            try:
                await asyncio.wait_for(rt.actions.join(), 5.0)
            except asyncio.TimeoutError:
                log.error("(%s) timed out releasing VIPs", rt.name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def run_daemon(config: Config, state_dir: Path) -> int:
    d = Daemon(config, state_dir=state_dir)
    try:
        return await d.run()
    except StartupError as exc:
        log.error("%s", exc)
        return 1

