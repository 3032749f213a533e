"""``vrrp_instance NAME { ... }``: its keyword table and handlers (the ``authentication``
block included).  Completion is :mod:`vipkeeper.config.blocks.vrrp_instance_completion`.
"""

from __future__ import annotations

from string import hexdigits as HEXDIGITS

from vipkeeper.config.blocks.auth_hmac import auth_hmac_block
from vipkeeper.config.blocks.routes import routes_handler, rules_handler
from vipkeeper.config.blocks.shared import (
    garp_extra_if,
    notify_deleted_handler,
    notify_handler,
    priority_changes_handler,
    track_refs_handler,
)
from vipkeeper.config.constants import (
    IFNAMSIZ,
    INT_MAX,
    TIMER_MAX_SEC,
    UINT_MAX,
    US_PER_CS,
    US_PER_S,
    VRRP_AUTH_LEN,
    VRRP_PRIO_OWNER,
)
from vipkeeper.config.keywords import (
    Ctx,
    Draft,
    Handler,
    Kw,
    block,
    child_nodes,
    dispatch,
    flag,
    integer,
    refused,
    repeat_count,
    seconds_us,
    store,
    switch,
    value,
)
from vipkeeper.config.lexer import Token
from vipkeeper.config.model import IPAddress, VirtualAddress
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, bool_option, parse_ip, parse_virtual_address, whole_number


def _set_family(draft: Draft, family: int, at: Token, what: str) -> None:
    """The instance family is set by its first address (keepalived: src ip, peers, VIPs)."""
    current = draft.get("family")
    if current is None:
        draft.values["family"] = family
        draft.values["family_at"] = at
    elif current != family:
        first: Token = draft.values["family_at"]
        raise BadValue(
            at,
            f"{what} '{at.value}' is IPv{family} but the instance is IPv{current} "
            f"(set by '{first.value}' at line {first.line})",
        )


def _state(draft: Draft, node: Node, ctx: Ctx) -> None:
    word = node.args[0].value
    if word not in ("MASTER", "BACKUP"):
        raise BadValue(node.args[0], f"unknown state '{word}' (expected MASTER or BACKUP)")
    if word == "BACKUP" and draft.get("state") == "MASTER":
        # keepalived vrrp_state_handler: "state previously set as MASTER - ignoring BACKUP"
        ctx.warning(
            node.args[0], f"state already set to MASTER at line {draft.nodes['state'].line.line}; BACKUP ignored"
        )
        return
    draft.set("state", word, node)


def _src_ip(key: str, unicast: bool) -> Handler:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        if unicast:
            draft.set("unicast_configured", True, node)
        addr = parse_ip(node.args[0], node.name, prefix_ok=True)
        _set_family(draft, addr.version, node.args[0], node.name)
        draft.set(key, addr, node)

    return handler


