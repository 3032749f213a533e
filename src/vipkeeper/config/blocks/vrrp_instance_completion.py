"""A ``vrrp_instance`` draft into a :class:`VrrpInstance`: keepalived 2.2.7's completion
rules (``vrrp_complete_instance`` in ``keepalived/vrrp/vrrp.c``)."""

from __future__ import annotations

from typing import Any

from vipkeeper.config.blocks.auth_hmac import complete_auth_hmac
from vipkeeper.config.blocks.shared import notify_of
from vipkeeper.config.constants import (
    DEFAULT_MTU,
    MAX_VIPS,
    US_PER_CS,
    US_PER_S,
    VRRP_ADVER_DFL_US,
    VRRP_DOWN_TIMER_ADVERTS,
    VRRP_PRIO_DFL,
    VRRP_PRIO_OWNER,
)
from vipkeeper.config.keywords import Ctx, Draft
from vipkeeper.config.lexer import Token
from vipkeeper.config.model import Authentication, GlobalDefs, IPAddress, TrackRef, VirtualAddress, VrrpInstance
from vipkeeper.config.references import Trackables, expected, ignore_weights, interface_refs, resolve_refs
from vipkeeper.config.tree import Node


def pass_trap_message(mode: str) -> str:
    """The warning for ``authentication`` beside ``auth_hmac`` (``check`` and ``explain``)."""
    return (
        f"auth_hmac (mode {mode}) with authentication: keepalived 2.4.3 drops the legacy auth "
        "('auth_hmac cannot be combined with authentication, dropping legacy auth') in every mode "
        "and sends auth type 0, which its PASS peers reject: a PASS cluster rolled over to "
        "receive-only splits into two masters.  vipkeeper keeps sending PASS until mode enforce and "
        "accepts auth type 0 with a verified trailer, so vipkeeper-only clusters roll over without "
        "a split; with keepalived 2.4 peers, remove 'authentication' everywhere first"
    )


