"""Inputs to and effects from the VRRP core (``core.router``, ``core.node``).

The core never performs I/O: the daemon feeds it these inputs with the
current time and carries out the effects it returns, in order.

Two layers of effects:

* a :class:`~vipkeeper.core.router.VrrpRouter` asks for an advert
  (:class:`SendAdvert`) or a gratuitous burst (:class:`SendGratuitous`) by
  priority and count only;
* :class:`~vipkeeper.core.node.VrrpNode` turns those into wire-ready
  :class:`Transmit` and :class:`Gratuitous` effects (bytes, interface,
  addresses) and passes every other effect through.  The daemon only ever sees
  the node's effects.

Every effect that concerns one instance names it (``instance``).
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from vipkeeper.core.codec import Advertisement
from vipkeeper.core.constants import VRRP_TTL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class State(enum.Enum):
    """RFC 5798 §6.4 states, plus keepalived's FAULT and our STOP (after shutdown)."""

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    STOP = "STOP"

    def __str__(self) -> str:
        return self.value


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Start:
    """The daemon is ready: sockets open, stale VIPs removed."""


@dataclass(slots=True)  # built per packet or per advert: a frozen __init__ costs more
class AdvertReceived:
    """A decoded advertisement for this instance's VRID."""

    advert: Advertisement
    src: IPAddress
    ttl: int
    multicast: bool  # sent to the multicast group (not unicast)


@dataclass(frozen=True, slots=True)
class LinkChanged:
    up: bool


@dataclass(frozen=True, slots=True)
class SourceChanged:
    """The instance's source address is on its interface (again), or has left it.

    keepalived (keepalived_netlink.c netlink_if_address_filter, 2.2.7): an instance whose source
    address leaves the interface goes to FAULT (down_instance) until an address returns
    (try_up_instance); for a configured source only with ``track_src_ip``."""

    present: bool


@dataclass(frozen=True, slots=True)
class TrackingChanged:
    """The tracking arithmetic's verdict (see ``core.tracking``).

    ``offset`` is added to the base priority; ``faults`` names the trackers
    that hold the instance in FAULT; ``pending`` names weight-0 trackers that
    have not reported yet (the instance stays in INIT until they do).
    """

    offset: int
    faults: frozenset[str] = frozenset()
    pending: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SyncGroupChanged:
    """keepalived ``vrrp_sync_group``: the members move together.

    ``faults`` names the members (other than this one) in FAULT: while any is,
    this member is held in FAULT too.  ``want`` is MASTER when another member
    became MASTER, BACKUP when another left MASTER for BACKUP, else None.
    """

    faults: frozenset[str] = frozenset()
    want: State | None = None
    group: str = ""


