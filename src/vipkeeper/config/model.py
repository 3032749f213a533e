"""The configuration model: frozen dataclasses, with units in field names.

This module is pure: the parser (``config.load``, ``config.build``) builds these objects from
keepalived.conf, and the core and the daemon read them.  Defaults follow
keepalived 2.2.7 (``keepalived.conf(5)`` and ``vrrp_parser.c``/``vrrp.c``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

Family = Literal[4, 6]
InitialState = Literal["MASTER", "BACKUP"]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a block or a keyword was read: file and 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NOWHERE = Location("<default>", 0)


@dataclass(frozen=True, slots=True)
class GlobalDefs:
    router_id: str | None = None
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    vrrp_version: int = 2
    # Gratuitous ARP / NA after becoming MASTER (keepalived defaults).
    vrrp_garp_master_delay_s: int = 5
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh_s: int = 0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_interval_us: int = 0
    vrrp_gna_interval_us: int = 0
    vrrp_garp_lower_prio_delay_s: int | None = None
    vrrp_garp_lower_prio_repeat: int | None = None
    vrrp_lower_prio_no_advert: bool = False
    vrrp_higher_prio_send_advert: bool = False
    vrrp_mcast_group4: ipaddress.IPv4Address = ipaddress.IPv4Address("224.0.0.18")
    vrrp_mcast_group6: ipaddress.IPv6Address = ipaddress.IPv6Address("ff02::12")
    notify_fifo: str | None = None
    notify_fifo_script: str | None = None
    vrrp_notify_fifo: str | None = None
    vrrp_notify_fifo_script: str | None = None
    vrrp_notify_priority_changes: bool = False
    vrrp_strict: bool = False
    vrrp_check_unicast_src: bool = False
    vrrp_skip_check_adv_addr: bool = False
    vrrp_rt_priority: int | None = None
    vrrp_priority: int | None = None
    vrrp_rlimit_rttime_us: int | None = None  # RLIMIT_RTTIME with vrrp_rt_priority (daemon/priority.py)
    metrics_listen: str | None = None
    vrrp_startup_delay_us: int = 0
    vrrp_delay_after_boot_us: int = 0  # keepalived 2.4: since boot, not since start
    v3_checksum_as_v2: bool = False
    vrrp_owner_ignore_adverts: bool = False
    vmac_prefix: str | None = None  # keepalived: names of the instances' macvlans (default "vrrp")
    vmac_addr_prefix: str | None = None  # ... of the VIPs' macvlans (default vmac_prefix)
    loc: Location = NOWHERE
    vrrp_garp_extra_if_s: int = 0  # ``vrrp_garp_extra_if [all] SECONDS``: the instances' default
    vrrp_garp_extra_if_all: bool = False

    def startup_delay_us(self, uptime_us: int) -> int:
        """How long the VRRP instances wait at start (keepalived global_parser.c: the longer of
        vrrp_startup_delay and what is left of vrrp_delay_after_boot)."""
        return max(self.vrrp_startup_delay_us, self.vrrp_delay_after_boot_us - uptime_us, 0)


@dataclass(frozen=True, slots=True)
class VrrpScript:
    """``vrrp_script NAME { ... }``."""

    name: str
    script: str
    interval_s: float = 1.0
    timeout_s: float | None = None  # None: keepalived uses the interval
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    user: str | None = None
    group: str | None = None
    init_fail: bool = False
    loc: Location = NOWHERE

    @property
    def effective_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else self.interval_s


@dataclass(frozen=True, slots=True)
class VrrpTrackFile:
    """``vrrp_track_file NAME { file PATH; weight N [reverse]; init_file [VALUE] [overwrite] }``."""

    name: str
    file: str
    weight: int = 1
    weight_reverse: bool = False
    init_file: bool = False
    init_value: int = 0
    init_overwrite: bool = False
    loc: Location = NOWHERE


ParamMatch = Literal["none", "exact", "partial", "initial"]


@dataclass(frozen=True, slots=True)
class VrrpTrackProcess:
    """``vrrp_track_process NAME { ... }`` (keepalived vrrp_parser.c, core/track_process.c).

    ``process`` is compared with ``/proc/PID/comm`` (at most 15 characters), or with the
    command line's first word when ``full_command`` is set; ``params`` and ``param_match``
    compare the rest of the command line.  OK while ``quorum`` <= matching processes <=
    ``quorum_max``.  keepalived's default weight is 0 (vrrp_data.c alloc_vrrp_process).
    """

    name: str
    process: str
    params: tuple[str, ...] = ()
    param_match: ParamMatch = "none"
    full_command: bool = False
    weight: int = 0
    weight_reverse: bool = False
    quorum: int = 1
    quorum_max: int = 2**32 - 1
    fork_delay_us: int = 0
    terminate_delay_us: int = 0
    loc: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class VrrpPgsql:
    """``vrrp_pgsql NAME { ... }``: vipkeeper's native PostgreSQL primary check."""

    name: str
    conninfo: str
    interval_s: float = 1.0
    timeout_s: float = 1.0
    rise: int = 1
    fall: int = 1
    weight: int = 0
    weight_reverse: bool = False
    peer_conninfo: tuple[str, ...] = ()
    data_directory: str | None = None
    loc: Location = NOWHERE


