"""keepalived's numeric constants (keepalived/include/vrrp.h, lib/timer.h) the parser checks against."""

from __future__ import annotations

VRRP_PRIO_OWNER = 255
VRRP_PRIO_DFL = 100
VRRP_ADVER_DFL_US = 1_000_000
VRRP_DOWN_TIMER_ADVERTS = 3
VRRP_AUTH_LEN = 8
TIMER_MAX_SEC = 1000
UINT_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
IFNAMSIZ = 16  # linux/if.h: interface names are at most 15 bytes
US_PER_S = 1_000_000
US_PER_CS = 10_000
DEFAULT_MTU = 1500  # keepalived's DEFAULT_MTU, used when the interface is unknown
MAX_VIPS = 255  # the advert's address count is 8 bits
