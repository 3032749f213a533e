"""Inputs to and effects from the VRRP engine (``core.instance``).

The engine never performs I/O: the daemon feeds it these inputs with the
current time and carries out the effects it returns, in order.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from .codec import Advertisement

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


@dataclass(frozen=True, slots=True)
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
class Shutdown:
    """Stop: a MASTER resigns with a priority-0 advert and releases its VIPs."""


Event = Start | AdvertReceived | LinkChanged | TrackingChanged | SyncGroupChanged | Shutdown


# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class SendAdvert:
    priority: int


@dataclass(frozen=True, slots=True)
class AddVips:
    pass


@dataclass(frozen=True, slots=True)
class DelVips:
    pass


@dataclass(frozen=True, slots=True)
class SendGratuitous:
    """Send ``count`` gratuitous ARPs / unsolicited NAs for every VIP,
    ``interval_us`` apart."""

    count: int
    interval_us: int = 0


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: State
    new: State
    reason: str
    priority: int


@dataclass(frozen=True, slots=True)
class PriorityChanged:
    old: int
    new: int


@dataclass(frozen=True, slots=True)
class AdvertDropped:
    """A received advert failed this instance's checks (RFC 5798 §7.1)."""

    reason: str
    src: IPAddress
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PeerConflict:
    """Something an operator must fix (e.g. two address owners)."""

    message: str


Effect = (
    SendAdvert
    | AddVips
    | DelVips
    | SendGratuitous
    | StateChanged
    | PriorityChanged
    | AdvertDropped
    | PeerConflict
)