DcsMode = Literal["follow", "lock"]


@dataclass(frozen=True, slots=True)
class VrrpDcs:
    """``vrrp_dcs NAME { ... }``: an etcd v3 key decides (see docs/vrrp_dcs.md).

    ``mode`` "follow": pass while ``key`` holds ``value``; "lock": hold ``key`` (written with
    ``value``) bound to a lease of ``ttl_s`` while every other tracker of the instance passes.
    ``value`` None means the host name (resolved by the tracker).
    """

    name: str
    endpoints: tuple[str, ...]
    mode: DcsMode
    key: str
    value: str | None = None
    ttl_s: int = 6
    interval_s: float = 1.0
    timeout_s: float = 1.0
    weight: int = 0
    weight_reverse: bool = False
    cacert: str | None = None
    cert: str | None = None
    tls_key: str | None = None
    user: str | None = None
    password: str | None = None
    loc: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class TrackRef:
    """One entry of track_script / track_interface / track_file.

    ``weight`` is None when the entry does not override the tracked object's own.
    """

    name: str
    weight: int | None = None
    weight_reverse: bool = False
    loc: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class VirtualAddress:
    """One line of ``virtual_ipaddress``: ``ADDR[/PREFIX] [dev IF] [brd B] [scope S] [label L]``."""

    address: IPInterface
    dev: str | None = None
    brd: ipaddress.IPv4Address | None = None
    scope: str | None = None
    label: str | None = None
    use_vmac: bool = False  # ``use_vmac``: on a macvlan of its own on its interface (keepalived vrrp.c)
    loc: Location = NOWHERE
    # ``no_track``: a deleted VIP does not send its MASTER to BACKUP, a deleted static address
    # is not put back (keepalived keepalived_netlink.c)
    no_track: bool = False
    # keepalived vrrp_ipaddress.c options, as ``ip addr add`` takes them: ``peer P`` (a
    # point-to-point address; the prefix is P's), ``home``, ``-nodad`` (IPv6 DAD stays on),
    # ``mngtmpaddr``, ``noprefixroute``, ``autojoin``, ``preferred_lft N|forever`` (IPv6; None:
    # forever; keepalived's default is 0, deprecated, for a /128 and forever otherwise)
    peer: IPAddress | None = None
    home: bool = False
    nodad: bool = True
    mngtmpaddr: bool = False
    noprefixroute: bool = False
    autojoin: bool = False
    preferred_lft_s: int | None = None

    @property
    def family(self) -> Family:
        return 4 if self.address.version == 4 else 6


RouteType = Literal["unicast", "blackhole", "unreachable", "prohibit", "throw"]
RuleAction = Literal["table", "blackhole", "unreachable", "prohibit", "goto", "nop"]

#: keepalived's own route/rule protocol number (RTPROT_KEEPALIVED, keepalived vrrp_iproute.h)
RTPROT_KEEPALIVED = 18


