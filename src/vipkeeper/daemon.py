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
from typing import TYPE_CHECKING

from .checks import Tracker
from .checks.script import ScriptCheck
from .checks.trackers import FileTracker, InterfaceTracker
from .config.model import Config, VirtualAddress, VrrpInstance, VrrpSyncGroup
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
    SyncGroupChanged,
    TrackingChanged,
)
from .core.instance import VrrpRouter
from .core.params import from_config
from .core.tracking import Status, Tracked, evaluate
from .errors import DecodeError, VipkeeperError
from .io import scripts
from .io.inotify import Inotify
from .io.l2_socket import L2Sender
from .io.netlink import LinkInfo, Netlink
from .io.vrrp_socket import ReceivedPacket, VrrpSocket
from .control import ControlServer, write_status_file
from .notify import Notifier
from .pidfile import PID_FILE, other_daemon

if TYPE_CHECKING:
    from .metrics import MetricsServer

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
    def __init__(self, config: Config, *, state_dir: Path, config_id: str | None = None,
                 metrics_listen: str | None = None) -> None:
        self.config = config
        self.state_dir = state_dir
        self.pid_file = state_dir / PID_FILE
        self.instances: dict[str, InstanceRuntime] = {}
        self._by_key: dict[tuple[int, int, int], InstanceRuntime] = {}  # (ifindex, family, vrid)
        self._sockets: dict[tuple[int, int], VrrpSocket] = {}
        self._l2: dict[int, L2Sender] = {}
        self._trackers: dict[str, Tracker] = {}  # by the name track_script/track_file use
        self._iface_trackers: dict[str, InterfaceTracker] = {}
        self._files_by_dir: dict[str, list[FileTracker]] = {}
        self._inotify: Inotify | None = None
        self._groups: dict[str, VrrpSyncGroup] = {g.name: g for g in config.sync_groups}
        self._group_of: dict[str, VrrpSyncGroup] = {m: g for g in config.sync_groups for m in g.members}
        self._group_state: dict[str, State] = {}
        self._notifier: Notifier | None = None
        self._tracker_tasks: dict[str, asyncio.Task] = {}
        self._reload_task: asyncio.Task | None = None
        self._warned_root = False
        self.config_id = config_id
        self.metrics_listen = metrics_listen or config.global_defs.metrics_listen
        self.started_monotonic = time.monotonic()
        self._heap: list[tuple[int, int, str]] = []
        self._queued: dict[str, int] = {}  # name -> a deadline that has an entry in _heap
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
                loop.add_signal_handler(signal.SIGHUP, self.request_reload)
                loop.add_signal_handler(signal.SIGUSR1, self._dump_status)
                control = ControlServer(self, self.state_dir)
                await control.start()
                metrics = await self._start_metrics()
                self._tasks.append(asyncio.create_task(self._link_watch(nl), name="link-watch"))
                self._start_trackers()
                if self._notifier is not None:
                    self._tasks.append(asyncio.create_task(self._notifier.run_forever(), name="notify"))
                now = _now_us()
                for rt in self.instances.values():
                    self._feed(rt, LinkChanged(up=rt.link.up), now)
                    self._feed(rt, self._tracking_of(rt), now)
                    self._feed(rt, Start(), now)
                log.info("vipkeeper started: %d instance(s)", len(self.instances))
                timer = asyncio.create_task(self._timer_loop(), name="timers")
                _sd_notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=" + self.summary())
                await self._stop.wait()
                log.info("shutting down")
                _sd_notify("STOPPING=1")
                timer.cancel()
                await self._shutdown()
                await control.close()
                if metrics is not None:
                    await metrics.close()
        finally:
            for t in self._tasks + list(self._tracker_tasks.values()):
                t.cancel()
            await asyncio.gather(*self._tasks, *self._tracker_tasks.values(), return_exceptions=True)
            for s in self._sockets.values():
                s.close()
            for l2 in self._l2.values():
                l2.close()
            if self._inotify is not None:
                self._inotify.close()
            if self._notifier is not None:
                self._notifier.close()
            self._remove_pid()
        return 0

    async def _start_metrics(self) -> "MetricsServer | None":
        if not self.metrics_listen:
            return None
        try:
            from .metrics import MetricsServer

            server = MetricsServer(self, self.metrics_listen)
            await server.start()
            return server
        except ImportError:
            log.error("metrics_listen %s: prometheus-client is not installed (pip install 'vipkeeper[metrics]')",
                      self.metrics_listen)
        except (OSError, ValueError) as exc:
            log.error("metrics_listen %s: %s", self.metrics_listen, exc)
        return None

    def _dump_status(self) -> None:
        try:
            path = write_status_file(self, self.state_dir)
            log.info("status written to %s", path)
        except OSError as exc:
            log.error("cannot write status file: %s", exc)

    def _start_trackers(self) -> None:
        for name, tracker in self._trackers.items():
            if name not in self._tracker_tasks:
                self._tracker_tasks[name] = asyncio.create_task(tracker.run_forever(), name=f"track-{name}")

    def _write_pid(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        other = other_daemon(self.state_dir)
        if other is not None:
            raise StartupError(f"{self.pid_file}: another vipkeeper is running (pid {other})")
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
        self._build_trackers(self.config, keep={})
        self._setup_notifier(self.config)
        for inst in self.config.instances:
            await self._add_instance(nl, inst, at_start=True)

    def _build_trackers(self, config: Config, keep: dict[str, Tracker]) -> None:
        """Build the trackers of ``config``; ``keep`` holds running trackers
        whose configuration did not change (a reload reuses them, with their
        state, so a reload never resets a check to INIT)."""
        env = scripts.script_env()
        self._trackers = dict(keep)
        for name, sc in config.scripts.items():
            if name in keep:
                continue
            run_as, refused = self._script_user(sc.user, sc.group, sc.script, config)
            self._trackers[name] = ScriptCheck(sc, run_as=run_as, env=env, on_change=self._on_check_change,
                                               refused=refused)
        for name, pc in config.pgsql_checks.items():
            if name in keep:
                continue
            from .checks.pgsql import PgsqlCheck, PsycopgMissing  # psycopg is an optional dependency

            try:
                self._trackers[name] = PgsqlCheck(pc, on_change=self._on_check_change)
            except PsycopgMissing as exc:
                raise StartupError(str(exc)) from None
        self._setup_track_files(config, keep)

    def _setup_notifier(self, config: Config) -> None:
        gd = config.global_defs
        fifos = [f for f in (gd.notify_fifo, gd.vrrp_notify_fifo) if f]
        if self._notifier is not None and [f.path for f in self._notifier.fifos] == list(dict.fromkeys(fifos)):
            return
        wanted = fifos or any(_has_notify(i.notify) for i in config.instances) or any(
            _has_notify(g.notify) for g in config.sync_groups
        )
        if self._notifier is not None:
            self._notifier.close()
            self._notifier = None
        if wanted:
            run_as, _ = self._script_user(None, None, "", config)
            self._notifier = Notifier(fifos=fifos, run_as=run_as, env=scripts.script_env())
            self._notifier.open()

    async def _add_instance(self, nl: Netlink, inst: VrrpInstance, *, at_start: bool) -> InstanceRuntime:
        link = await nl.link_by_name(inst.interface)
        if link is None:
            raise StartupError(f"{inst.loc}: ({inst.name}) interface {inst.interface} does not exist")
        src = await self._source_address(nl, inst, link)
        sock = self._socket_for(link, inst)
        l2 = self._l2.get(link.ifindex)
        if l2 is None:
            l2 = L2Sender(ifname=link.ifname, ifindex=link.ifindex)
            l2.open()
            self._l2[link.ifindex] = l2
        router = VrrpRouter(from_config(inst))
        router.src_addr = src
        rt = InstanceRuntime(inst, router, link, sock, l2, src, self._destinations(inst))
        rt.csum = self._checksum_mode(inst)
        rt.tracked = await self._tracked_for(nl, inst)
        self.instances[inst.name] = rt
        self._by_key[(link.ifindex, inst.family, inst.vrid)] = rt
        # At start, a crash may have left our VIPs behind: remove them before
        # the first election so the cluster never sees two holders.
        removed = await self._del_vips(rt, quiet=True)
        if removed:
            log.warning("(%s) removed %d stale VIP(s) left from a previous run: %s", inst.name,
                        len(removed), ", ".join(removed))
        rt.worker = asyncio.create_task(self._action_worker(rt), name=f"actions-{inst.name}")
        self._tasks.append(rt.worker)
        log.info("(%s) VRID %d on %s, VRRPv%d %s, priority %d, source %s, %s %s", inst.name, inst.vrid,
                 inst.interface, inst.version, "IPv4" if inst.family == 4 else "IPv6", inst.priority, src,
                 "unicast to" if inst.unicast else "multicast to", ", ".join(map(str, rt.dsts)))
        if not at_start:
            now = _now_us()
            self._feed(rt, LinkChanged(up=link.up), now)
            self._feed(rt, self._tracking_of(rt), now)
            self._feed(rt, Start(), now)
        return rt

    def _checksum_mode(self, inst: VrrpInstance) -> UnicastChecksum:
        return UnicastChecksum.for_instance(
            mode=inst.old_unicast_checksum, version=inst.version, family=inst.family, unicast=inst.unicast,
            v3_checksum_as_v2=inst.v3_checksum_as_v2, group=self.config.global_defs.vrrp_mcast_group4)

    def _socket_for(self, link: LinkInfo, inst: VrrpInstance) -> VrrpSocket:
        gd = self.config.global_defs
        key = (link.ifindex, inst.family)
        sock = self._sockets.get(key)
        if sock is None:
            sock = VrrpSocket(family=inst.family, ifname=link.ifname, ifindex=link.ifindex,
                              on_packet=self._on_packet)
            sock.open()
            self._sockets[key] = sock
        if not inst.unicast:
            sock.join(gd.vrrp_mcast_group4 if inst.family == 4 else gd.vrrp_mcast_group6)
        return sock

    def _destinations(self, inst: VrrpInstance) -> tuple[IPAddress, ...]:
        gd = self.config.global_defs
        return tuple(inst.unicast_peers) or ((gd.vrrp_mcast_group4 if inst.family == 4 else gd.vrrp_mcast_group6),)

    async def _tracked_for(self, nl: Netlink, inst: VrrpInstance) -> list[tuple[Tracked, Tracker]]:
        group = self._group_of.get(inst.name)
        ifaces = list(inst.track_interfaces)
        refs = list(inst.track_scripts + inst.track_files)
        if group is not None:  # a sync group's trackers apply to every member
            refs += list(group.track_scripts + group.track_files)
            ifaces += list(group.track_interfaces)
        out: list[tuple[Tracked, Tracker]] = []
        for ref in refs + ifaces:
            tracker = await self._iface_tracker(nl, ref.name) if ref in ifaces else self._trackers.get(ref.name)
            if tracker is None:
                log.error("(%s) tracker %s is not supported yet; ignored", inst.name, ref.name)
                continue
            weight = ref.weight if ref.weight is not None else tracker.default_weight
            reverse = ref.weight_reverse if ref.weight is not None else tracker.default_reverse
            out.append((Tracked(ref.name, weight, reverse), tracker))
        return out

    # ------------------------------------------------------------ reload

    def request_reload(self) -> None:
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.create_task(self.reload(), name="reload")

    async def reload(self) -> tuple[bool, list[str]]:
        """Re-read the configuration (SIGHUP, ``vipkeeper reload``).

        On any error the running configuration stays.  Instances that still
        exist (same VRID, interface and family, as keepalived matches them)
        keep their state and VIPs; removed ones resign and release their VIPs;
        new ones start in BACKUP.  Trackers whose configuration is unchanged
        keep running with their results.
        """
        from .config.parser import parse_file

        assert self._nl is not None
        path = self.config.path
        _sd_notify("RELOADING=1")
        try:
            new, diagnostics = parse_file(path, config_id=self.config_id)
        except OSError as exc:
            log.error("reload: cannot read %s: %s; keeping the running configuration", path, exc)
            _sd_notify("READY=1")
            return False, [str(exc)]
        errors = [str(d) for d in diagnostics if d.severity == "error"]
        for d in diagnostics:
            (log.error if d.severity == "error" else log.warning)("reload: %s", d)
        if errors or not new.instances:
            log.error("reload: %s has %d error(s); keeping the running configuration", path, len(errors))
            _sd_notify("READY=1")
            return False, errors or ["no vrrp_instance"]
        if new.pgsql_checks:
            from .checks.pgsql import PsycopgMissing, import_psycopg

            try:
                import_psycopg()
            except PsycopgMissing as exc:
                log.error("reload: %s; keeping the running configuration", exc)
                _sd_notify("READY=1")
                return False, [str(exc)]
        old_trackers = self._trackers
        keep: dict[str, Tracker] = {}
        for name, tr in old_trackers.items():
            cfg = getattr(tr, "cfg", None)
            if cfg is not None and (new.scripts.get(name) == cfg or new.track_files.get(name) == cfg
                                    or new.pgsql_checks.get(name) == cfg):
                keep[name] = tr
        self.config = new
        self._groups = {g.name: g for g in new.sync_groups}
        self._group_of = {m: g for g in new.sync_groups for m in g.members}
        self._build_trackers(new, keep)
        for name, task in list(self._tracker_tasks.items()):
            if name not in keep:
                task.cancel()
                del self._tracker_tasks[name]
        self._start_trackers()
        self._setup_notifier(new)
        now = _now_us()
        old_by_key = {(rt.cfg.vrid, rt.cfg.interface, rt.cfg.family): rt for rt in self.instances.values()}
        kept: set[str] = set()
        added = removed = 0
        for inst in new.instances:
            rt = old_by_key.pop((inst.vrid, inst.interface, inst.family), None)
            if rt is None:
                await self._add_instance(self._nl, inst, at_start=False)
                added += 1
            else:
                await self._reconfigure(rt, inst, now)
            kept.add(inst.name)
        for rt in old_by_key.values():
            await self._remove_instance(rt)
            removed += 1
        log.info("reloaded %s: %d instance(s) kept, %d added, %d removed", path,
                 len(new.instances) - added, added, removed)
        _sd_notify("READY=1\nSTATUS=" + self.summary())
        return True, []

    async def _reconfigure(self, rt: InstanceRuntime, inst: VrrpInstance, now: int) -> None:
        assert self._nl is not None
        old_cfg = rt.cfg
        del self.instances[old_cfg.name]
        rt.cfg = inst
        self.instances[inst.name] = rt
        rt.dsts = self._destinations(inst)
        rt.src = await self._source_address(self._nl, inst, rt.link)
        rt.router.src_addr = rt.src
        rt.advert_cache.clear()
        if (old_cfg.old_unicast_checksum, old_cfg.v3_checksum_as_v2) != (inst.old_unicast_checksum,
                                                                          inst.v3_checksum_as_v2):
            rt.csum = self._checksum_mode(inst)
        self._socket_for(rt.link, inst)
        rt.tracked = await self._tracked_for(self._nl, inst)
        self._apply(rt, rt.router.reconfigure(from_config(inst), now))
        self._feed(rt, self._tracking_of(rt), now)
        old_vips = {str(v.address) for v in old_cfg.vips + old_cfg.vips_excluded}
        new_vips = {str(v.address) for v in inst.vips + inst.vips_excluded}
        if rt.vips_held and old_vips != new_vips:
            rt.actions.put_nowait(_VipDiff(
                tuple(v for v in old_cfg.vips + old_cfg.vips_excluded if str(v.address) not in new_vips),
                tuple(v for v in inst.vips + inst.vips_excluded if str(v.address) not in old_vips),
            ))

    async def _remove_instance(self, rt: InstanceRuntime) -> None:
        log.info("(%s) removed from the configuration", rt.name)
        self._feed(rt, Shutdown())
        try:
            await asyncio.wait_for(rt.actions.join(), 5.0)
        except asyncio.TimeoutError:
            log.error("(%s) timed out releasing VIPs", rt.name)
        if rt.worker is not None:
            rt.worker.cancel()
        self.instances.pop(rt.name, None)
        self._by_key.pop((rt.link.ifindex, rt.cfg.family, rt.cfg.vrid), None)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for rt in self.instances.values():
            counts[str(rt.router.state)] = counts.get(str(rt.router.state), 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no instances"

    def _setup_track_files(self, config: Config, keep: dict[str, Tracker]) -> None:
        self._files_by_dir = {}
        for name, tf in config.track_files.items():
            kept = keep.get(name)
            if isinstance(kept, FileTracker):
                self._files_by_dir.setdefault(os.path.dirname(os.path.abspath(tf.file)), []).append(kept)
                continue
            tracker = FileTracker(tf, on_change=self._on_check_change)
            try:
                tracker.init_file()
            except OSError as exc:
                log.error("track_file %s: cannot initialise %s: %s", name, tf.file, exc)
            tracker.read(notify=False)
            self._trackers[name] = tracker
            self._files_by_dir.setdefault(os.path.dirname(os.path.abspath(tf.file)), []).append(tracker)
        if not self._files_by_dir:
            return
        if self._inotify is None:
            self._inotify = Inotify(self._on_file_event)
            self._inotify.open()
        for d in self._files_by_dir:
            try:
                self._inotify.watch_dir(d)
            except OSError as exc:
                log.error("track_file: cannot watch %s: %s (changes there will not be seen)", d, exc)

    def _on_file_event(self, directory: str, name: str, mask: int) -> None:
        for tracker in self._files_by_dir.get(directory, ()):
            if not name or os.path.basename(tracker.path) == name:
                tracker.read()

    async def _iface_tracker(self, nl: Netlink, ifname: str) -> InterfaceTracker:
        tracker = self._iface_trackers.get(ifname)
        if tracker is None:
            tracker = InterfaceTracker(ifname, on_change=self._on_iface_change)
            link = await nl.link_by_name(ifname)
            tracker.set_up(None if link is None else link.up)
            self._iface_trackers[ifname] = tracker
        return tracker

    def _script_user(self, user: str | None, group: str | None, script: str,
                     config: Config) -> tuple[scripts.RunAs | None, str | None]:
        """keepalived's rule: the script's ``user``, else ``script_user``, else the
        ``keepalived_script`` account if it exists, else root (with a warning)."""
        gd = config.global_defs
        name = user or gd.script_user
        grp_name = group if user else gd.script_group
        run_as = scripts.resolve_user(name, grp_name) if name else scripts.resolve_user("keepalived_script")
        if name and run_as is None:
            return None, f"user {name} does not exist"
        if run_as is None:
            run_as = scripts.RunAs("root", 0, 0)
            if not gd.enable_script_security and not self._warned_root:
                self._warned_root = True
                log.warning("scripts run as root: no script_user and no keepalived_script user "
                            "(keepalived: SECURITY VIOLATION - enable_script_security is off)")
        if gd.enable_script_security and script:
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
        # Queue a deadline once: most packets (every dropped one) leave it where it was, and
        # pushing it again per packet made the heap grow with packet rate x timer horizon.
        if d is not None and self._queued.get(rt.name) != d:
            self._queued[rt.name] = d
            self._seq += 1
            heapq.heappush(self._heap, (d, self._seq, rt.name))
            if self._heap[0][1] == self._seq:
                self._wake.set()

    async def _timer_loop(self) -> None:
        while True:
            now = _now_us()
            while self._heap and self._heap[0][0] <= now:
                d, _, name = heapq.heappop(self._heap)
                if self._queued.get(name) == d:
                    del self._queued[name]
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
        if pkt.src == rt.src:  # our own advert looped back, or someone using our address
            drops = rt.router.counters.drops
            drops["own_address"] = drops.get("own_address", 0) + 1
            return
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
                self._feed(rt, self._tracking_of(rt), now)

    def _on_iface_change(self, name: str, status: Status) -> None:
        now = _now_us()
        for rt in self.instances.values():
            if any(tr is self._iface_trackers.get(name) for _, tr in rt.tracked):
                self._feed(rt, self._tracking_of(rt), now)

    def _tracking_of(self, rt: InstanceRuntime) -> TrackingChanged:
        files = [(t, tr.value) for t, tr in rt.tracked if isinstance(tr, FileTracker)]
        others = [(t, tr.status) for t, tr in rt.tracked if not isinstance(tr, FileTracker)]
        return evaluate(others, files)

    async def _link_watch(self, nl: Netlink) -> None:
        async for ev in nl.link_events():
            tracker = self._iface_trackers.get(ev.ifname)
            if tracker is not None:
                tracker.set_up(None if ev.deleted else ev.up)
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
                    if self._notifier is not None:
                        self._notifier.changed("INSTANCE", rt.name, rt.cfg.notify, new, prio)
                    self._sync_group(rt, old, new)
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
                    case _VipDiff(removed=gone, added=new):
                        await self._apply_vip_diff(rt, gone, new)
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

    async def _apply_vip_diff(self, rt: InstanceRuntime, gone: tuple[VirtualAddress, ...],
                              new: tuple[VirtualAddress, ...]) -> None:
        assert self._nl is not None
        for v in gone:
            await self._nl.del_address(await self._vip_ifindex(rt, v), v.address)
        for v in new:
            await self._nl.add_address(await self._vip_ifindex(rt, v), v.address, brd=v.brd, scope=v.scope,
                                       label=v.label)
        log.info("(%s) reload: VIPs removed %s, added %s", rt.name, [str(v.address.ip) for v in gone],
                 [str(v.address.ip) for v in new])
        if new and rt.router.state is State.MASTER:
            await self._send_gratuitous(rt, rt.cfg.garp_master_repeat, rt.cfg.garp_interval_us)

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

    def _sync_group(self, rt: InstanceRuntime, old: State, new: State) -> None:
        """Carry one member's change to the rest of its ``vrrp_sync_group``."""
        group = self._group_of.get(rt.name)
        if group is None:
            return
        members = [self.instances[m] for m in group.members if m in self.instances]
        in_fault = {m.name for m in members if m.router.own_faults}
        want = None
        if new is State.MASTER:
            want = State.MASTER
        elif new is State.BACKUP and old is State.MASTER:
            want = State.BACKUP
        now = _now_us()
        for other in members:
            if other is rt:
                continue
            ev = SyncGroupChanged(faults=frozenset(in_fault - {other.name}), want=want, group=group.name)
            effects = other.router.handle(ev, now)
            if effects:
                self._apply(other, effects)
                self._schedule(other)
        states = {m.router.state for m in members}
        if len(states) == 1:
            (state,) = states
            if self._group_state.get(group.name) is not state:
                self._group_state[group.name] = state
                log.info("sync group %s is %s", group.name, state)
                if self._notifier is not None:
                    self._notifier.changed("GROUP", group.name, group.notify, state, 0)

    async def _shutdown(self) -> None:
        now = _now_us()
        for rt in self.instances.values():
            self._feed(rt, Shutdown(), now)
        for rt in self.instances.values():
            try:
                await asyncio.wait_for(rt.actions.join(), 5.0)
            except asyncio.TimeoutError:
                log.error("(%s) timed out releasing VIPs", rt.name)
        if self._notifier is not None:
            await self._notifier.drain(5.0)


def _has_notify(n) -> bool:
    return any((n.master, n.backup, n.fault, n.stop, n.any))


@dataclass(frozen=True, slots=True)
class _VipDiff:
    """A reload changed the VIPs of an instance that holds them."""

    removed: tuple[VirtualAddress, ...]
    added: tuple[VirtualAddress, ...]


def _sd_notify(message: str) -> None:
    """sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    import socket

    if path.startswith("@"):
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(path)
            s.sendall(message.encode())
    except OSError as exc:
        log.debug("sd_notify: %s", exc)


async def run_daemon(config: Config, state_dir: Path, config_id: str | None = None,
                     metrics_listen: str | None = None) -> int:
    d = Daemon(config, state_dir=state_dir, config_id=config_id, metrics_listen=metrics_listen)
    try:
        return await d.run()
    except StartupError as exc:
        log.error("%s", exc)
        return 1