@dataclass(frozen=True, slots=True)
class HostEntryLost:
    """A tracked virtual route or rule of this instance was deleted from the host (keepalived
    keepalived_netlink.c netlink_route_filter / netlink_rule_filter: ``set_vrrp_backup``): a
    MASTER leaves for BACKUP, to take the VIPs and the entry back after Master_Down_Interval."""

    what: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Stop: a MASTER resigns with a priority-0 advert and releases its VIPs."""


@dataclass(slots=True)  # not frozen: built once per packet, and frozen __init__ costs more
class Received:
    """One packet as a raw VRRP socket delivered it: the VRRP message (IP header
    stripped) and the IP-level facts validation needs."""

    family: int  # 4 or 6: the socket's family, never guessed from the bytes
    src: IPAddress
    dst: IPAddress
    ttl: int  # IPv4 TTL / IPv6 hop limit
    ifindex: int
    payload: bytes
    # IPsec AH (IPv4 protocol 51, ``auth_type AH``): the IPv4 header as received, which the
    # AH ICV covers; ``payload`` then starts with the AH header.  Empty for protocol 112.
    ip_header: bytes = b""


Event = (
    Start | AdvertReceived | LinkChanged | SourceChanged | TrackingChanged | SyncGroupChanged | Shutdown | HostEntryLost
)


# ---------------------------------------------------------------- effects
# Router-level requests (the node turns them into Transmit / Gratuitous).


@dataclass(slots=True)  # built per packet or per advert: a frozen __init__ costs more
class SendAdvert:
    priority: int


@dataclass(frozen=True, slots=True)
class SendGratuitous:
    """Send ``count`` gratuitous ARPs / unsolicited NAs for every VIP,
    ``interval_us`` apart."""

    count: int
    interval_us: int = 0


# What the daemon carries out.


@dataclass(slots=True)  # built per packet or per advert: a frozen __init__ costs more
class Transmit:
    """Send ``payload`` (a VRRP message, checksum included) from ``src`` to ``dst``
    on the raw VRRP socket of (``ifindex``, ``family``)."""

    ifindex: int
    family: int
    src: IPAddress
    dst: IPAddress
    payload: bytes
    instance: str = ""
    ttl: int = VRRP_TTL  # IPv4 TTL / IPv6 hop limit (``unicast_ttl`` for unicast adverts)
    # ``payload`` is a whole IPv4 packet, header included (IPsec AH: the header is signed), to
    # send as it is (IP_HDRINCL on the protocol-51 socket).
    ip_packet: bool = False


@dataclass(frozen=True, slots=True)
class Gratuitous:
    """Send each of ``frames`` (whole Ethernet frames) ``count`` times on
    ``ifindex``, ``interval_us`` apart, while the instance stays MASTER, after
    its VIPs are added (the daemon keeps that order per instance)."""

    instance: str
    ifindex: int
    frames: tuple[bytes, ...]
    count: int
    interval_us: int = 0


@dataclass(frozen=True, slots=True)
class AddVips:
    instance: str = ""


@dataclass(frozen=True, slots=True)
class DelVips:
    instance: str = ""


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: State
    new: State
    reason: str
    priority: int
    instance: str = ""


@dataclass(frozen=True, slots=True)
class GroupStateChanged:
    """Every member of ``vrrp_sync_group`` ``group`` is now in ``state``."""

    group: str
    state: State


@dataclass(frozen=True, slots=True)
class PriorityChanged:
    old: int
    new: int
    instance: str = ""
    state: State | None = None  # the router's state at the change (MASTER_PRIORITY / BACKUP_PRIORITY)


@dataclass(frozen=True, slots=True)
class MasterRxLowerPri:
    """A MASTER received an advert of lower priority (keepalived vrrp.c vrrp_state_master_rx:
    the ``notify_master_rx_lower_pri`` script and the FIFO's MASTER_RX_LOWER_PRI line)."""

    instance: str
    src: IPAddress
    priority: int  # the advert's
    ours: int  # our effective priority


@dataclass(slots=True)  # built per packet or per advert: a frozen __init__ costs more
class AdvertDropped:
    """A received packet was not taken: it did not decode (RFC 5798 §7.1 checks
    that need no configuration), names no VRID we run, or failed this
    instance's checks.  ``reason`` is one name from one set (README "Drop
    reasons"); ``instance`` is "" when no instance could be named."""

    reason: str
    src: IPAddress
    detail: str = ""
    instance: str = ""


@dataclass(frozen=True, slots=True)
class PeerConflict:
    """Something an operator must fix (e.g. two address owners)."""

    message: str
    instance: str = ""


@dataclass(frozen=True, slots=True)
class ChecksumSwitched:
    """keepalived's "Setting unicast VRRPv3 checksum to old version": a unicast
    peer (``src``) uses the multicast group (``pseudo_dst``) in its VRRPv3 IPv4
    checksum, and from now on so do we (``old_unicast_checksum`` auto)."""

    instance: str
    src: IPAddress
    pseudo_dst: IPAddress


@dataclass(frozen=True, slots=True)
class AuthClockSkew:
    """keepalived 2.4 "authentication clock skew %d sec from %s approaching window %u sec": an
    ``auth_hmac`` advert was accepted, but the sender's clock is more than half the freshness
    window away from ours (fix NTP before adverts go stale)."""

    instance: str
    src: IPAddress
    skew_s: int
    window_s: int


@dataclass(frozen=True, slots=True)
class LinkStateChanged:
    """The instance's interface went up or down (it enters or leaves FAULT)."""

    instance: str
    up: bool


# Every reason a received packet is dropped for: one set of names for the counters, the log
# lines, the status JSON and the metrics (README "Status JSON").
DECODE_DROP_REASONS = (  # core.codec.decode (RFC 3768 §7.1 / RFC 5798 §7.1), before any instance
    "bad_length",
    "bad_version",
    "bad_family",
    "bad_type",
    "addr_count",
    "trailing_bytes",
    "bad_checksum",
    "bad_vrid",
    "bad_auth_type",
    "bad_advert_int",
    "bad_ah",  # core.ipsec_ah.parse (auth_type AH): short, or not an AH keepalived sends
)
ROUTER_DROP_REASONS = (  # core.node (own_address) and VrrpRouter._check_advert, in check order
    "own_address",
    "bad_ttl",
    "version_mismatch",
    "auth_type_mismatch",
    "auth_failure",
    "interval_mismatch",
    "addr_count",
    "wrong_cast",
    "addr_list",
    "not_a_peer",
    "owner_ignores",  # keepalived 2.3.3 owner_ignore_adverts
)
AUTH_DROP_REASONS = (  # core.node: keepalived 2.4 auth_hmac (core.auth_hmac), in check order
    "auth_trailer",  # a trailer, and no auth_hmac here (keepalived: "too long")
    "auth_missing",  # no trailer, and auth_hmac mode enforce
    "auth_malformed",
    "auth_stale",
    "auth_unknown_key",
    "auth_bad_hmac",
    "auth_replay",
)
NODE_DROP_REASONS = ("too_short", "unknown_vrid")  # no instance can be named
DROP_REASONS = frozenset(DECODE_DROP_REASONS + ROUTER_DROP_REASONS + AUTH_DROP_REASONS + NODE_DROP_REASONS)

RouterEffect = (
    SendAdvert
    | SendGratuitous
    | AddVips
    | DelVips
    | StateChanged
    | PriorityChanged
    | AdvertDropped
    | PeerConflict
    | MasterRxLowerPri
)
"""What :class:`~vipkeeper.core.router.VrrpRouter` returns."""

Effect = (
    Transmit
    | Gratuitous
    | AddVips
    | DelVips
    | StateChanged
    | GroupStateChanged
    | PriorityChanged
    | AdvertDropped
    | PeerConflict
    | ChecksumSwitched
    | LinkStateChanged
    | MasterRxLowerPri
    | AuthClockSkew
)
"""What :class:`~vipkeeper.core.node.VrrpNode` returns to the daemon."""