@dataclass(frozen=True, slots=True)
class Route:
    """One line of ``virtual_routes`` / ``static_routes`` (keepalived vrrp_iproute.c ``alloc_route``).

    ``dst`` None is the default route of ``family``.  ``nexthops`` holds the ``via`` and ``or``
    gateways of keepalived's deprecated ``or`` (a multipath route); else ``via`` is the gateway.
    """

    family: Family
    dst: IPInterface | None
    type: RouteType = "unicast"
    src: IPAddress | None = None
    via: IPAddress | None = None
    nexthops: tuple[IPAddress, ...] = ()
    dev: str | None = None
    scope: int | None = None
    table: int = 254  # RT_TABLE_MAIN
    metric: int | None = None
    protocol: int | None = RTPROT_KEEPALIVED
    tos: int | None = None
    onlink: bool = False
    no_track: bool = False
    loc: Location = NOWHERE

    def __str__(self) -> str:
        dst = str(self.dst) if self.dst is not None else "default"
        parts = [dst] if self.type == "unicast" else [self.type, dst]
        if self.via is not None:
            parts += ["via", str(self.via)]
        for gw in self.nexthops:
            parts += ["nexthop via", str(gw)]
        if self.dev:
            parts += ["dev", self.dev]
        if self.table != 254:
            parts += ["table", str(self.table)]
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of ``virtual_rules`` / ``static_rules`` (keepalived vrrp_iprule.c ``alloc_rule``).

    ``priority`` is always set: keepalived gives a rule without one the next of 16384, 16383, ...
    """

    family: Family
    action: RuleAction
    priority: int
    src: IPInterface | None = None  # ``from``
    dst: IPInterface | None = None  # ``to``
    table: int | None = None
    goto_target: int | None = None
    invert: bool = False  # ``not``
    tos: int | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    iif: str | None = None
    oif: str | None = None
    protocol: int | None = RTPROT_KEEPALIVED
    no_track: bool = False
    loc: Location = NOWHERE

    def __str__(self) -> str:
        parts = ["not"] if self.invert else []
        parts += ["from", str(self.src) if self.src is not None else "all"]
        if self.dst is not None:
            parts += ["to", str(self.dst)]
        if self.fwmark is not None:
            parts += ["fwmark", hex(self.fwmark) + (f"/{self.fwmask:#x}" if self.fwmask is not None else "")]
        if self.iif:
            parts += ["iif", self.iif]
        if self.oif:
            parts += ["oif", self.oif]
        if self.action == "table":
            parts += ["lookup", str(self.table)]
        else:
            parts += [self.action] + ([str(self.goto_target)] if self.action == "goto" else [])
        return f"{self.priority}: " + " ".join(parts)


@dataclass(frozen=True, slots=True)
class Authentication:
    auth_type: Literal["PASS", "AH"]
    auth_pass: bytes  # at most 8 bytes, as sent on the wire (keepalived truncates)
    loc: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class AuthHmac:
    """keepalived 2.4 ``auth_hmac { ... }`` (core.auth_hmac)."""

    keys: tuple[tuple[int, bytes], ...] = field(repr=False)  # (id, 32..64 bytes): secrets
    active_key: int
    mode: Literal["receive-only", "permissive", "enforce"] = "enforce"
    anti_replay_time: bool = True
    time_window_s: int = 5  # completed: keepalived's default is max(3 x advert_int, 5)
    loc: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class Notify:
    """The notify scripts of an instance or a sync group."""

    master: str | None = None
    backup: str | None = None
    fault: str | None = None
    stop: str | None = None
    any: str | None = None  # ``notify``: called as ``SCRIPT INSTANCE|GROUP NAME STATE PRIO``
    master_rx_lower_pri: str | None = None  # ``notify_master_rx_lower_pri`` (instances)
    # ``notify_deleted [SCRIPT]`` (instances): an instance a reload deletes is notified as
    # DELETED (and SCRIPT runs), not as FAULT (keepalived vrrp.c, vrrp_notify.c)
    notify_deleted: bool = False
    deleted: str | None = None
    # ``notify_priority_changes`` (instance, else its sync group, else global
    # ``vrrp_notify_priority_changes``): FIFO lines for effective priority changes; None: not set
    priority_changes: bool | None = None


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    """``vrrp_instance NAME { ... }`` after keepalived's completion rules."""

    name: str
    interface: str
    vrid: int
    priority: int
    initial_state: InitialState
    version: int
    family: Family
    advert_int_cs: int = 100
    nopreempt: bool = False
    preempt_delay_s: float = 0.0
    unicast_src_ip: IPAddress | None = None
    mcast_src_ip: IPAddress | None = None
    unicast_peers: tuple[IPAddress, ...] = ()
    auth: Authentication | None = None
    auth_hmac: AuthHmac | None = None
    vips: tuple[VirtualAddress, ...] = ()
    vips_excluded: tuple[VirtualAddress, ...] = ()
    track_scripts: tuple[TrackRef, ...] = ()
    track_interfaces: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_processes: tuple[TrackRef, ...] = ()
    notify: Notify = field(default_factory=Notify)
    garp_master_delay_s: int = 5
    garp_master_repeat: int = 5
    garp_master_refresh_s: int = 0
    garp_master_refresh_repeat: int = 1
    garp_interval_us: int = 0
    gna_interval_us: int = 0
    garp_lower_prio_delay_s: int | None = None
    garp_lower_prio_repeat: int | None = None
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    v3_checksum_as_v2: bool = False
    owner_ignore_adverts: bool = False  # keepalived 2.3.3: an address owner drops every advert
    # VRRPv3 IPv4 unicast checksum pseudo-header destination (keepalived 2.2.7 unicast_chksum_compat):
    # "auto": the peer's address, switching to 224.0.0.18 for good once a peer sends that
    # (keepalived's default); "never": the peer's address only; "always": 224.0.0.18
    # (``old_unicast_checksum``, keepalived <= 1.3.6).
    old_unicast_checksum: Literal["auto", "never", "always"] = "auto"
    check_unicast_src: bool = False
    strict: bool = False
    fast_preempt: bool = False  # vipkeeper extension
    dont_track_primary: bool = False  # the interface's link state does not FAULT the instance
    # ``unicast_fault_no_peer`` given and no unicast_peer: the instance stays in FAULT
    # (keepalived vrrp.c: "Cannot use unicast without any peers - going to fault state").
    fault_no_peer: bool = False
    # ``use_vmac [IFNAME] [MAC]`` (keepalived vrrp_vmac.c): a private-mode macvlan on
    # ``interface`` holds the VIPs and sends from ``vmac_mac`` (default 00:00:5e:00:01:VRID,
    # 00:00:5e:00:02:VRID for IPv6); ``vmac_ifname`` None: the daemon picks ``vrrp.VRID``.
    use_vmac: bool = False
    vmac_ifname: str | None = None
    vmac_mac: bytes | None = None
    vmac_xmit_base: bool = False  # adverts sent and received on ``interface``, not the macvlan
    # ``use_vmac_addr``: a VIP on another interface, or of the other family, goes on a macvlan
    # of its own there (keepalived vrrp.c vrrp_complete_instance), as a VIP with ``use_vmac``
    use_vmac_addr: bool = False
    loc: Location = NOWHERE
    mcast_dst_ip: IPAddress | None = None  # None: global_defs vrrp_mcast_group4/6
    unicast_ttl: int = 255  # TTL / hop limit of unicast adverts
    skip_check_adv_addr: bool = False  # (vrrp_)skip_check_adv_addr
    peer_ttl: tuple[tuple[IPAddress, int, int], ...] = ()  # unicast_peer ADDR min_ttl N max_ttl M
    # Host changes (keepalived vrrp.c vrrp_state_become_master / vrrp_restore_interface):
    # routes and rules added after the VIPs, removed before them.
    virtual_routes: tuple[Route, ...] = ()
    virtual_rules: tuple[Rule, ...] = ()
    # keepalived: accept mode defaults to on, off in strict mode; an address owner always accepts.
    # Off: while MASTER, traffic to the VIPs is dropped (nftables, see io/nftables.py).
    accept: bool = True
    promote_secondaries: bool = False
    # ``garp_extra_if [all] SECONDS``: periodic gratuitous ARP/NA on the VIPs' other interfaces.
    garp_extra_if_s: int = 0
    garp_extra_if_all: bool = False
    track_src_ip: bool = False  # FAULT while the configured unicast_src_ip / mcast_src_ip is missing

    @property
    def unicast(self) -> bool:
        return bool(self.unicast_peers)


