"""One VRRP router (one ``vrrp_instance``): a pure, sans-IO state machine.

RFC 3768 (v2) and RFC 5798 (v3) §6.4, with keepalived 2.2.7's behaviour where
keepalived differs from or adds to the RFC (each such place says so).

The engine is driven by :meth:`VrrpRouter.handle` (inputs from
``core.events``) and :meth:`VrrpRouter.on_timer`; both take ``now_us``, a
monotonic time in integer microseconds, and return a list of effects for the
caller to carry out in order.  :meth:`VrrpRouter.next_deadline` says when the
engine next needs :meth:`on_timer`.
"""

from __future__ import annotations

import ipaddress

# hmac.compare_digest is this function (or _hashlib's); importing hmac loads hashlib and OpenSSL's
# libcrypto, +3.7 MB of RSS for one 8-byte comparison (issue 14).
from _operator import _compare_digest
from dataclasses import dataclass, field

from vipkeeper.core import timers
from vipkeeper.core.codec import Advertisement
from vipkeeper.core.constants import AUTH_NONE, AUTH_PASS, PRIORITY_OWNER, PRIORITY_STOP, VRRP_TTL
from vipkeeper.core.events import (
    AddVips,
    AdvertDropped,
    AdvertReceived,
    DelVips,
    Event,
    HostEntryLost,
    LinkChanged,
    MasterRxLowerPri,
    PeerConflict,
    PriorityChanged,
    RouterEffect,
    SendAdvert,
    SendGratuitous,
    Shutdown,
    SourceChanged,
    Start,
    State,
    StateChanged,
    SyncGroupChanged,
    TrackingChanged,
)
from vipkeeper.core.params import RouterParams
from vipkeeper.core.tracking import clamp_priority

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(slots=True)
class Counters:
    adverts_sent: int = 0
    adverts_received: int = 0
    priority_zero_sent: int = 0
    priority_zero_received: int = 0
    became_master: int = 0
    released_master: int = 0
    transitions: int = 0
    garp_bursts: int = 0
    drops: dict[str, int] = field(default_factory=dict)


def _addr_cmp(a: IPAddress, b: IPAddress | None) -> int:
    """Compare addresses as unsigned integers in network order (RFC 5798 §6.4.3)."""
    if b is None:
        return 1
    ia, ib = int(a), int(b)
    return (ia > ib) - (ia < ib)


