"""The daemon's lifecycle: an adapter between the host and :class:`VrrpNode`.

It opens what the node needs (netlink, one raw VRRP socket per interface and
family, one packet socket per interface), feeds the node packets, time, link
events and tracker verdicts, re-arms the timer at the node's next deadline and
hands every effect list to the :class:`EffectRunner`.  It makes no protocol
decision.  One received advert crosses into the core once:
``VrrpSocket._on_readable -> Daemon._on_packet -> VrrpNode.receive ->
EffectRunner.run -> VrrpSocket.send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from ipaddress import IPv6Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vipkeeper import pidfile
from vipkeeper.config.model import Config, Notify, VirtualAddress, VrrpInstance, VrrpSyncGroup
from vipkeeper.config.to_params import router_params, sync_groups
from vipkeeper.core.constants import AUTH_AH
from vipkeeper.core.events import Effect, Received, State, TrackingChanged
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import IPAddress, RouterLink
from vipkeeper.daemon import status as status_mod
from vipkeeper.daemon.control import ControlServer, write_status_file
from vipkeeper.daemon.effects import EffectRunner, GratuitousPacer, HostDiff, VipActions, VipDiff
from vipkeeper.daemon.hostnet import HostNet
from vipkeeper.daemon.notify import Notifier
from vipkeeper.daemon.priority import ProcessPriority
from vipkeeper.daemon.reload import ReloadPlan, SingleFlight, plan_reload
from vipkeeper.daemon.scheduler import Scheduler, now_us
from vipkeeper.daemon.supervisor import Supervisor
from vipkeeper.daemon.systemd import sd_notify
from vipkeeper.daemon.trackers import ScriptUsers, StartupError, TrackerSet
from vipkeeper.io import scripts
from vipkeeper.io.l2_socket import L2Sender
from vipkeeper.io.netlink import AddrEvent, LinkInfo, Netlink
from vipkeeper.io.vrrp_socket import VrrpSocket
from vipkeeper.lazy_ssl import enable_asyncio_tls, needs_tls

if TYPE_CHECKING:
    from vipkeeper.daemon.metrics import MetricsServer
    from vipkeeper.io.vmac import Vmacs

log = logging.getLogger(__name__)

RELEASE_TIMEOUT_S = 5.0

__all__ = ["Daemon", "StartupError", "run_daemon"]


def _uptime_us() -> int:
    """Time since boot (/proc/uptime), for vrrp_delay_after_boot; 0 if unreadable."""
    try:
        with open("/proc/uptime") as f:
            return int(float(f.read().split()[0]) * 1e6)
    except (OSError, ValueError, IndexError):
        return 0


class Daemon:
    def __init__(
        self, config: Config, *, state_dir: Path, config_id: str | None = None, metrics_listen: str | None = None
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.pid_file = state_dir / pidfile.PID_FILE
        self.config_id = config_id
        self.metrics_listen = metrics_listen or config.global_defs.metrics_listen
        self.started_monotonic = time.monotonic()
        self.node = VrrpNode()
        self.instances: dict[str, VrrpInstance] = {}  # running name -> its configuration
        self.vips: dict[str, VipActions] = {}
        self._links: dict[str, LinkInfo] = {}  # instance name -> its interface
        self._source_gone: set[str] = set()  # instances whose source address left the interface
        self._sockets: dict[tuple[int, int], VrrpSocket] = {}  # (ifindex, family)
        self._l2: dict[int, L2Sender] = {}
        self._vmacs: Vmacs | None = None  # use_vmac macvlans (io.vmac loads pyroute2 when used)
        self._vmac_of: dict[str, list[str]] = {}  # instance name -> its macvlans
        self._pacers: dict[int, GratuitousPacer] = {}  # garp/gna_interval, per interface
        self._notifier: Notifier | None = None
        self._notify_task: asyncio.Task[None] | None = None
        self._users = ScriptUsers()
        self._stop = asyncio.Event()
        self._nl: Netlink | None = None
        self.supervisor = Supervisor(on_fatal=self._stop.set)
        self.hostnet = HostNet(
            self.supervisor,
            config=lambda: self.config,
            instances=lambda: self.instances,
            held=lambda name: self.vips[name].held,
            lost=lambda name, what: self._run(self.node.host_entry_lost(name, what, now_us())),
        )
        self.trackers = TrackerSet(self.supervisor, self._on_verdict, self._users)
        self.effects = EffectRunner(
            sockets=self._sockets,
            vips=self.vips,
            notifier=lambda: self._notifier,
            notify_of=self._notify_block,
            ifname_of=lambda n: self._links[n].ifname,
            priority_changes_of=self._priority_changes,
        )
        self.reloads = SingleFlight(self._reload, self.supervisor.spawn)
        self._scheduler: Scheduler | None = None
        self.priority = ProcessPriority(config.global_defs)

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (exit status 0) or a fatal failure (1)."""
        other = pidfile.claim(self.state_dir)
        if other is not None:
            raise StartupError(f"{self.pid_file}: another vipkeeper is running (pid {other})")
        loop = asyncio.get_running_loop()
        self.supervisor.install(loop)
        self._scheduler = Scheduler(loop, self._on_timer)
        control: ControlServer | None = None
        metrics: MetricsServer | None = None
        try:
            async with Netlink() as nl:
                self._nl = nl
                self.trackers.build(self.config)
                self._setup_notifier(self.config)
                self.node.set_sync_groups(sync_groups(self.config))
                await self.hostnet.start(nl, self.config)
                for inst in self.config.instances:
                    await self._add_instance(nl, inst)
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self._stop.set)
                loop.add_signal_handler(signal.SIGHUP, self.reloads.request)
                loop.add_signal_handler(signal.SIGUSR1, self._dump_status)
                control = ControlServer(self.state_dir, status=self.status, reload=self.reloads.run)
                await control.start()
                metrics = await self._start_metrics()
                self.supervisor.spawn(self._link_watch(nl), "link-watch")
                self.supervisor.spawn(self._addr_watch(nl), "address-watch")
                self.trackers.start()
                delay_us = self.config.global_defs.startup_delay_us(_uptime_us())
                if delay_us > 0:
                    # keepalived vrrp_daemon.c "Delaying startup for %g seconds": the routers
                    # stay in INIT (no advert, no VIP); READY first, the wait may be long
                    log.info("delaying the VRRP instances' start for %g seconds", delay_us / 1e6)
                    sd_notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=delaying the VRRP start")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay_us / 1e6)
                now = now_us()
                self.node.wall_offset_us = time.time_ns() // 1000 - now
                for name in self.instances:
                    self._run(self.node.set_link(self._links[name].ifindex, self._links[name].up, now))
                    self._run(self.node.set_tracking(name, self.trackers.verdict(name), now))
                if not self._stop.is_set():  # not stopped during a startup delay
                    self._run(self.node.start(now))
                    for name in list(self.instances):
                        await self._check_source(nl, name, None)  # a tracked configured source may be missing
                log.info("vipkeeper started: %d instance(s)", len(self.instances))
                # Everything built so far lives as long as the daemon: move it out of the cyclic
                # collector's generations, so a collection no longer walks it.
                gc.freeze()
                self.priority.apply(loop)  # vrrp_rt_priority / vrrp_priority, once started
                sd_notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=" + self.summary())
                await self._stop.wait()
                log.info("shutting down")
                sd_notify("STOPPING=1")
                await self._shutdown()
        finally:
            if control is not None:
                await control.close()
            if metrics is not None:
                await metrics.close()
            self._scheduler.close()
            await self.supervisor.cancel_all()
            for s in self._sockets.values():
                s.close()
            for l2 in self._l2.values():
                l2.close()
            if self._vmacs is not None:
                await self._vmacs.delete_all()  # keepalived deletes its VMACs at stop
            self.trackers.close()
            self.priority.close()
            if self._notifier is not None:
                self._notifier.close()
            self.hostnet.close()
            pidfile.release(self.state_dir)
        return 1 if self.supervisor.failure is not None else 0

    async def _shutdown(self) -> None:
        """Every MASTER resigns (priority 0) and releases its VIPs; notify scripts finish."""
        self.hostnet.stop_watch()  # what is deleted now must not be reinstated
        self._run(self.node.shutdown(now_us()))
        for v in self.vips.values():
            await v.join(RELEASE_TIMEOUT_S)
        if self.supervisor.failure is not None:
            # A failed VIP worker cannot release: do it here, whatever the queue holds.
            for v in self.vips.values():
                if v.held:
                    try:
                        await v.delete()
                    except OSError as exc:
                        log.error("(%s) cannot release VIPs: %s", v.name, exc)
        if self._nl is not None:
            await self.hostnet.stop(self._nl, self.config)
        if self._notifier is not None:
            await self._notifier.drain(RELEASE_TIMEOUT_S)

    async def _start_metrics(self) -> MetricsServer | None:
        """The HTTP listener (/metrics, /status, /healthz), only if configured."""
        if not self.metrics_listen:
            return None
        from vipkeeper.daemon.metrics import MetricsServer

        try:
            server = MetricsServer(self.status, self.metrics_listen)
            await server.start()
            return server
        except (OSError, ValueError) as exc:
            log.error("metrics_listen %s: %s", self.metrics_listen, exc)
        return None

    def _setup_notifier(self, config: Config) -> None:
        gd = config.global_defs
        fifos = [f for f in (gd.notify_fifo, gd.vrrp_notify_fifo) if f]
        # notify_fifo_script / vrrp_notify_fifo_script; one path for both: the global one wins (keepalived)
        fifo_scripts = {p: s for p, s in ((gd.vrrp_notify_fifo, gd.vrrp_notify_fifo_script),
                                          (gd.notify_fifo, gd.notify_fifo_script)) if p and s}  # fmt: skip
        if self._notifier is not None and [(f.path, f.script) for f in self._notifier.fifos] == [
            (p, fifo_scripts.get(p)) for p in dict.fromkeys(fifos)
        ]:
            return
        wanted = (
            fifos
            or any(_has_notify(i.notify) for i in config.instances)
            or any(_has_notify(g.notify) for g in config.sync_groups)
        )
        if self._notifier is not None:
            self._notifier.close()
            self._notifier = None
        if self._notify_task is not None:
            self._notify_task.cancel()
            self._notify_task = None
        if wanted:
            run_as, _ = self._users.resolve(None, None, "", gd)
            self._notifier = Notifier(fifos=fifos, run_as=run_as, env=scripts.script_env(), fifo_scripts=fifo_scripts)
            self._notifier.open()
            # Its own task, also when a reload creates it (one used to be started at start only).
            self._notify_task = self.supervisor.spawn(self._notifier.run_forever(), "notify")

    def _priority_changes(self, name: str) -> bool:
        """notify_priority_changes: the instance's, else its sync group's, else the global one
        (keepalived vrrp.c vrrp_complete_instance)."""
        inst = self.instances.get(name)
        group = self._group_cfg(name)
        for value in (inst and inst.notify.priority_changes, group and group.notify.priority_changes):
            if value is not None:
                return bool(value)
        return self.config.global_defs.vrrp_notify_priority_changes

    def _notify_block(self, kind: str, name: str) -> Notify:
        if kind == "GROUP":
            return next(g.notify for g in self.config.sync_groups if g.name == name)
        return self.instances[name].notify

    # ------------------------------------------------------------ instances

    async def _add_instance(self, nl: Netlink, inst: VrrpInstance) -> None:
        base = await nl.link_by_name(inst.interface)
        if base is None:
            raise StartupError(f"{inst.loc}: ({inst.name}) interface {inst.interface} does not exist")
        src = await self._source_address(nl, inst, base)
        # use_vmac: the VIPs and gratuitous ARPs on the macvlan, from its virtual MAC; the adverts
        # too, unless vmac_xmit_base (keepalived vrrp.c vrrp_complete_instance, vrrp_vmac.c)
        vip_link = await self._vmac_link(nl, inst, base, src) if inst.use_vmac else base
        link = base if inst.vmac_xmit_base else vip_link
        params = router_params(inst, self.config.global_defs)
        self._socket_for(link, inst.family, None if params.unicast else params.group, params.auth_type == AUTH_AH)
        l2 = self._l2_sender(vip_link)
        self.node.add_router(params, RouterLink(link.ifindex, src, vip_link.mac))
        self.instances[inst.name] = inst
        self._links[inst.name] = link
        vips = VipActions(
            inst.name,
            inst.vips + inst.vips_excluded,
            vip_link.ifindex,
            vip_link.ifname,
            netlink=nl,
            l2=l2,
            is_master=self._is_master,
        )
        if vip_link is not base:
            vips.base_ifname = base.ifname
        vips.pacer = self._pacers.setdefault(vip_link.ifindex, GratuitousPacer())
        await self._address_vmacs(nl, inst, vips)
        _set_intervals(vips, inst)
        self.vips[inst.name] = vips
        vips.host = await self.hostnet.changes_for(inst)
        await self.trackers.wire(nl, inst, self._group_cfg(inst.name))
        # At start, a crash may have left our VIPs behind: remove them before
        # the first election so the cluster never sees two holders.
        removed = await vips.delete(quiet=True)
        if removed:
            log.warning(
                "(%s) removed %d stale VIP(s) left from a previous run: %s", inst.name, len(removed), ", ".join(removed)
            )
        vips.start(self.supervisor)
        log.info(
            "(%s) VRID %d on %s, VRRPv%d %s, priority %d, source %s, %s %s",
            inst.name,
            inst.vrid,
            inst.interface,
            inst.version,
            "IPv4" if inst.family == 4 else "IPv6",
            inst.priority,
            src,
            "unicast to" if inst.unicast else "multicast to",
            ", ".join(map(str, params.destinations)),
        )

    async def _vmac_link(self, nl: Netlink, inst: VrrpInstance, base: LinkInfo, src: IPAddress) -> LinkInfo:
        """Create the instance's macvlan (``use_vmac``) and return it."""
        from vipkeeper.io.vmac import VMAC_PREFIX, default_mac, pick_name

        gd = self.config.global_defs
        name = inst.vmac_ifname or pick_name(inst.vrid, self._vmac_names(), inst.family, gd.vmac_prefix or VMAC_PREFIX)
        mac = inst.vmac_mac or default_mac(inst.vrid, inst.family)
        link = await self._make_vmac(
            nl,
            inst,
            base,
            name,
            mac,
            inst.family,
            ipv6=any(v.family != inst.family for v in inst.vips_excluded),
            # IPv6: adverts leave the macvlan from the instance's source (vrrp_vmac.c)
            link_local=src if isinstance(src, IPv6Address) and not inst.vmac_xmit_base else None,
        )
        log.info("(%s) VIPs on %s (MAC %s)%s", inst.name, name, mac.hex(":"),
                 ", adverts on " + base.ifname if inst.vmac_xmit_base else "")  # fmt: skip
        return link

    async def _address_vmacs(self, nl: Netlink, inst: VrrpInstance, vips: VipActions) -> None:
        """``use_vmac_addr`` and a VIP's ``use_vmac`` (keepalived vrrp.c vrrp_complete_instance):
        a VIP on another interface than the instance's, or of the other family, goes on a
        macvlan of its own on its interface (one per interface and family), and is announced
        from there with that macvlan's MAC."""
        from vipkeeper.io.vmac import VMAC_PREFIX, default_mac, pick_name

        gd = self.config.global_defs
        made: dict[tuple[str, int], LinkInfo] = {}
        for v in inst.vips + inst.vips_excluded:
            here = v.dev is None or v.dev == inst.interface
            if here and inst.use_vmac and v.family == inst.family:
                continue  # on the instance's own macvlan
            if not (v.use_vmac or (inst.use_vmac_addr and (not here or v.family != inst.family))):
                continue
            base_name = inst.interface if here or v.dev is None else v.dev
            link = made.get((base_name, v.family))
            if link is None:
                base = await nl.link_by_name(base_name)
                if base is None:
                    raise StartupError(f"{v.loc}: ({inst.name}) VIP {v.address}: interface {base_name} does not exist")
                prefix = gd.vmac_addr_prefix or gd.vmac_prefix or VMAC_PREFIX
                name = pick_name(inst.vrid, self._vmac_names(), v.family, prefix)
                mac = inst.vmac_mac or default_mac(inst.vrid, v.family)
                link = made[(base_name, v.family)] = await self._make_vmac(
                    nl, inst, base, name, mac, v.family, ipv6=v.family == 6, link_local=None
                )
                log.info("(%s) VIPs of %s IPv%d on %s (MAC %s)", inst.name, base_name, v.family, name, mac.hex(":"))
            vips.ifindex_for[v.address] = link.ifindex
            vips.l2_for[v.address.ip] = (self._l2_sender(link), link.mac)

    async def _make_vmac(
        self,
        nl: Netlink,
        inst: VrrpInstance,
        base: LinkInfo,
        name: str,
        mac: bytes,
        family: int,
        *,
        ipv6: bool,
        link_local: IPv6Address | None,
    ) -> LinkInfo:
        from vipkeeper.io.vmac import Vmacs

        if self._vmacs is None:
            self._vmacs = Vmacs()
        try:
            await self._vmacs.create(
                name,
                base_ifindex=base.ifindex,
                base_ifname=base.ifname,
                mac=mac,
                family=family,
                ipv6=ipv6,
                link_local=link_local,
            )
        except OSError as exc:
            raise StartupError(f"{inst.loc}: ({inst.name}) use_vmac: {exc}") from None
        self._vmac_of.setdefault(inst.name, []).append(name)
        link = await nl.link_by_name(name)
        if link is None:
            raise StartupError(f"{inst.loc}: ({inst.name}) use_vmac: {name} vanished")
        return link

    def _vmac_names(self) -> list[str]:
        return [n for names in self._vmac_of.values() for n in names]

    def _l2_sender(self, link: LinkInfo) -> L2Sender:
        l2 = self._l2.get(link.ifindex)
        if l2 is None:
            l2 = L2Sender(ifname=link.ifname, ifindex=link.ifindex)
            l2.open()
            self._l2[link.ifindex] = l2
        return l2

    def _is_master(self, name: str) -> bool:
        return name in self.node and self.node.router(name).state is State.MASTER

    def _group_cfg(self, name: str) -> VrrpSyncGroup | None:
        return next((g for g in self.config.sync_groups if name in g.members), None)

    def _socket_for(self, link: LinkInfo, family: int, group: IPAddress | None, ah: bool = False) -> VrrpSocket:
        key = (link.ifindex, family)
        sock = self._sockets.get(key)
        if sock is None:
            sock = VrrpSocket(
                family=family,
                ifname=link.ifname,
                ifindex=link.ifindex,
                on_packet=self._on_packet,
                on_batch_end=self._rearm,
            )
            sock.open()
            self._sockets[key] = sock
        if ah:  # auth_type AH: IP protocol 51 too (io.vrrp_socket)
            sock.enable_ah()
        if group is not None:
            sock.join(group)
        return sock

    async def _source_address(self, nl: Netlink, inst: VrrpInstance, link: LinkInfo) -> IPAddress:
        if inst.unicast_src_ip is not None:
            return inst.unicast_src_ip
        if inst.mcast_src_ip is not None:
            return inst.mcast_src_ip
        addr = await nl.primary_address(link.ifindex, inst.family)
        if addr is None:
            raise StartupError(
                f"{inst.loc}: ({inst.name}) {inst.interface} has no IPv{inst.family} address to send from"
            )
        return addr

    # ------------------------------------------------------------ inputs

    def _run(self, effects: list[Effect]) -> None:
        """Carry out effects, then wake the node when it next needs it."""
        if effects:
            self.effects.run(effects)
        if self._scheduler is not None:
            self._scheduler.arm(self.node.next_deadline())

    def _on_packet(self, pkt: Received) -> None:
        """Hot path: the socket's callback for every packet it got.  The timer is re-armed once
        per wake-up, after the socket's last packet (:meth:`_rearm`), not per packet."""
        effects = self.node.receive(pkt, now_us())
        if effects:
            self.effects.run(effects)

    def _rearm(self) -> None:
        if self._scheduler is not None:
            self._scheduler.arm(self.node.next_deadline())

    def _on_timer(self) -> None:
        now = now_us()
        # auth_hmac timestamps are UTC: follow clock steps at every tick (at least one per
        # advert interval), as keepalived reads CLOCK_REALTIME per advert.
        self.node.wall_offset_us = time.time_ns() // 1000 - now
        self._run(self.node.on_timer(now))

    def _on_verdict(self, name: str, verdict: TrackingChanged) -> None:
        if name in self.node:
            self._run(self.node.set_tracking(name, verdict, now_us()))

    async def _link_watch(self, nl: Netlink) -> None:
        async for ev in nl.link_events():
            self.trackers.set_interface(ev.ifname, None if ev.deleted else ev.up)
            self._run(self.node.set_link(ev.ifindex, ev.up, now_us()))

    async def _addr_watch(self, nl: Netlink) -> None:
        async for ev in nl.addr_events():
            # Cheap filters first: a master taking over 200 VIPs sees 200 new addresses, and
            # releasing them 200 deleted ones; only a source leaving, or an address arriving
            # while an instance has none, matters.
            if ev.deleted:
                self._vip_deleted(ev)
            if not ev.deleted and not self._source_gone:
                continue
            for name in [n for n, link in self._links.items() if link.ifindex == ev.ifindex]:
                if (self.node.link(name).src == ev.ip) if ev.deleted else (name in self._source_gone):
                    await self._check_source(nl, name, ev)

    def _vip_deleted(self, ev: AddrEvent) -> None:
        """keepalived keepalived_netlink.c netlink_if_address_filter: one of a MASTER's VIPs
        deleted from the host by someone else sends it to BACKUP (it takes the VIPs back after
        Master_Down_Interval if it is still the highest), unless the VIP has ``no_track``.  The
        daemon's own deletions come after the instance has left MASTER (or the VIP has left the
        configuration), so they never count."""
        for name, inst in self.instances.items():
            vips = self.vips.get(name)
            if vips is None or not vips.held or not self._is_master(name):
                continue
            for v in inst.vips + inst.vips_excluded:
                if v.address.ip == ev.ip and not v.no_track:
                    what = f"virtual address {v.address}"
                    log.warning("(%s) %s was deleted from the host", name, what)
                    self._run(self.node.host_entry_lost(name, what, now_us()))
                    break

    async def _check_source(self, nl: Netlink, name: str, ev: AddrEvent | None) -> None:
        """Follow the instance's source address as keepalived does (keepalived_netlink.c
        netlink_if_address_filter, 2.2.7; keepalived.conf(5) track_src_ip):

        * a configured source (unicast_src_ip / mcast_src_ip) is followed only with
          ``track_src_ip``: FAULT while it is not on the interface;
        * a source taken from the interface: when it leaves, another address of the interface
          takes its place, and with none left the instance is in FAULT until one comes.
        """
        inst, link = self.instances.get(name), self._links.get(name)
        if inst is None or link is None or (ev is not None and ev.ip.version != inst.family):
            return
        gone = name in self._source_gone
        src = self.node.link(name).src
        configured = inst.unicast_src_ip or inst.mcast_src_ip
        new: IPAddress | None
        if configured is not None:
            if not getattr(inst, "track_src_ip", False):  # the keyword (a "wire" branch) enables it
                return
            if ev is None:
                present = any(a.ip == configured for a in await nl.addresses(link.ifindex, inst.family))
            elif ev.ip == configured:
                present = not ev.deleted
            else:
                return
            new = configured if present else None
        else:
            if ev is None or (ev.deleted and (gone or ev.ip != src)) or (not ev.deleted and not gone):
                return  # only our source leaving, or an address arriving while we have none, matters
            ours = {v.address.ip for i in self.instances.values() for v in i.vips + i.vips_excluded}
            new = await nl.primary_address(link.ifindex, inst.family, exclude=ours)
        if (new is None) == gone and (new is None or new == src):
            return
        if new is None:
            log.warning("(%s) source address %s removed from %s", name, src, link.ifname)
            self._source_gone.add(name)
        else:
            log.info("(%s) source address %s on %s%s", name, new, link.ifname, " again" if new == src else "")
            self._source_gone.discard(name)
        self._run(self.node.set_source(name, new, now_us()))

    # ------------------------------------------------------------ reload

    async def _reload(self) -> tuple[bool, list[str]]:
        """On any error the running configuration stays (see ``daemon.reload``)."""
        from vipkeeper.config.load import parse_file

        path = self.config.path
        sd_notify("RELOADING=1")
        try:
            new, diagnostics = parse_file(path, config_id=self.config_id)
        except OSError as exc:
            log.error("reload: cannot read %s: %s; keeping the running configuration", path, exc)
            sd_notify("READY=1")
            return False, [str(exc)]
        errors = [str(d) for d in diagnostics if d.stops_daemon]
        for d in diagnostics:
            (log.error if d.severity == "error" else log.warning)("reload: %s", d)
        if errors or not new.instances:
            log.error("reload: %s has %d error(s); keeping the running configuration", path, len(errors))
            sd_notify("READY=1")
            return False, errors or ["no vrrp_instance"]
        if new.pgsql_checks:
            from vipkeeper.checks.pgsql import PsycopgMissing, import_psycopg

            try:
                import_psycopg()
            except PsycopgMissing as exc:
                log.error("reload: %s; keeping the running configuration", exc)
                sd_notify("READY=1")
                return False, [str(exc)]
        if needs_tls(new, self.metrics_listen):
            enable_asyncio_tls()  # started without ssl (lazy_ssl); the new config may use TLS
        plan = plan_reload(self.config, new, self.instances)
        await self._apply(plan, new)
        log.info("reloaded %s: %s", path, plan.summary())
        sd_notify("READY=1\nSTATUS=" + self.summary())
        return True, []

    async def _apply(self, plan: ReloadPlan, new: Config) -> None:
        assert self._nl is not None
        old = self.config
        self.config = new
        await self.hostnet.static(self._nl, old, new)
        self.trackers.build(new, plan.trackers_kept)
        self.trackers.start()
        self._setup_notifier(new)
        self.node.set_sync_groups(sync_groups(new))
        for name in plan.remove:
            await self._remove_instance(name)
        for old_name, inst in plan.keep:
            await self._reconfigure(old_name, inst, plan.vip_changes.get(inst.name))
        for inst in plan.add:
            await self._add_instance(self._nl, inst)
            now = now_us()
            link = self._links[inst.name]
            self._run(self.node.set_link(link.ifindex, link.up, now))
            self._run(self.node.set_tracking(inst.name, self.trackers.verdict(inst.name), now))
            self._run(self.node.start_router(inst.name, now))

    async def _reconfigure(
        self,
        old_name: str,
        inst: VrrpInstance,
        vip_change: tuple[tuple[VirtualAddress, ...], tuple[VirtualAddress, ...]] | None,
    ) -> None:
        assert self._nl is not None
        link = self._links.pop(old_name)
        vips = self.vips.pop(old_name)
        del self.instances[old_name]
        self.trackers.forget(old_name)
        self.instances[inst.name] = inst
        self._links[inst.name] = link
        self.vips[inst.name] = vips
        src = await self._source_address(self._nl, inst, link)
        params = router_params(inst, self.config.global_defs)
        self._socket_for(link, inst.family, None if params.unicast else params.group, params.auth_type == AUTH_AH)
        await self.trackers.wire(self._nl, inst, self._group_cfg(inst.name))
        if vip_change is not None and vips.held:
            vips.put(VipDiff(*vip_change))  # before the node's announcement of the new VIPs
        vips.name = inst.name
        vips.vips = inst.vips + inst.vips_excluded
        _set_intervals(vips, inst)
        old_host = vips.host
        vips.host = await self.hostnet.changes_for(inst)
        changed = (old_host.routes, old_host.rules) != (inst.virtual_routes, inst.virtual_rules)
        if vips.held and (changed or (old_host.firewall is None) != (vips.host.firewall is None)):
            vips.put(HostDiff(old_host.routes, old_host.rules, old_host.firewall))
        now = now_us()
        self._run(self.node.reconfigure(old_name, params, RouterLink(link.ifindex, src, link.mac), now))
        if old_name in self._source_gone:  # the reload found a source: leave that FAULT
            self._source_gone.discard(old_name)
            self._run(self.node.set_source(inst.name, src, now))
        await self._check_source(self._nl, inst.name, None)
        self._run(self.node.set_tracking(inst.name, self.trackers.verdict(inst.name), now))

    async def _remove_instance(self, name: str) -> None:
        log.info("(%s) removed from the configuration", name)
        self.effects.deleting.add(name)
        try:
            self._run(self.node.remove_router(name, now_us()))
        finally:
            self.effects.deleting.discard(name)
        vips = self.vips.pop(name)
        await vips.join(RELEASE_TIMEOUT_S)
        vips.stop()
        self.instances.pop(name, None)
        self._links.pop(name, None)
        self._source_gone.discard(name)
        self.trackers.forget(name)
        for vmac in self._vmac_of.pop(name, []):
            if self._vmacs is not None:
                ifindex = self._vmacs.ifindex(vmac)
                for key in [k for k in self._sockets if k[0] == ifindex]:  # its sockets go with it
                    self._sockets.pop(key).close()
                l2 = self._l2.pop(ifindex, None) if ifindex is not None else None
                if l2 is not None:
                    l2.close()
                await self._vmacs.delete(vmac)

    # ------------------------------------------------------------ status

    def summary(self) -> str:
        return status_mod.summary([str(r.state) for r in self.node.routers()])

    def snapshot(self) -> status_mod.Snapshot:
        socks = list(self._sockets.values())
        ip_errors: dict[str, int] = {}
        for s in socks:
            for reason, n in s.ip_errors.items():
                ip_errors[reason] = ip_errors.get(reason, 0) + n
        views = []
        for name, inst in self.instances.items():
            router = self.node.router(name)
            views.append(
                status_mod.InstanceView(
                    cfg=inst,
                    router=router,
                    source=self.node.link(name).src,
                    destinations=router.params.destinations,
                    vips_held=self.vips[name].held,
                    garps_sent=self.vips[name].garps_sent,
                    tracked=self.trackers.tracked.get(name, []),
                )
            )
        return status_mod.Snapshot(
            config_path=self.config.path,
            uptime_s=time.monotonic() - self.started_monotonic,
            now_us=now_us(),
            now_mono=time.monotonic(),
            instances=views,
            unknown_vrid=self.node.unknown_vrid,
            decode_errors=dict(self.node.decode_errors),
            received=sum(s.received for s in socks),
            recv_errors=sum(s.recv_errors for s in socks),
            ip_errors=ip_errors,
        )

    def status(self) -> dict[str, Any]:
        return status_mod.daemon_status(self.snapshot())

    def _dump_status(self) -> None:
        try:
            path = write_status_file(self.status(), self.state_dir)
            log.info("status written to %s", path)
        except OSError as exc:
            log.error("cannot write status file: %s", exc)


def _set_intervals(vips: VipActions, inst: VrrpInstance) -> None:
    vips.garp_interval_s = inst.garp_interval_us / 1e6
    vips.gna_interval_s = inst.gna_interval_us / 1e6


def _has_notify(n: Notify) -> bool:
    return any((n.master, n.backup, n.fault, n.stop, n.any, n.master_rx_lower_pri, n.deleted))


async def run_daemon(
    config: Config, state_dir: Path, config_id: str | None = None, metrics_listen: str | None = None
) -> int:
    d = Daemon(config, state_dir=state_dir, config_id=config_id, metrics_listen=metrics_listen)
    try:
        return await d.run()
    except StartupError as exc:
        log.error("%s", exc)
        return 1