@dataclass(frozen=True, slots=True)
class VrrpSyncGroup:
    name: str
    members: tuple[str, ...]
    notify: Notify = field(default_factory=Notify)
    track_scripts: tuple[TrackRef, ...] = ()
    track_interfaces: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_processes: tuple[TrackRef, ...] = ()
    tracking_weight: bool = False  # sync_group_tracking_weight: members keep their weights
    loc: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class Config:
    """A whole parsed configuration."""

    path: str
    global_defs: GlobalDefs = field(default_factory=GlobalDefs)
    scripts: dict[str, VrrpScript] = field(default_factory=dict)
    pgsql_checks: dict[str, VrrpPgsql] = field(default_factory=dict)
    dcs_checks: dict[str, VrrpDcs] = field(default_factory=dict)
    track_files: dict[str, VrrpTrackFile] = field(default_factory=dict)
    track_processes: dict[str, VrrpTrackProcess] = field(default_factory=dict)
    instances: tuple[VrrpInstance, ...] = ()
    sync_groups: tuple[VrrpSyncGroup, ...] = ()
    # Top-level static_ipaddress / static_routes / static_rules: installed at start whatever
    # the VRRP state, removed at stop (keepalived vrrp_daemon.c start_vrrp / vrrp_terminate_phase2).
    static_addresses: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[Route, ...] = ()
    static_rules: tuple[Rule, ...] = ()
