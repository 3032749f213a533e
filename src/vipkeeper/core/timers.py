"""VRRP timer arithmetic, in integer microseconds.

All protocol math is done in integers.  keepalived keeps its timers in
microseconds (``TIMER_HZ`` = 1,000,000), and so do we: centiseconds are too
coarse for v3 skew (at ``advert_int 0.05`` and priority 100 the skew is
30.47 ms).  The one conversion point from configuration units (centiseconds)
is :func:`cs_to_us`.
"""

from __future__ import annotations

US_PER_S = 1_000_000
US_PER_CS = 10_000


def cs_to_us(value_cs: int) -> int:
    return value_cs * US_PER_CS


def skew_us(version: int, priority: int, master_adver_int_cs: int) -> int:
    """Skew_Time.

    RFC 3768 §6.1 (v2): ``(256 - Priority) / 256`` seconds.
    RFC 5798 §6.1 (v3): ``((256 - Priority) * Master_Adver_Interval) / 256``.
    """
    return _skew_calc_us(version, 256 - priority, master_adver_int_cs)


def _skew_calc_us(version: int, prio_val: int, master_adver_int_cs: int) -> int:
    if version == 3:
        return prio_val * master_adver_int_cs * US_PER_CS // 256
    return prio_val * US_PER_S // 256


def master_down_us(version: int, priority: int, master_adver_int_cs: int, down_timer_adverts: int = 3) -> int:
    """Master_Down_Interval: ``down_timer_adverts * Master_Adver_Interval + Skew_Time``.

    RFC 3768 §6.1 and RFC 5798 §6.1 fix the multiplier at 3; keepalived's
    ``down_timer_adverts`` makes it configurable (1..100).
    """
    return down_timer_adverts * cs_to_us(master_adver_int_cs) + skew_us(version, priority, master_adver_int_cs)
