"""The pure part of ``vrrp_dcs``: when the key we rely on can at the earliest pass to another
host, and whether the tracker passes now.  No I/O and no clock: every function takes the
monotonic times it needs, so the tests drive it with a fake clock.  See docs/vrrp_dcs.md.

The arithmetic (both modes):

- A confirmation is one successful request whose answer proves the key is ours: in lock
  mode a lease keep-alive (or grant) answered with ``TTL`` seconds, plus a linearizable read
  showing the key bound to that lease; in follow mode a linearizable read showing our value,
  plus the ``TTL`` etcd reports for the key's lease (``/v3/lease/timetolive``).
- etcd started counting that TTL when the leader *handled* the request, which is after we
  *sent* it: so the lease cannot expire before ``sent + TTL`` of etcd's clock.  etcd truncates
  the remaining TTL it reports to whole seconds, which only makes it shorter.
- Our monotonic clock and the etcd leader's may run at different rates; with a relative rate
  error at most ``CLOCK_RATE_BOUND``, ``TTL`` seconds of etcd's are at least
  ``TTL / (1 + CLOCK_RATE_BOUND)`` of ours.  Hence the earliest moment another host can hold
  the key, in our monotonic clock::

      earliest_loss = sent + TTL / (1 + CLOCK_RATE_BOUND)

- The tracker fails ``margin`` before that (``fail_at = earliest_loss - margin``), so that
  the VIP is gone (tracker -> FAULT -> addresses deleted) before the other host can even own
  the key, let alone raise the VIP.  Between confirmations it keeps passing: an etcd blip
  shorter than ``fail_at - sent`` flaps nothing.
- A key without a lease (written by hand) can change at any moment: nothing bounds it, so
  it is trusted only until the next re-read is due, ``sent + interval + timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Relative rate error allowed between our monotonic clock and the etcd leader's.  NTP slews
#: at most 500 ppm on each side; 1 % leaves room for a badly disciplined VM clock.
CLOCK_RATE_BOUND = 0.01
#: The safety margin: at least this, and a tenth of the TTL for long TTLs.  It covers the time
#: from the tracker failing to the VIP being deleted (a loop turn and a netlink request).
MARGIN_MIN_S = 0.5
MARGIN_TTL_FRACTION = 0.1

#: The longest value shown or compared; a longer one is garbage.
VALUE_MAX_BYTES = 1024


def margin_s(ttl_s: float) -> float:
    return max(MARGIN_MIN_S, MARGIN_TTL_FRACTION * ttl_s)


def earliest_loss_mono(sent_mono: float, ttl_remaining_s: float) -> float:
    """The earliest moment (our monotonic clock) the key can pass to another host."""
    return sent_mono + max(0.0, ttl_remaining_s) / (1.0 + CLOCK_RATE_BOUND)


def fail_at_mono(sent_mono: float, ttl_remaining_s: float, margin: float) -> float:
    """When the tracker stops trusting a confirmation sent at ``sent_mono``."""
    return earliest_loss_mono(sent_mono, ttl_remaining_s) - margin


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The last answer that proved the key ours: when its request was sent, and until when
    it is trusted (``fail_at``, our monotonic clock)."""

    sent_mono: float
    fail_at_mono: float
    ttl_s: float | None  # the lease TTL the answer reported; None: the key has no lease

    @classmethod
    def leased(cls, sent_mono: float, ttl_s: float, ttl_config_s: float) -> Confirmation:
        return cls(sent_mono, fail_at_mono(sent_mono, ttl_s, margin_s(ttl_config_s)), ttl_s)

    @classmethod
    def unleased(cls, sent_mono: float, interval_s: float, timeout_s: float) -> Confirmation:
        return cls(sent_mono, sent_mono + interval_s + timeout_s, None)

    def remaining_s(self, now_mono: float) -> float:
        """How much longer the confirmation is trusted (negative: no more)."""
        return self.fail_at_mono - now_mono


Reading = Literal["ours", "other", "missing", "garbage"]


def classify(raw: bytes | None, expected: str) -> tuple[Reading, str | None]:
    """What a read of the key says: ours, another holder (named), missing, or garbage."""
    if raw is None:
        return "missing", None
    if len(raw) > VALUE_MAX_BYTES:
        return "garbage", f"{len(raw)} bytes"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "garbage", raw[:32].hex()
    text = text.strip()
    if not text.isprintable():
        return "garbage", repr(text[:64])
    return ("ours" if text == expected else "other"), text


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str


def judge(now_mono: float, confirmation: Confirmation | None, etcd_error: str | None, why_not: str | None) -> Verdict:
    """Pass while a confirmation is trusted; otherwise say why not.

    ``confirmation`` is the last proof the key is ours (None: not ours, or never proved),
    ``etcd_error`` the last request's error (None: it succeeded), ``why_not`` what the last
    successful answer said when it did not confirm (another holder, missing key...).
    """
    if confirmation is None:
        if why_not is not None:
            return Verdict(False, why_not)
        return Verdict(False, f"etcd: {etcd_error}" if etcd_error else "not confirmed yet")
    left_s = confirmation.remaining_s(now_mono)
    if left_s <= 0:
        lost = "etcd unreachable" if etcd_error is None else f"etcd: {etcd_error}"
        return Verdict(False, f"{lost}; the key may pass to another host soon: released")
    if etcd_error is not None:
        return Verdict(True, f"etcd: {etcd_error}; still safe for {left_s:.1f} s")
    return Verdict(True, "key confirmed")