def _round_to(value_us: int, unit_us: int) -> int:
    """keepalived's rounding of advert intervals: to the nearest unit, halves up, at least 1 unit."""
    rounded = (value_us + unit_us // 2) // unit_us * unit_us
    return rounded or unit_us


class InstanceCompletion:
    """keepalived's ``vrrp_complete_instance`` (vrrp/vrrp.c, v2.2.7 lines ~2829-3290).

    Each step is a method, called in keepalived's order (later steps depend on the version,
    state and priority settled by earlier ones).  ``ok`` turns false on any error.
    """

    def __init__(self, d: Draft, g: GlobalDefs, gd: Draft, t: Trackables, ctx: Ctx) -> None:
        assert d.node is not None
        self.d, self.g, self.gd, self.t, self.ctx = d, g, gd, t, ctx
        self.v = d.values
        self.node: Node = d.node
        self.me = f"vrrp_instance {d.name}"
        self.ok = True
        self.strict: bool = self.v.get("strict", g.vrrp_strict)

    # -- helpers --

    def at(self, key: str) -> Node:
        """The node that set ``key``, else the instance's own line."""
        return self.d.nodes.get(key, self.node)

    def error(self, key: str, message: str) -> None:
        self.ctx.error(self.at(key), f"{self.me}: {message}")
        self.ok = False

    def warning(self, key: str, message: str) -> None:
        self.ctx.warning(self.at(key), f"{self.me}: {message}")

    def failed(self, keyword: str) -> bool:
        """True when ``keyword`` had a bad value (already reported: do not cascade)."""
        if keyword in self.d.failed:
            self.ok = False
            return True
        return False

    # -- steps --

    def family_and_version(self) -> tuple[int, int]:
        # The family is set by the instance's first address; without any it is IPv4.
        family = self.v.get("family") or 4
        if self.v.get("native_ipv6"):
            # keepalived vrrp_parser.c vrrp_native_ipv6_handler: the instance is IPv6 (VRRPv3);
            # IPv4 virtual addresses and native_ipv6 exclude each other
            if self.v.get("family") == 4:
                self.error("native_ipv6", "Cannot specify native_ipv6 with IPv4 addresses")
            else:
                family = 6
        # IPv6 needs VRRPv3.  keepalived refuses 'version 2' once an IPv6 address has been
        # read (vrrp_parser.c vrrp_version_handler) and, with an IPv6 family and no instance
        # 'version', uses 3 whatever global vrrp_version says (vrrp.c ~2863-2887); only a
        # non-strict 'version 2' written *before* the IPv6 addresses slips through there.
        # vipkeeper rejects 'version 2' with IPv6 in either order.
        version = self.v.get("version")
        if family == 6:
            if version == 2:
                self.error("version", "VRRP version 2 does not support IPv6 addresses; use 'version 3'")
            return family, 3
        return family, version if version is not None else self.g.vrrp_version

    def vips(self, family: int, version: int) -> tuple[list[VirtualAddress], list[VirtualAddress]]:
        vips: list[VirtualAddress] = list(self.v.get("vips", []))
        excluded: list[VirtualAddress] = list(self.v.get("vips_excluded", []))
        allow_none = bool(self.v.get("no_vips"))
        if allow_none and self.strict:
            # keepalived 2.4.3 vrrp_complete_instance
            self.warning("no_vips", "no_virtual_ipaddress and strict mode incompatible, clearing no_virtual_ipaddress")
            allow_none = False
        if not vips:
            if self.failed("virtual_ipaddress") or allow_none:
                pass  # keepalived 2.2.8 no_virtual_ipaddress: none is allowed, even with VRRPv3
            elif version == 3 or self.strict:
                self.error("", "no virtual_ipaddress; at least one is required")
            else:
                self.warning("", "no virtual_ipaddress; at least one is sensible")
        # At most as many addresses as fit in one advert (keepalived assumes a 1500 byte MTU
        # when it cannot ask the interface); the rest become excluded addresses.
        # keepalived 2.4 reserves room for a signing auth_hmac's trailer (vrrp.c).
        trailer = 28 if self.v.get("auth_hmac") and self.v.get("hmac_mode", "enforce") != "receive-only" else 0
        if family == 4:
            max_addr = min(MAX_VIPS, (DEFAULT_MTU - (14 + 20 + 8 + (8 if version == 2 else 0)) - trailer) // 4)
        else:
            max_addr = min(MAX_VIPS, (DEFAULT_MTU - (14 + 40 + 8) - trailer) // 16)
        if len(vips) > max_addr:
            self.warning(
                "vips", f"{len(vips)} virtual addresses do not fit in an advert (max {max_addr}); the rest are excluded"
            )
            excluded = vips[max_addr:] + excluded
            vips = vips[:max_addr]
        return vips, excluded

    def state_and_priority(self) -> tuple[str, int]:
        priority: int | None = self.v.get("priority")
        state: str | None = self.v.get("state")
        if priority is None:
            priority = VRRP_PRIO_OWNER if state == "MASTER" else VRRP_PRIO_DFL
        if state is None:
            state = "MASTER" if priority == VRRP_PRIO_OWNER else "BACKUP"
        elif self.strict and (state == "MASTER") != (priority == VRRP_PRIO_OWNER):
            state = "MASTER" if priority == VRRP_PRIO_OWNER else "BACKUP"
            self.warning(
                "state", f"strict mode: state MASTER must match being address owner (priority 255); using {state}"
            )
        return state, priority

    def authentication(self, family: int, version: int, state: str, priority: int) -> tuple[Authentication | None, str]:
        """The authentication to use, and the initial state."""
        if not self.v.get("authentication"):
            return None, state
        auth_type: str | None = self.v.get("auth_type")
        auth_pass: bytes = self.v.get("auth_pass", b"")
        if auth_type is None:
            if not self.failed("auth_type"):
                self.error("authentication", "authentication without 'auth_type'")
        elif self.strict:
            self.warning("authentication", "strict mode does not support authentication, ignored")
        elif version == 3:
            self.warning("authentication", "VRRP version 3 does not support authentication, ignored")
        elif not auth_pass or auth_pass[:1] == b"\0":
            if not self.failed("auth_pass"):
                self.error("authentication", "authentication given but no 'auth_pass'")
        elif family == 6 and auth_type == "AH":
            self.warning("authentication", "AH authentication cannot be used with IPv6, ignored")
        elif auth_type == "AH" and state == "MASTER" and priority != VRRP_PRIO_OWNER:
            # keepalived vrrp.c vrrp_complete_instance(): it must hear an advert (to learn the
            # AH sequence number) before taking over, so it clears the initial state MASTER.
            self.warning(
                "state", "initial state MASTER is incompatible with auth_type AH (unless priority 255); using BACKUP"
            )
            return Authentication("AH", auth_pass, loc=self.at("authentication").loc), "BACKUP"
        else:
            return Authentication(auth_type, auth_pass, loc=self.at("authentication").loc), state  # type: ignore[arg-type]
        return None, state

    def unicast(self) -> tuple[IPAddress, ...]:
        peers: tuple[IPAddress, ...] = tuple(self.v.get("unicast_peers", ()))
        if self.strict and peers:
            self.error("unicast_configured", "unicast peers are not supported in strict mode")
        if self.v.get("unicast_configured") and not peers and self.v.get("unicast_fault_no_peer"):
            pass  # FAULT for good (VrrpInstance.fault_no_peer), logged at start; keepalived -t is silent
        elif self.v.get("unicast_configured") and not peers and not self.failed("unicast_peer"):
            # keepalived 2.2.7: deprecated, "Defaulting to multicast"
            self.warning("unicast_configured", "a unicast keyword is given without any unicast_peer; using multicast")
        return peers

    def wire(self, peers: tuple[IPAddress, ...]) -> tuple[IPAddress | None, int, bool]:
        """``mcast_dst_ip``, ``unicast_ttl``, ``skip_check_adv_addr`` (keepalived vrrp.c
        vrrp_complete_instance, vrrp_parser.c end of instance, vrrp_data.c alloc_vrrp)."""
        group: IPAddress | None = self.v.get("mcast_dst_ip")
        if group is not None and peers:
            self.warning("mcast_dst_ip", "mcast_dst_ip is given with unicast peers; ignored")
            group = None
        ttl: int = self.v.get("unicast_ttl", 255)
        if "unicast_ttl" in self.v and not peers:
            # keepalived 2.2.7 "resets" its TTL to 0 there: its multicast adverts get TTL 0 and
            # the kernel drops them (ip_mc_output), so it sends nothing.  vipkeeper sends 255.
            self.warning(
                "unicast_ttl",
                "unicast_ttl needs unicast peers; ignored (keepalived 2.2.7 then sends its "
                "multicast adverts with TTL 0, which never leave the host)",
            )
            ttl = 255
        skip = bool(self.v.get("skip_check_adv_addr", self.g.vrrp_skip_check_adv_addr))
        return group, ttl, skip

    def vmac(self, family: int, vrid: int, peers: tuple[IPAddress, ...]) -> tuple[bytes | None, bool]:
        """``use_vmac``'s MAC and ``vmac_xmit_base`` (keepalived vrrp_parser.c vrrp_end_handler,
        vrrp.c vrrp_complete_instance)."""
        use, xmit_base = self.v.get("use_vmac", False), self.v.get("vmac_xmit_base", False)
        octets: tuple[int, ...] | None = self.v.get("vmac_mac")
        if xmit_base and not use:
            self.error("vmac_xmit_base", "vmac_xmit_base is only valid with use_vmac")
        for vip in self.v.get("vips", []) + self.v.get("vips_excluded", []):
            if not vip.use_vmac:
                continue
            if use and (vip.dev is None or vip.dev == self.v.get("interface")) and vip.family == family:
                why = "and for the instance"  # keepalived: a config error too
            elif self.v.get("use_vmac_addr"):
                why = "and use_vmac_addr for the instance"
            else:
                continue
            self.ctx.error(vip.loc, f"{self.me}: use_vmac given for VIP {vip.address.ip} {why}")
            self.ok = False
        if not use:
            return None, False
        if self.strict and octets is not None:
            self.error("vmac_mac", "a VMAC address cannot be given in strict mode")
        if self.strict and xmit_base:
            self.error("vmac_xmit_base", "vmac_xmit_base is incompatible with strict mode")
        if peers and not xmit_base:
            # keepalived: "unicast with use_vmac requires vmac_xmit_base - setting" (a config error)
            self.error("use_vmac", "unicast with use_vmac requires vmac_xmit_base")
        if octets is not None and len(octets) == 5:
            octets = (*octets, vrid)
        return (bytes(octets) if octets is not None else None), xmit_base

    def required(self) -> tuple[str, int]:
        interface: str | None = self.v.get("interface")
        if interface is None and not self.failed("interface"):
            # keepalived can do without one for unicast with unicast_src_ip; vipkeeper needs
            # it to place the virtual addresses.
            self.error("", "'interface' is required")
        vrid: int | None = self.v.get("vrid")
        if vrid is None and not self.failed("virtual_router_id"):
            self.error("", "'virtual_router_id' is required")
        self.ok = self.ok and interface is not None and vrid is not None
        return interface or "", vrid or 0

    def first_ipv6_vip(self, family: int, peers: tuple[IPAddress, ...], vips: list[VirtualAddress]) -> None:
        if family == 6 and not peers and vips and not vips[0].address.ip.is_link_local:
            if self.strict:
                self.error("vips", "strict mode: the first IPv6 virtual address must be link-local")
            else:  # keepalived only logs this
                self.warning("vips", "the first IPv6 virtual address should be link-local (RFC 5798 §5.2.9)")

    def preemption(self, state: str, priority: int) -> tuple[bool, int]:
        nopreempt = bool(self.v.get("nopreempt", False))
        delay_us: int = self.v.get("preempt_delay_us", 0)
        if priority == VRRP_PRIO_OWNER and nopreempt:
            self.warning("nopreempt", "nopreempt is incompatible with priority 255; nopreempt cleared")
            nopreempt = False
        if state == "MASTER":
            if nopreempt:
                self.warning("nopreempt", "nopreempt does not work with initial state MASTER; nopreempt cleared")
                nopreempt = False
            if delay_us:
                self.warning("preempt_delay_us", "preempt_delay does not work with initial state MASTER; cleared")
                delay_us = 0
        if delay_us and self.strict:
            self.warning("preempt_delay_us", "preempt_delay is incompatible with strict mode; cleared")
            delay_us = 0
        elif delay_us and nopreempt:
            self.warning("preempt_delay_us", "preempt_delay is incompatible with nopreempt; cleared")
            delay_us = 0
        return nopreempt, delay_us

    def strict_or_global(self, key: str, global_value: Any, strict_value: Any, what: str) -> Any:
        """An option strict mode forces; unset, it comes from global_defs (or strict mode)."""
        if key not in self.v:
            return strict_value if self.strict else global_value
        if self.strict and self.v[key] != strict_value:
            self.warning(key, f"strict mode requires {what}; reset")
            return strict_value
        return self.v[key]

    def advert_int_cs(self, version: int) -> int:
        """v2: whole seconds (keepalived rounds); v3: centiseconds below 40.96 s."""
        advert_us: int = self.v.get("advert_int_us", VRRP_ADVER_DFL_US)
        if version == 2:
            if advert_us % US_PER_S:
                rounded = _round_to(advert_us, US_PER_S)
                self.warning(
                    "advert_int_us",
                    f"a VRRPv2 advert_int must be whole seconds; {advert_us / US_PER_S:g} rounded to "
                    f"{rounded // US_PER_S}",
                )
                advert_us = rounded
        elif advert_us >= 4096 * US_PER_CS:
            # keepalived clamps to 40.95 s with a config error; vipkeeper refuses it
            self.error(
                "advert_int_us", f"VRRPv3 advert_int {advert_us / US_PER_S:g} s is out of range (at most 40.95 s)"
            )
            advert_us = 4095 * US_PER_CS
        elif advert_us % US_PER_CS:
            rounded = _round_to(advert_us, US_PER_CS)
            self.warning(
                "advert_int_us",
                f"a VRRPv3 advert_int must be in units of 10 ms; {advert_us / US_PER_S:g} rounded to "
                f"{rounded / US_PER_S:g}",
            )
            advert_us = rounded
        return advert_us // US_PER_CS

    def owner_ignore_adverts(self, priority: int) -> bool:
        """keepalived 2.3.3 vrrp_complete_instance: only for the address owner (priority 255)."""
        value = bool(self.v.get("owner_ignore_adverts", self.g.vrrp_owner_ignore_adverts))
        if value and priority != VRRP_PRIO_OWNER:
            if "owner_ignore_adverts" in self.v:
                self.warning(
                    "owner_ignore_adverts", f"ignoring owner_ignore_adverts since priority is not {VRRP_PRIO_OWNER}"
                )
            return False
        return value

    def tracking(self) -> tuple[tuple[TrackRef, ...], tuple[TrackRef, ...], tuple[TrackRef, ...]]:
        out: list[tuple[TrackRef, ...]] = []
        for kind in ("track_script", "track_file", "track_process"):
            pending = self.v.get(kind, [])
            refs = resolve_refs(kind, pending, self.t, self.me, self.ctx)
            if len(refs) != expected(kind, pending, self.t):
                self.ok = False
            out.append(refs)
        return out[0], out[1], out[2]

    def own_interface(self, interface: str, ifaces: tuple[TrackRef, ...]) -> tuple[TrackRef, ...]:
        """keepalived (vrrp.c, "Ignoring track_interface %s since own interface"): an instance
        always follows its own interface (FAULT while it is down); listing it is ignored."""
        kept = []
        for ref in ifaces:
            if ref.name == interface:
                self.ctx.warning(
                    Token(ref.name, ref.loc.file, ref.loc.line),
                    f"({self.d.name}) ignoring track_interface {ref.name} since own interface "
                    "(an instance is always in FAULT while its interface is down)",
                )
            else:
                kept.append(ref)
        return tuple(kept)

    def accept(self, version: int, priority: int) -> bool:
        """keepalived vrrp.c vrrp_complete_instance: accept mode defaults to on, off in strict
        mode, always on for an address owner; strict VRRPv2 resets an explicit ``accept``."""
        accept: bool | None = self.v.get("accept")
        if priority == VRRP_PRIO_OWNER:
            return True
        if accept is None:
            return not self.strict
        if accept and self.strict and version == 2:
            self.warning("accept", "warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting")
            return False
        return accept

    def garp_extra_if(self, interface: str, vips: list[VirtualAddress]) -> tuple[int, bool]:
        """keepalived vrrp.c: unset, the global vrrp_garp_extra_if applies; without a VIP on
        another interface, or without ``all`` (vipkeeper has no VMAC interfaces to send on),
        there is nothing to send and it is off."""
        if "garp_extra_if_s" in self.v:
            delay_s, every = self.v["garp_extra_if_s"], self.v["garp_extra_if_all"]
        else:
            delay_s, every = self.g.vrrp_garp_extra_if_s, self.g.vrrp_garp_extra_if_all
        extra = any(v.dev is not None and v.dev != interface for v in vips)
        if not (delay_s and every and extra):
            return 0, False
        return delay_s, every

    def run(self) -> VrrpInstance | None:
        v, g = self.v, self.g
        family, version = self.family_and_version()
        vips, vips_excluded = self.vips(family, version)
        state, priority = self.state_and_priority()
        auth, state = self.authentication(family, version, state, priority)
        peers = self.unicast()
        mcast_dst_ip, unicast_ttl, skip_check_adv_addr = self.wire(peers)
        interface, vrid = self.required()
        self.first_ipv6_vip(family, peers, vips)
        nopreempt, preempt_delay_us = self.preemption(state, priority)
        down_timer_adverts = v.get("down_timer_adverts", self.gd.get("_down_timer_adverts", VRRP_DOWN_TIMER_ADVERTS))
        if self.strict and down_timer_adverts != VRRP_DOWN_TIMER_ADVERTS:
            self.warning("down_timer_adverts", "down_timer_adverts is incompatible with strict mode; using 3")
            down_timer_adverts = VRRP_DOWN_TIMER_ADVERTS
        garp_lower_prio_repeat = self.strict_or_global(
            "garp_lower_prio_repeat", g.vrrp_garp_lower_prio_repeat, 0, "garp_lower_prio_repeat 0"
        )
        garp_lower_prio_delay_s = self.strict_or_global(
            "garp_lower_prio_delay_s", g.vrrp_garp_lower_prio_delay_s, 0, "garp_lower_prio_delay 0"
        )
        lower_prio_no_advert = self.strict_or_global(
            "lower_prio_no_advert", g.vrrp_lower_prio_no_advert, True, "lower_prio_no_advert"
        )
        higher_prio_send_advert = self.strict_or_global(
            "higher_prio_send_advert", g.vrrp_higher_prio_send_advert, False, "higher_prio_send_advert off"
        )
        advert_int_cs = self.advert_int_cs(version)
        vmac_mac, xmit_base = self.vmac(family, vrid, peers)
        extra_if_s, extra_if_all = self.garp_extra_if(interface, vips + vips_excluded)
        track_scripts, track_files, track_processes = self.tracking()
        track_interfaces = self.own_interface(interface, interface_refs(v.get("track_interface", [])))
        if priority == VRRP_PRIO_OWNER:
            track_scripts, track_files, track_interfaces = ignore_weights(
                self.d.name, "address_owner", track_scripts, track_files, track_interfaces, self.t, self.ctx
            )
        auth_hmac, hmac_ok = complete_auth_hmac(
            self.d, self.ctx, self.me, strict=self.strict, advert_int_cs=advert_int_cs
        )
        self.ok = self.ok and hmac_ok
        if auth_hmac is not None and auth is not None:
            self.warning("authentication", pass_trap_message(auth_hmac.mode))
        if not self.ok:
            return None
        return VrrpInstance(
            name=self.d.name,
            interface=interface,
            vrid=vrid,
            priority=priority,
            initial_state=state,  # type: ignore[arg-type]
            version=version,
            family=family,  # type: ignore[arg-type]
            advert_int_cs=advert_int_cs,
            nopreempt=nopreempt,
            preempt_delay_s=preempt_delay_us / US_PER_S,
            unicast_src_ip=v.get("unicast_src_ip"),
            mcast_src_ip=v.get("mcast_src_ip"),
            unicast_peers=peers,
            auth=auth,
            auth_hmac=auth_hmac,
            vips=tuple(vips),
            vips_excluded=tuple(vips_excluded),
            track_scripts=track_scripts,
            track_interfaces=track_interfaces,
            track_files=track_files,
            track_processes=track_processes,
            notify=notify_of(self.d),
            garp_master_delay_s=v.get("garp_master_delay_s", g.vrrp_garp_master_delay_s),
            garp_master_repeat=v.get("garp_master_repeat", g.vrrp_garp_master_repeat),
            garp_master_refresh_s=v.get("garp_master_refresh_s", g.vrrp_garp_master_refresh_s),
            garp_master_refresh_repeat=v.get("garp_master_refresh_repeat", g.vrrp_garp_master_refresh_repeat),
            garp_interval_us=v.get("garp_interval_us", g.vrrp_garp_interval_us),
            gna_interval_us=v.get("gna_interval_us", g.vrrp_gna_interval_us),
            garp_lower_prio_delay_s=garp_lower_prio_delay_s,
            garp_lower_prio_repeat=garp_lower_prio_repeat,
            down_timer_adverts=down_timer_adverts,
            lower_prio_no_advert=lower_prio_no_advert,
            higher_prio_send_advert=higher_prio_send_advert,
            v3_checksum_as_v2=v.get("v3_checksum_as_v2", g.v3_checksum_as_v2),
            owner_ignore_adverts=self.owner_ignore_adverts(priority),
            old_unicast_checksum=v.get("old_unicast_checksum", "auto"),
            check_unicast_src=v.get("check_unicast_src", g.vrrp_check_unicast_src),
            strict=self.strict,
            fast_preempt=v.get("fast_preempt", False),
            dont_track_primary=v.get("dont_track_primary", False),
            fault_no_peer=bool(v.get("unicast_fault_no_peer")) and not peers,
            use_vmac=bool(v.get("use_vmac")),
            vmac_ifname=v.get("vmac_ifname"),
            vmac_mac=vmac_mac,
            vmac_xmit_base=xmit_base,
            use_vmac_addr=bool(v.get("use_vmac_addr")),
            loc=self.node.loc,
            mcast_dst_ip=mcast_dst_ip,
            unicast_ttl=unicast_ttl,
            skip_check_adv_addr=skip_check_adv_addr,
            peer_ttl=tuple(v.get("peer_ttl", ())),
            virtual_routes=tuple(v.get("virtual_routes", ())),
            virtual_rules=tuple(v.get("virtual_rules", ())),
            accept=self.accept(version, priority),
            promote_secondaries=v.get("promote_secondaries", False),
            garp_extra_if_s=extra_if_s,
            garp_extra_if_all=extra_if_all,
            # keepalived vrrp.c vrrp_complete_instance: "Clear track_saddr if no saddr specified"
            track_src_ip=bool(v.get("track_src_ip")) and (v.get("unicast_src_ip") or v.get("mcast_src_ip")) is not None,
        )
