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
    vrrp_strict: bool = False
    vrrp_check_unicast_src: bool = False
    vrrp_skip_check_adv_addr: bool = False
    vrrp_rt_priority: int | None = None
    vrrp_priority: int | None = None
    vrrp_rlimit_rttime_us: int | None = None  # RLIMIT_RTTIME with vrrp_rt_priority (daemon/priority.py)
    metrics_listen: str | None = None
    loc: Location = NOWHERE


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
    loc: Location = NOWHERE

    @property
    def family(self) -> Family:
        return 4 if self.address.version == 4 else 6


@dataclass(frozen=True, slots=True)
class Authentication:
    auth_type: Literal["PASS", "AH"]
    auth_pass: bytes  # at most 8 bytes, as sent on the wire (keepalived truncates)
    loc: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class Notify:
    """The notify scripts of an instance or a sync group."""

    master: str | None = None
    backup: str | None = None
    fault: str | None = None
    stop: str | None = None
    any: str | None = None  # ``notify``: called as ``SCRIPT INSTANCE|GROUP NAME STATE PRIO``


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
    vips: tuple[VirtualAddress, ...] = ()
    vips_excluded: tuple[VirtualAddress, ...] = ()
    track_scripts: tuple[TrackRef, ...] = ()
    track_interfaces: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
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
    # VRRPv3 IPv4 unicast checksum pseudo-header destination (keepalived 2.2.7 unicast_chksum_compat):
    # "auto": the peer's address, switching to 224.0.0.18 for good once a peer sends that
    # (keepalived's default); "never": the peer's address only; "always": 224.0.0.18
    # (``old_unicast_checksum``, keepalived <= 1.3.6).
    old_unicast_checksum: Literal["auto", "never", "always"] = "auto"
    check_unicast_src: bool = False
    strict: bool = False
    fast_preempt: bool = False  # vipkeeper extension
    loc: Location = NOWHERE

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
    instances: tuple[VrrpInstance, ...] = ()
    sync_groups: tuple[VrrpSyncGroup, ...] = ()