class VrrpRouter:
    """One virtual router: INIT, BACKUP, MASTER, FAULT (and STOP after shutdown)."""

    def __init__(self, params: RouterParams) -> None:
        self.params = params
        self.state = State.INIT
        self.counters = Counters()
        self.base_priority = params.base_priority
        self.effective_priority = params.base_priority
        self.master_adver_int_cs = params.advert_int_cs
        self.src_addr: IPAddress | None = None  # our own primary address (for tie-breaks)
        # What we know of the current master (for status and fast preemption).
        self.master_addr: IPAddress | None = None
        # keepalived's master_saddr: set only by a BACKUP that accepts an advert (both branches of
        # vrrp_state_backup), never cleared; skip_check_adv_addr compares with it.
        self._backup_master_saddr: IPAddress | None = None
        self.master_priority: int = 0
        self.last_advert_us: int | None = None
        self.last_advert_src: IPAddress | None = None  # who sent it
        self._higher_heard_us: int | None = None  # last advert at least as high as our priority
        self.last_heard_resign = False
        self.reason = "not started"
        self._down_reason = ""
        # Conditions outside the protocol.
        self._started = False
        self._link_up = True
        self._source_present = True
        # The last advert that passed _check_advert (with its src, TTL, cast): the same input
        # passes again, as long as the parameters stay (reconfigure forgets it).
        self._passed: tuple[Advertisement, IPAddress, int, bool] | None = None
        self._not_heard: tuple[IPAddress, str] | None = None  # the down reason, built once per master
        self._mdi: tuple[int, int, int] = (-1, -1, 0)  # (priority, interval, Master_Down_Interval µs)
        self._tracking = TrackingChanged(offset=0)
        self._group_faults: frozenset[str] = frozenset()
        self._ever_left_init = False
        # Deadlines (None: not armed).  ``_sands_us`` is keepalived's per-state
        # deadline: the advert timer in MASTER, the master-down timer in BACKUP.
        self._sands_us: int | None = None
        self._garp_delayed_us: int | None = None
        self._garp_lower_delayed_us: int | None = None
        self._garp_refresh_us: int | None = None
        self._preempt_time_us: int | None = None
        self._vips_set = False

    # ------------------------------------------------------------- queries

    def next_deadline(self) -> int | None:
        """The earliest time (µs) at which :meth:`on_timer` must be called."""
        best: int | None = None
        for t in (self._sands_us, self._garp_delayed_us, self._garp_lower_delayed_us):
            if t is not None and (best is None or t < best):
                best = t
        return best

    @property
    def link_up(self) -> bool:
        return self._link_up

    @property
    def own_faults(self) -> frozenset[str]:
        """Why this instance is in FAULT by itself (trackers, link)."""
        reasons = set(self._tracking.faults)
        if not self._link_up:
            reasons.add("link down")
        if not self._source_present:
            reasons.add(f"source address {self.src_addr} not on the interface")
        if self.params.config_fault:  # keepalived vrrp.c: num_config_faults, never cleared
            reasons.add(self.params.config_fault)
        return frozenset(reasons)

    @property
    def faults(self) -> frozenset[str]:
        return self.own_faults | self._group_faults

    def skew_us(self) -> int:
        return timers.skew_us(self.params.version, self.effective_priority, self.master_adver_int_cs)

    def master_down_us(self) -> int:
        prio, adv, mdi = self._mdi
        if prio != self.effective_priority or adv != self.master_adver_int_cs:
            prio, adv = self.effective_priority, self.master_adver_int_cs
            mdi = timers.master_down_us(self.params.version, prio, adv, self.params.down_timer_adverts)
            self._mdi = (prio, adv, mdi)
        return mdi

    # ------------------------------------------------------------- inputs

    def handle(self, event: Event, now_us: int) -> list[RouterEffect]:
        out: list[RouterEffect] = []
        match event:
            case AdvertReceived():
                self._on_advert(event, now_us, out)
            case Start():
                self._started = True
                self._try_leave_init(now_us, out, "start")
            case LinkChanged(up=up):
                if up != self._link_up:
                    self._link_up = up
                    self._reevaluate(now_us, out, "link up" if up else "link down")
            case SourceChanged(present=present):
                if present != self._source_present:
                    self._source_present = present
                    why = "back on" if present else "removed from"
                    self._reevaluate(now_us, out, f"source address {self.src_addr} {why} the interface")
            case TrackingChanged():
                self._on_tracking(event, now_us, out)
            case SyncGroupChanged():
                self._on_sync_group(event, now_us, out)
            case Shutdown():
                self._shutdown(now_us, out)
            case HostEntryLost(what=what):
                if self.state is State.MASTER:
                    self._leave_master_to_backup(now_us, out, f"{what} deleted")
        return out

    def on_timer(self, now_us: int) -> list[RouterEffect]:
        """Run whatever is due at ``now_us``."""
        out: list[RouterEffect] = []
        if self._garp_delayed_us is not None and now_us >= self._garp_delayed_us:
            self._garp_delayed_us = None
            if self.state is State.MASTER:
                self._garp(self.params.garp_master_repeat, out)
        if self._garp_lower_delayed_us is not None and now_us >= self._garp_lower_delayed_us:
            self._garp_lower_delayed_us = None
            if self.state is State.MASTER:
                self._garp(self.params.garp_lower_prio_repeat, out)
        if self._sands_us is not None and now_us >= self._sands_us:
            if self.state is State.BACKUP:
                # RFC 5798 §6.4.2: Master_Down_Timer fired.
                self._become_master(now_us, out, self._down_reason)
            elif self.state is State.MASTER:
                # RFC 5798 §6.4.3: Adver_Timer fired.
                self._master_tx(now_us, out)
                self._sands_us = now_us + timers.cs_to_us(self.params.advert_int_cs)
            else:
                self._sands_us = None
        return out

    def reconfigure(self, params: RouterParams, now_us: int) -> list[RouterEffect]:
        """A reload changed this instance's parameters: keep the state (a
        MASTER stays MASTER, its VIPs stay), adopt the new settings."""
        out: list[RouterEffect] = []
        old = self.params
        self.params = params
        self._passed = None
        self._mdi = (-1, -1, 0)
        self.base_priority = params.base_priority
        self._set_effective_priority(now_us, out)
        if self.state is State.MASTER and params.advert_int_cs != old.advert_int_cs:
            self.master_adver_int_cs = params.advert_int_cs
            self._sands_us = now_us + timers.cs_to_us(params.advert_int_cs)
        elif self.state is State.BACKUP and params.version == 2:
            self.master_adver_int_cs = params.advert_int_cs
        if self.state is State.BACKUP and params.nopreempt and not old.nopreempt:
            # The running down timer may be a preemption in progress (lower adverts discarded,
            # RFC 5798 §6.4.2); nopreempt forbids it now: wait a full interval from here, and the
            # master's next advert, whatever its priority, re-arms it.  (Found by the simulator.)
            self._sands_us = now_us + self.master_down_us()
            self._down_reason = "no master heard within Master_Down_Interval"
        return out

    # ------------------------------------------------------------- transitions

    def _transition(self, new: State, reason: str, out: list[RouterEffect]) -> None:
        """The one place that changes ``state``; every change emits StateChanged."""
        old = self.state
        if old is new:
            return
        self.state = new
        self.reason = reason
        self.counters.transitions += 1
        out.append(StateChanged(old, new, reason, self.effective_priority, self.params.name))

    def _try_leave_init(self, now_us: int, out: list[RouterEffect], reason: str) -> None:
        if not self._started:
            return
        if self._tracking.pending:
            return  # stay in INIT until every weight-0 tracker has reported
        if self.faults:
            self._enter_fault(now_us, out, ", ".join(sorted(self.faults)))
            return
        first = not self._ever_left_init
        self._ever_left_init = True
        if first:
            self._start_backup(now_us, out, reason)
        else:
            self._leave_fault(now_us, out, reason)

    def _start_backup(self, now_us: int, out: list[RouterEffect], reason: str) -> None:
        """keepalived's vrrp_init_state(): every instance starts in BACKUP.

        - the address owner with ``state MASTER`` takes over at once (keepalived
          arms a 1 µs down timer);
        - everyone else, ``state MASTER`` included, waits Master_Down_Interval
          (RFC 5798 §6.4.1).  keepalived 2.2.7's shorter wait, one advert
          interval plus the minimal skew, only applies to a member of a sync
          group that is in BACKUP; measured against keepalived 2.2.7, a lone
          ``state MASTER`` instance waits the full interval.
        """
        self.master_adver_int_cs = self.params.advert_int_cs
        if self.params.want_master and self.params.owner:
            down_us = 1
            self._down_reason = "address owner at start"
        else:
            down_us = self.master_down_us()
            self._down_reason = "no master heard within Master_Down_Interval"
        self._enter_backup(now_us, out, reason, down_us)

    def _leave_fault(self, now_us: int, out: list[RouterEffect], reason: str) -> None:
        """keepalived's try_up_instance(): the owner goes straight to MASTER,
        everyone else to BACKUP with a full down timer."""
        self.master_adver_int_cs = self.params.advert_int_cs
        if self.params.want_master and self.params.owner:
            self._become_master(now_us, out, reason)
            return
        gone = self._master_gone(now_us) if self.params.fast_preempt and not self.params.nopreempt else None
        if gone is not None:
            # vipkeeper ``fast_preempt``: our trackers now say we may hold the VIP and no master
            # is there to yield to, so waiting Skew_Time or Master_Down_Interval would only keep
            # the VIP nowhere.  (RFC 5798 §6.4.2's wait lets the best of several backups win;
            # fast_preempt is for clusters whose trackers make one host eligible, vrrp_pgsql or
            # vrrp_dcs.)  A master that is still there wins the election on our first advert.
            self._become_master(now_us, out, f"fast preempt: {reason}, and {gone}")
            return
        self._down_reason = "no master heard within Master_Down_Interval"
        self._enter_backup(now_us, out, reason, self.master_down_us())

    def _enter_backup(self, now_us: int, out: list[RouterEffect], reason: str, down_us: int) -> None:
        self._preempt_time_us = None
        self._sands_us = now_us + down_us
        self._transition(State.BACKUP, reason, out)

    def _become_master(self, now_us: int, out: list[RouterEffect], reason: str) -> None:
        """RFC 5798 §6.4.2 (Master_Down_Timer fires) / keepalived vrrp_state_goto_master()."""
        self.master_adver_int_cs = self.params.advert_int_cs
        self._transition(State.MASTER, reason, out)
        # keepalived sends the advert first, so the old master (if any)
        # releases the VIPs before our gratuitous ARPs go out.
        self._send_advert(self.effective_priority, out)
        out.append(AddVips(self.params.name))
        self._vips_set = True
        self.counters.became_master += 1
        self._garp(self.params.garp_master_repeat, out)
        self._garp_delayed_us = now_us + self.params.garp_master_delay_us if self.params.garp_master_delay_us else None
        self._garp_refresh_us = (
            now_us + self.params.garp_master_refresh_us if self.params.garp_master_refresh_us else None
        )
        self.master_addr = self.src_addr
        self.master_priority = self.effective_priority
        self._sands_us = now_us + timers.cs_to_us(self.params.advert_int_cs)

    def _release(self, out: list[RouterEffect]) -> None:
        if self._vips_set:
            out.append(DelVips(self.params.name))
            self._vips_set = False
            self.counters.released_master += 1
        self._garp_delayed_us = None
        self._garp_lower_delayed_us = None
        self._garp_refresh_us = None

    def _leave_master_to_backup(self, now_us: int, out: list[RouterEffect], reason: str) -> None:
        """keepalived vrrp_state_leave_master(wantstate=BACKUP): no priority-0 advert."""
        self._release(out)
        self._down_reason = "no master heard within Master_Down_Interval"
        self._enter_backup(now_us, out, reason, self.master_down_us())

    def _enter_fault(self, now_us: int, out: list[RouterEffect], reason: str) -> None:
        if self.state is State.MASTER:
            # keepalived: a MASTER going to FAULT resigns with priority 0.
            self._send_advert(PRIORITY_STOP, out)
            self._release(out)
        self._sands_us = None
        self._ever_left_init = True
        self._transition(State.FAULT, reason, out)

    def _reevaluate(self, now_us: int, out: list[RouterEffect], reason: str) -> None:
        """Conditions outside the protocol changed: go to or leave FAULT/INIT."""
        if self.state is State.STOP:
            return
        if self.faults:
            if self.state is not State.FAULT:
                self._enter_fault(now_us, out, ", ".join(sorted(self.faults)))
            return
        if self.state in (State.FAULT, State.INIT):
            self._try_leave_init(now_us, out, reason)

    # ------------------------------------------------------------- sync groups

    def _on_sync_group(self, ev: SyncGroupChanged, now_us: int, out: list[RouterEffect]) -> None:
        """keepalived vrrp_sync.c: a FAULT in one member holds all in FAULT; a
        member becoming MASTER takes the others to MASTER, one falling back to
        BACKUP takes the others to BACKUP."""
        group_faults = frozenset(f"sync group {ev.group}: {m} in FAULT" for m in ev.faults)
        if group_faults != self._group_faults:
            self._group_faults = group_faults
            self._reevaluate(now_us, out, f"sync group {ev.group} ok")
        if ev.want is State.MASTER and self.state is State.BACKUP:
            self._become_master(now_us, out, f"sync group {ev.group}: another member became MASTER")
        elif ev.want is State.BACKUP and self.state is State.MASTER:
            self._leave_master_to_backup(now_us, out, f"sync group {ev.group}: another member left MASTER")

    # ------------------------------------------------------------- tracking

    def _on_tracking(self, t: TrackingChanged, now_us: int, out: list[RouterEffect]) -> None:
        self._tracking = t
        self._set_effective_priority(now_us, out)
        self._reevaluate(now_us, out, "trackers ok")
        if self.state is State.BACKUP and self.params.fast_preempt:
            self._maybe_fast_preempt(now_us, out)

    def _set_effective_priority(self, now_us: int, out: list[RouterEffect]) -> None:
        """keepalived vrrp_set_effective_priority(): clamp to 1..254; the
        address owner's 255 never changes."""
        new = clamp_priority(self.base_priority, self._tracking.offset)
        if new == self.effective_priority:
            return
        old = self.effective_priority
        old_down = self.master_down_us()
        self.effective_priority = new
        out.append(PriorityChanged(old, new, self.params.name, self.state))
        if self.state is State.BACKUP and self._sands_us is not None:
            # Keep the same start point: move the deadline by the skew change.
            self._sands_us += self.master_down_us() - old_down

    def _preempt_allowed(self, now_us: int) -> bool:
        if self.params.nopreempt:
            return False
        if self.params.preempt_delay_us:
            return self._preempt_time_us is not None and now_us >= self._preempt_time_us
        return True

    def _master_gone(self, now_us: int) -> str | None:
        """Why no master is there (for ``fast_preempt`` without ``nopreempt``), or None: the last advert heard was a
        resign (priority 0), or none has come for a Master_Down_Interval.  Nothing heard at all
        (just started) is not "gone": a master may be there, and the start-up wait finds it."""
        if self.last_heard_resign:
            return f"{self.last_advert_src} had resigned (priority 0)"
        if self.last_advert_us is not None and now_us - self.last_advert_us >= self.master_down_us():
            return f"no master heard for {(now_us - self.last_advert_us) / timers.US_PER_S:.3f}s"
        return None

    def _heard_higher_within(self, now_us: int, window_us: int) -> bool:
        heard = self._higher_heard_us
        return heard is not None and now_us - heard < window_us

    def _maybe_fast_preempt(self, now_us: int, out: list[RouterEffect]) -> None:
        """vipkeeper ``fast_preempt``: a BACKUP whose trackers now rank it above the master it
        last heard, or whose master resigned, takes over at once instead of waiting for the
        down timer; a master still there yields on our advert (RFC 5798 §6.4.3)."""
        # With nopreempt the RFC's wait stays: taking over before a higher backup's shorter
        # Skew_Time could lock a lower master in, since nobody would preempt it.
        gone = None if self.params.nopreempt else self._master_gone(now_us)
        if gone is not None:
            self._become_master(now_us, out, f"fast preempt: trackers changed, and {gone}")
            return
        if self.master_priority <= 0 or self.effective_priority <= self.master_priority:
            return
        if self.params.preempt_delay_us and self._preempt_time_us is None:
            self._preempt_time_us = now_us + self.params.preempt_delay_us
        if self._preempt_allowed(now_us):
            self._become_master(
                now_us,
                out,
                f"fast preempt: our priority {self.effective_priority} > master's {self.master_priority}",
            )

    # ------------------------------------------------------------- receive

    def _check_advert(self, ev: AdvertReceived) -> tuple[str, str] | None:
        """Per-instance validation, in keepalived's vrrp_check_packet() order
        (RFC 3768 §7.1, RFC 5798 §7.1).  Returns (reason, detail) or None."""
        adv, p = ev.advert, self.params
        # RFC 5798 §7.1: MUST verify TTL/hop limit 255 (keepalived: not for unicast).
        if not p.unicast and ev.ttl != VRRP_TTL:
            return "bad_ttl", f"TTL {ev.ttl}, expected {VRRP_TTL}"
        if adv.version != p.version:
            return "version_mismatch", f"version {adv.version}, expected {p.version}"
        if p.version == 2:
            # An auth_hmac trailer here has been verified (core.node): then auth type 0 (what
            # keepalived 2.4 and vipkeeper's enforce mode send) is as good as our PASS.
            if adv.auth_type != p.auth_type and not (adv.trailer and adv.auth_type == AUTH_NONE):
                return "auth_type_mismatch", f"auth type {adv.auth_type}, expected {p.auth_type}"
            # RFC 2338 §7.1: compare the NUL-padded 8-byte password, in constant time.
            if adv.auth_type == AUTH_PASS and not _compare_digest(
                adv.auth_data[:8].ljust(8, b"\0"), p.auth_data.ljust(8, b"\0")
            ):
                return "auth_failure", "wrong password"
            # RFC 3768 §7.1: MUST verify the Adver Interval matches.
            if adv.advert_int_cs != p.advert_int_cs:
                return (
                    "interval_mismatch",
                    f"advert interval {adv.advert_int_cs / 100:g}s, ours {p.advert_int_cs / 100:g}s",
                )
        # keepalived vrrp_state_backup(): with skip_check_adv_addr a BACKUP does not check the
        # address count, list or unicast source of adverts from the master it follows.
        check_addr = not (p.skip_check_adv_addr and self.state is State.BACKUP and ev.src == self._backup_master_saddr)
        if check_addr and len(adv.addresses) != len(p.vips):
            return "addr_count", f"{len(adv.addresses)} addresses, expected {len(p.vips)}"
        if ev.multicast == p.unicast:
            want = "unicast" if p.unicast else "multicast"
            return "wrong_cast", f"expected {want}"
        if not check_addr:
            return None
        # RFC 5798 §7.1: MAY verify the addresses (keepalived does).
        if p.vips and set(adv.addresses) != set(p.vips):
            return "addr_list", "address list differs from ours"
        if p.unicast and p.check_unicast_src and ev.src not in p.unicast_peers:
            return "not_a_peer", f"{ev.src} is not a unicast peer"
        if p.unicast and p.check_unicast_src:
            # keepalived vrrp_check_packet(): the peer's min_ttl / max_ttl
            for peer, lo, hi in p.peer_ttl:
                if peer == ev.src and not lo <= ev.ttl <= hi:
                    return "bad_ttl", f"TTL {ev.ttl} not in {lo}-{hi}"
        # keepalived 2.3.3 vrrp_check_packet: "Dropping packet(s) from %s since we are address owner"
        if p.owner_ignore_adverts and self.effective_priority == PRIORITY_OWNER:
            return "owner_ignores", "we are the address owner (owner_ignore_adverts)"
        return None

    def _on_advert(self, ev: AdvertReceived, now_us: int, out: list[RouterEffect]) -> None:
        ok = self._passed
        if ok is None or ok[0] is not ev.advert or ok[1] != ev.src or ok[2] != ev.ttl or ok[3] != ev.multicast:
            # Anything that differs from the last advert that passed (the node hands over the
            # very same Advertisement object only for byte-identical packets) is checked in full.
            bad = self._check_advert(ev)
            if bad is not None:
                reason, detail = bad
                self.counters.drops[reason] = self.counters.drops.get(reason, 0) + 1
                out.append(AdvertDropped(reason, ev.src, detail, self.params.name))
                return
            self._passed = (ev.advert, ev.src, ev.ttl, ev.multicast)
        prio = ev.advert.priority
        self.counters.adverts_received += 1
        if prio == PRIORITY_STOP:
            self.counters.priority_zero_received += 1
        self.last_advert_us = now_us
        self.last_advert_src = ev.src
        self.last_heard_resign = prio == PRIORITY_STOP
        if prio >= self.effective_priority:
            self._higher_heard_us = now_us
        if self.state is State.BACKUP:
            self._backup_rx(ev, now_us, out)
        elif self.state is State.MASTER:
            self._master_rx(ev, now_us, out)
        # INIT / FAULT / STOP: keepalived ignores adverts (we keep last_heard_resign).

    def _backup_rx(self, ev: AdvertReceived, now_us: int, out: list[RouterEffect]) -> None:
        """RFC 5798 §6.4.2 / keepalived vrrp_state_backup()."""
        prio = ev.advert.priority
        if prio == PRIORITY_STOP:
            # Set Master_Down_Timer to Skew_Time.
            self._sands_us = now_us + self.skew_us()
            self._down_reason = f"master {ev.src} resigned (priority 0)"
            return
        delaying = bool(self.params.preempt_delay_us) and (
            self._preempt_time_us is None or self._preempt_time_us > now_us
        )
        if self.params.nopreempt or prio >= self.effective_priority or delaying:
            if self.params.version == 3:
                # RFC 5798 §6.4.2: Master_Adver_Interval := the advert's interval.
                self.master_adver_int_cs = ev.advert.advert_int_cs
            self.master_addr = self._backup_master_saddr = ev.src
            self.master_priority = prio
            if self.params.preempt_delay_us:
                if prio >= self.effective_priority:
                    self._preempt_time_us = None
                elif self._preempt_time_us is None:
                    self._preempt_time_us = now_us + self.params.preempt_delay_us
            self._sands_us = now_us + self.master_down_us()
            nh = self._not_heard
            if nh is None or nh[0] != ev.src:
                nh = self._not_heard = (ev.src, f"master {ev.src} not heard within Master_Down_Interval")
            self._down_reason = nh[1]
            return
        # A lower-priority advert and we may preempt: discard it, so the down
        # timer runs out (RFC 5798 §6.4.2 "Preempt_Mode is True").
        if self._heard_higher_within(now_us, self.master_down_us()):
            # A master at least as high as us was heard within Master_Down_Interval: this lower
            # advert is late (sent before its router yielded) or from a router about to yield.
            # It is not the master we follow, and not one to fast-preempt.  (Found by the
            # simulator: fast_preempt took the VIP over the highest-priority master.)
            return
        self.master_addr = self._backup_master_saddr = ev.src
        self.master_priority = prio
        self._down_reason = f"preempting lower-priority master {ev.src} ({prio} < {self.effective_priority})"
        if self.params.fast_preempt:
            self._become_master(now_us, out, "fast preempt: " + self._down_reason)

    def _master_rx(self, ev: AdvertReceived, now_us: int, out: list[RouterEffect]) -> None:
        """RFC 5798 §6.4.3 / keepalived vrrp_state_master_rx()."""
        prio = ev.advert.priority
        mine = self.effective_priority
        cmp = _addr_cmp(ev.src, self.src_addr)
        higher = prio > mine or (prio == mine and cmp > 0)
        if prio == PRIORITY_STOP or (self.params.higher_prio_send_advert and higher):
            self._send_advert(mine, out)
            self._sands_us = now_us + timers.cs_to_us(self.params.advert_int_cs)
            if prio == PRIORITY_STOP:
                return
        if prio == mine and cmp == 0:
            out.append(
                PeerConflict(f"equal priority advert from {ev.src}, which has our own address", self.params.name)
            )
        elif prio == mine == PRIORITY_OWNER:
            out.append(
                PeerConflict(
                    f"{ev.src} is also configured as address owner (priority 255); lowering ours to 254",
                    self.params.name,
                )
            )
            self.base_priority = self.effective_priority = mine = PRIORITY_OWNER - 1
            higher = True  # their 255 now beats our 254
        if prio < mine or (prio == mine and cmp < 0):
            # A lower-priority router thinks it is master: assert ourselves.
            out.append(MasterRxLowerPri(self.params.name, ev.src, prio, mine))
            if not self.params.lower_prio_no_advert:
                self._send_advert(mine, out)
                self._sands_us = now_us + timers.cs_to_us(self.params.advert_int_cs)
            if self.params.garp_lower_prio_repeat:
                self._garp(self.params.garp_lower_prio_repeat, out)
                if self.params.garp_lower_prio_delay_us:
                    self._garp_lower_delayed_us = now_us + self.params.garp_lower_prio_delay_us
            return
        if higher:
            if self.params.version == 3:
                self.master_adver_int_cs = ev.advert.advert_int_cs
            self.master_addr = ev.src
            self.master_priority = prio
            what = "higher priority" if prio > mine else "same priority and higher address"
            self._leave_master_to_backup(now_us, out, f"{what} advert from {ev.src} ({prio}, ours {mine})")

    # ------------------------------------------------------------- sending

    def _send_advert(self, priority: int, out: list[RouterEffect]) -> None:
        self.counters.adverts_sent += 1
        if priority == PRIORITY_STOP:
            self.counters.priority_zero_sent += 1
        out.append(SendAdvert(priority))

    def _garp(self, count: int, out: list[RouterEffect]) -> None:
        if count > 0 and self.params.vips:
            self.counters.garp_bursts += 1
            out.append(SendGratuitous(count, self.params.garp_interval_us))

    def _master_tx(self, now_us: int, out: list[RouterEffect]) -> None:
        """keepalived vrrp_state_master_tx(): advert, and the GARP refresh when due."""
        self._send_advert(self.effective_priority, out)
        if self._garp_refresh_us is not None and now_us > self._garp_refresh_us:
            self._garp(self.params.garp_master_refresh_repeat, out)
            self._garp_refresh_us = now_us + self.params.garp_master_refresh_us

    def _shutdown(self, now_us: int, out: list[RouterEffect]) -> None:
        if self.state is State.MASTER:
            self._send_advert(PRIORITY_STOP, out)
            self._release(out)
        self._sands_us = None
        self._garp_delayed_us = self._garp_lower_delayed_us = None
        self._transition(State.STOP, "shutdown", out)