def _unicast_peer(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.set("unicast_configured", True, node)
    peers: list[IPAddress] = draft.values.setdefault("unicast_peers", [])
    for child in child_nodes(node):
        try:
            tok = child.line.tokens[0]
            if child.children is not None:
                raise BadValue(tok, f"unexpected block after unicast peer '{tok.value}'")
            addr = parse_ip(tok, "unicast peer", prefix_ok=True)
            _set_family(draft, addr.version, tok, "unicast peer")
            rest = child.args
            ttl = {"min_ttl": 0, "max_ttl": 255}  # keepalived vrrp_data.c alloc_vrrp_unicast_peer
            for k in range(0, len(rest), 2):
                opt = rest[k]
                if opt.value not in ("min_ttl", "max_ttl"):
                    raise BadValue(opt, f"unknown unicast peer option '{opt.value}'")
                if k + 1 >= len(rest):
                    raise BadValue(opt, f"'{opt.value}' needs a value")
                ttl[opt.value] = whole_number(rest[k + 1], 0, 255, opt.value)
                # "Specifying min_ttl or max_ttl turns on check_unicast_src" (keepalived.conf(5))
                draft.set("check_unicast_src", True, node)
            if ttl["min_ttl"] > ttl["max_ttl"]:
                ctx.warning(
                    tok, f"min_ttl {ttl['min_ttl']} > max_ttl {ttl['max_ttl']}: every packet from this peer is dropped"
                )
            if rest and addr not in peers:
                ranges: list = draft.values.setdefault("peer_ttl", [])
                ranges.append((addr, ttl["min_ttl"], ttl["max_ttl"]))
            if addr in peers:
                ctx.warning(tok, f"duplicate unicast peer '{addr}', ignored")
                continue
            peers.append(addr)
        except BadValue as bad:
            ctx.error(bad.at, bad.message)
            draft.failed.add(node.name)


def _vips(key: str, sets_family: bool) -> Handler:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        vips: list[VirtualAddress] = draft.values.setdefault(key, [])
        draft.nodes.setdefault(key, node)
        for child in child_nodes(node):
            try:
                if child.children is not None:
                    raise BadValue(child.line, f"unexpected block after virtual address '{child.name}'")
                vip = parse_virtual_address(child.line.tokens, ctx)
                if sets_family:
                    _set_family(draft, vip.family, child.line.tokens[0], "virtual address")
                if any(v.address == vip.address for v in vips):
                    ctx.warning(child, f"duplicate virtual address '{vip.address}', ignored")
                    continue
                vips.append(vip)
            except BadValue as bad:
                ctx.error(bad.at, bad.message)
                draft.failed.add(node.name)

    return handler


def _auth_type(draft: Draft, node: Node, ctx: Ctx) -> None:
    word = node.args[0].value
    if word not in ("PASS", "AH"):
        raise BadValue(node.args[0], f"unknown authentication type '{word}' (expected PASS or AH)")
    draft.set("auth_type", word, node)


def _auth_pass(draft: Draft, node: Node, ctx: Ctx) -> None:
    raw = node.args[0].value.encode("utf-8", errors="surrogateescape")
    if len(raw) > VRRP_AUTH_LEN:
        # keepalived vrrp_auth_pass_handler: "Truncating auth_pass to 8 characters"
        ctx.warning(
            node.args[0],
            f"auth_pass is longer than {VRRP_AUTH_LEN} characters; only the first {VRRP_AUTH_LEN} are used",
        )
        raw = raw[:VRRP_AUTH_LEN]
    draft.set("auth_pass", raw, node)


AUTHENTICATION_KEYWORDS: dict[str, Kw] = {
    "auth_type": Kw(_auth_type, 1, 1),
    "auth_pass": Kw(_auth_pass, 1, 1),
}


def _authentication(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.set("authentication", True, node)
    dispatch(ctx, child_nodes(node), AUTHENTICATION_KEYWORDS, draft, "authentication")


def _vmac_mac(tok: Token) -> tuple[int, ...]:
    """``use_vmac``'s MAC address: six octets, or five (the VRID is the sixth), as
    keepalived vrrp_vmac_handler reads it (vrrp_parser.c)."""
    text = tok.value.rstrip(":") if tok.value.count(":") == 5 and tok.value.endswith(":") else tok.value
    parts = text.split(":")
    if len(parts) not in (5, 6) or not all(1 <= len(p) <= 2 and all(c in HEXDIGITS for c in p) for p in parts):
        raise BadValue(tok, f"invalid VMAC address '{tok.value}'")
    octets = tuple(int(p, 16) for p in parts)
    if octets[0] & 1:
        raise BadValue(tok, f"VMAC address '{tok.value}' is multicast")
    if octets[:4] == (0, 0, 0x5E, 0) and octets[4] in (1, 2):
        raise BadValue(tok, f"VMAC address '{tok.value}' is not allowed to be an RFC 5798 address")
    return octets


def _use_vmac(draft: Draft, node: Node, ctx: Ctx) -> None:
    """``use_vmac [IFNAME] [MAC]`` (keepalived vrrp_vmac_handler): a macvlan (mode private) on
    the instance's interface carries the VIPs and sends from the virtual MAC."""
    draft.set("use_vmac", True, node)
    for tok in node.args[:2]:
        if ":" in tok.value:
            if "vmac_mac" in draft.values:
                raise BadValue(tok, "VMAC interface address already specified")
            draft.set("vmac_mac", _vmac_mac(tok), node)
            continue
        if "vmac_ifname" in draft.values:
            raise BadValue(tok, "VMAC interface name already specified")
        name = tok.value
        if len(name.encode()) >= IFNAMSIZ or name in (".", "..") or any(c in name for c in "/: \t"):
            raise BadValue(tok, f"VMAC interface name '{name}' too long or invalid characters")
        draft.set("vmac_ifname", name, node)


def _timer_expired_backup(draft: Draft, node: Node, ctx: Ctx) -> None:
    # keepalived 2.2.8 (thread_timer_expired) / 2.3.2 (timer_expired_backup): a master whose
    # process ran late gives up the VIP.  Ignoring it would keep the VIP where keepalived
    # would not: refused.
    ctx.error(
        node,
        f"{node.name} (keepalived 2.3: a late-running master reverts to BACKUP) is not supported by vipkeeper; "
        "remove it",
    )


def _preempt(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.set("nopreempt", False, node)  # keepalived: 'preempt' clears nopreempt


def _check_unicast_src(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.set("unicast_configured", True, node)
    draft.set("check_unicast_src", True, node)


def _unicast_fault_no_peer(draft: Draft, node: Node, ctx: Ctx) -> None:
    """keepalived vrrp_unicast_fault_no_peer: a unicast keyword; with no unicast_peer the
    instance stays in FAULT instead of falling back to multicast (vrrp.c vrrp_complete_instance)."""
    draft.set("unicast_configured", True, node)
    draft.set("unicast_fault_no_peer", True, node)


def _old_unicast_checksum(draft: Draft, node: Node, ctx: Ctx) -> None:
    """``old_unicast_checksum [never]`` (keepalived vrrp_unicast_chksum_handler): the VRRPv3
    IPv4 unicast checksum with 224.0.0.18 in the pseudo-header, as keepalived <= 1.3.6 sent it.

    Bare: always use it.  ``never``: never switch to it (keepalived, and vipkeeper, otherwise
    switch when a unicast peer sends it).
    """
    draft.set("unicast_configured", True, node)
    if not node.args:
        draft.set("old_unicast_checksum", "always", node)
    elif node.args[0].value == "never":
        draft.set("old_unicast_checksum", "never", node)
    else:
        # keepalived: "Unknown old_unicast_chksum mode %s - ignoring"
        ctx.warning(
            node.args[0], f"unknown old_unicast_checksum mode '{node.args[0].value}' (expected 'never'), ignored"
        )


def _mcast_dst_ip(draft: Draft, node: Node, ctx: Ctx) -> None:
    """``mcast_dst_ip ADDR`` (keepalived vrrp_mcast_dstip_handler): this instance's multicast
    group instead of ``vrrp_mcast_group4/6``.  keepalived skips (and runs without) a malformed
    address, one of the other family, or one that is not (IPv6: link-local) multicast."""
    tok = node.args[0]
    try:
        addr = parse_ip(tok, node.name)
    except BadValue as bad:
        ctx.warning(tok, f"{bad.message}; ignored")
        return
    current = draft.get("family")
    if current is not None and current != addr.version:
        ctx.warning(tok, f"mcast_dst_ip '{addr}' is not an IPv{current} address like the instance; ignored")
        return
    if not addr.is_multicast or (addr.version == 6 and not str(addr).startswith("ff02:")):
        kind = "a link-local multicast" if addr.version == 6 else "a multicast"
        ctx.warning(tok, f"mcast_dst_ip '{addr}' is not {kind} address; ignored")
        return
    if current is None:
        _set_family(draft, addr.version, tok, node.name)
    draft.set("mcast_dst_ip", addr, node)


def _skip_check_adv_addr(draft: Draft, node: Node, ctx: Ctx) -> None:
    """``skip_check_adv_addr [on|off|...]`` (keepalived vrrp_skip_check_adv_addr_handler).

    keepalived 2.2.7 (and its master branch) sets the option for any valid boolean, ``off``
    included; vipkeeper does what keepalived does, and says so."""
    if node.args:
        word = node.args[0]
        try:
            on = bool_option(node)
        except BadValue:
            ctx.warning(word, f"invalid skip_check_adv_addr '{word.value}', ignored")
            return
        if not on:
            ctx.warning(word, f"keepalived turns skip_check_adv_addr on even with '{word.value}'; so does vipkeeper")
    draft.set("skip_check_adv_addr", True, node)


def _native_ipv6(draft: Draft, node: Node, ctx: Ctx) -> None:
    """keepalived vrrp_parser.c vrrp_native_ipv6_handler: the instance is IPv6 (and VRRPv3);
    with IPv4 addresses already given, "Cannot specify native_ipv6 with IPv4 addresses"."""
    draft.set("native_ipv6", True, node)


VRRP_INSTANCE_KEYWORDS: dict[str, Kw] = {
    "state": Kw(_state, 1, 1),
    "interface": value("interface"),
    "virtual_router_id": integer("vrid", 1, 255),
    "priority": integer("priority", 1, VRRP_PRIO_OWNER),
    # keepalived vrrp_adv_handler: decimal seconds in [0.01, 255]; v2/v3 rules at completion
    "advert_int": seconds_us("advert_int_us", US_PER_CS, 255 * US_PER_S),
    "version": integer("version", 2, 3),
    "nopreempt": flag("nopreempt"),
    "preempt": Kw(_preempt, 0, 0),
    "preempt_delay": seconds_us("preempt_delay_us", 0, TIMER_MAX_SEC * US_PER_S),
    "unicast_src_ip": Kw(_src_ip("unicast_src_ip", unicast=True), 1, 1),
    "mcast_src_ip": Kw(_src_ip("mcast_src_ip", unicast=False), 1, 1),
    "unicast_peer": block(_unicast_peer),
    "authentication": block(_authentication),
    "auth_hmac": block(auth_hmac_block),  # keepalived 2.4
    "no_virtual_ipaddress": flag("no_vips"),  # keepalived 2.2.8
    "owner_ignore_adverts": switch("owner_ignore_adverts"),  # keepalived 2.3.3
    "timer_expired_backup": Kw(_timer_expired_backup, 0, 1),
    "thread_timer_expired": Kw(_timer_expired_backup, 0, 1),
    "virtual_ipaddress": block(_vips("vips", sets_family=True)),
    "virtual_ipaddress_excluded": block(_vips("vips_excluded", sets_family=False)),
    "track_script": block(track_refs_handler("track_script", -254, 254, clamp_254=True)),
    "track_interface": block(track_refs_handler("track_interface", -254, 254, clamp_254=True)),
    "track_file": block(track_refs_handler("track_file", -254, 254, clamp_254=False)),
    "track_process": block(track_refs_handler("track_process", -254, 254, clamp_254=False)),
    "notify": Kw(notify_handler("any"), 1),
    "notify_master": Kw(notify_handler("master"), 1),
    "notify_backup": Kw(notify_handler("backup"), 1),
    "notify_fault": Kw(notify_handler("fault"), 1),
    "notify_stop": Kw(notify_handler("stop"), 1),
    "notify_master_rx_lower_pri": Kw(notify_handler("master_rx_lower_pri"), 1),
    "notify_deleted": Kw(notify_deleted_handler),
    "notify_priority_changes": Kw(priority_changes_handler, 0, 1),
    "garp_master_delay": integer("garp_master_delay_s", 0, UINT_MAX // US_PER_S),
    "garp_master_repeat": repeat_count("garp_master_repeat"),
    "garp_master_refresh": integer("garp_master_refresh_s", 0, UINT_MAX),
    "garp_master_refresh_repeat": repeat_count("garp_master_refresh_repeat"),
    "garp_lower_prio_delay": integer("garp_lower_prio_delay_s", 0, UINT_MAX // US_PER_S),
    "garp_lower_prio_repeat": integer("garp_lower_prio_repeat", 0, INT_MAX),
    # vipkeeper extensions: keepalived 2.2.7 only has these per interface (garp_group block)
    "garp_interval": seconds_us("garp_interval_us", 1, UINT_MAX),
    "gna_interval": seconds_us("gna_interval_us", 1, UINT_MAX),
    "down_timer_adverts": integer("down_timer_adverts", 1, 100),
    "lower_prio_no_advert": switch("lower_prio_no_advert"),
    "higher_prio_send_advert": switch("higher_prio_send_advert"),
    "v3_checksum_as_v2": switch("v3_checksum_as_v2"),  # vipkeeper extension
    "check_unicast_src": Kw(_check_unicast_src, 0, 0),
    "old_unicast_checksum": Kw(_old_unicast_checksum, 0, 1),
    "strict_mode": switch("strict"),
    "fast_preempt": switch("fast_preempt"),  # vipkeeper extension
    "mcast_dst_ip": Kw(_mcast_dst_ip, 1, 1),
    "unicast_ttl": integer("unicast_ttl", 0, 255),
    "track_src_ip": flag("track_src_ip"),
    "skip_check_adv_addr": Kw(_skip_check_adv_addr, 0, 1),
    "use_vmac": Kw(_use_vmac, 0, 2),
    "vmac_xmit_base": flag("vmac_xmit_base"),
    "use_vmac_addr": flag("use_vmac_addr"),
    # keepalived vrrp_dont_track_handler: the instance's own interface going down is no FAULT
    "dont_track_primary": flag("dont_track_primary"),
    "unicast_fault_no_peer": Kw(_unicast_fault_no_peer, 0, 0),
    # keepalived keywords that change the VIP or the host and that vipkeeper does not implement
    "track_bfd": refused("BFD is a protocol of its own (use track_script or track_interface)", takes_block=True),
    "use_ipvlan": refused("ipvlan interfaces are not implemented (use_vmac is)"),
    "vrf": refused("VRF devices are not implemented"),
    "native_ipv6": Kw(_native_ipv6, 0, 0),
    "virtual_routes": block(routes_handler("virtual_routes", static=False)),
    "virtual_rules": block(rules_handler("virtual_rules", static=False)),
    "accept": Kw(store("accept", lambda node: True), 0, 0),
    "no_accept": Kw(store("accept", lambda node: False), 0, 0),
    "promote_secondaries": flag("promote_secondaries"),
    "garp_extra_if": garp_extra_if("garp_extra_if"),
    "vmac_garp_intvl": garp_extra_if("garp_extra_if"),
}
