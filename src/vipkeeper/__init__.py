"""vipkeeper: a VRRP daemon that keeps a virtual IP on the right host."""

__version__ = "0.1.0"
