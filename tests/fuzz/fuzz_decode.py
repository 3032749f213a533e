#!/usr/bin/env python3
"""atheris (libFuzzer) target: the VRRP decoder and the daemon's receive path.

    pip install atheris
    python tests/fuzz/fuzz_decode.py -atheris_runs=1000000 [-max_len=200] [CORPUS_DIR ...]

Without a corpus directory a temporary one is seeded with valid adverts for every instance of
``tests/fuzz/harness.py``.  Each input is (a) decoded with ``codec.decode`` and
``codec.decode_ipv4_packet``, which may raise only DecodeError, and (b) fed as one received
packet to a real ``VrrpNode.receive`` (see ``harness.packet_from_bytes``): nothing may raise,
the packet must be counted exactly once, and a dropped packet must change nothing.  A failed
check raises, and libFuzzer saves the input as ``crash-*``.

Not part of ``make test``; tests/unit/test_fuzz_targets.py runs TestOneInput on the seeds so the
target keeps working.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT), str(ROOT / "src")):
    if p not in sys.path:
        sys.path.insert(0, p)

try:
    import atheris
except ImportError:  # the seeds still run from tests/unit
    atheris = None

with atheris.instrument_imports() if atheris else contextlib.nullcontext():
    from tests.fuzz import harness
    from vipkeeper.core import codec
    from vipkeeper.errors import DecodeError

_SRC4, _DST4 = IPv4Address("10.0.0.2"), IPv4Address("224.0.0.18")
_SRC6, _DST6 = IPv6Address("fe80::2"), IPv6Address("ff02::12")
_node = None
_inputs = 0
REBUILD_EVERY = 500  # a fresh node now and then: state (MASTER/BACKUP) varies, memory stays bounded


def check_decode(data: bytes) -> None:
    sel = data[0] if data else 0
    payload = data[1:]
    family = 6 if sel & 1 else 4
    src, dst = (_SRC6, _DST6) if family == 6 else (_SRC4, _DST4)
    try:
        adv = codec.decode(
            payload, family=family, src=src, dst=dst, v3_checksum_pseudo=bool(sel & 2), allow_auth_ah=bool(sel & 4)
        )
    except DecodeError as exc:
        assert exc.reason, exc
    else:
        assert adv.version in (2, 3) and 1 <= adv.vrid <= 255 and adv.advert_int_cs > 0
        # what decodes re-encodes to the same bytes (AH aside: encode has no AH header)
        if adv.auth_type != 2:
            again = codec.encode(adv, family=family, src=src, dst=dst, v3_checksum_pseudo=bool(sel & 2))
            assert codec.decode(again, family=family, src=src, dst=dst, v3_checksum_pseudo=bool(sel & 2)) == adv
    try:
        codec.decode_ipv4_packet(payload, v3_checksum_pseudo=bool(sel & 2))
    except DecodeError as exc:
        assert exc.reason, exc


def check_receive_path(data: bytes) -> None:
    global _node, _inputs
    _inputs += 1
    if _node is None or _inputs % REBUILD_EVERY == 0:
        names = sorted(i.name for i in harness.config().instances)
        masters = frozenset(n for i, n in enumerate(names) if (_inputs // REBUILD_EVERY) >> i & 1)
        _node = harness.build(masters)
    h = _node
    pkt = harness.packet_from_bytes(data)
    before, rx, heap = h.node.accounted(), harness.received(h), h.node.timer_queue_len
    snap = harness.snapshot(h)
    effects = h.receive(pkt)
    assert h.node.accounted() == before + 1, f"packet not counted exactly once: {pkt}"
    if harness.received(h) == rx:
        assert harness.snapshot(h) == snap, f"a dropped packet changed an instance: {pkt}"
        assert harness.only_drops(effects), f"a dropped packet had effects: {pkt} {effects}"
        assert h.node.timer_queue_len == heap, f"a dropped packet grew the timer heap: {pkt}"


def TestOneInput(data: bytes) -> None:
    check_decode(data)
    check_receive_path(data)


def seed_inputs() -> list[bytes]:
    """Valid adverts for every harness instance, in the input format of packet_from_bytes."""
    h = harness.build(frozenset())
    out = []
    for name, cfg in sorted(h.cfgs.items()):
        for prio in (0, 1, 100, 200, 255):
            pkt = harness.valid_advert(h, name, priority=prio)
            fam_bit = 1 if pkt.family == 6 else 0
            addr_sel = 1 << 2 if cfg.unicast else 0  # src: the peer; dst: the group, or us if unicast
            out.append(bytes([fam_bit, 0, addr_sel, 0]) + pkt.payload)
    out.append(b"")
    out.append(b"\x00\x00\x00\x00\x21")
    return out


def main(argv: list[str]) -> None:
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris")
    if not [a for a in argv[1:] if not a.startswith("-")]:
        corpus = tempfile.mkdtemp(prefix="vipkeeper-fuzz-decode-")
        for i, seed in enumerate(seed_inputs()):
            Path(corpus, f"seed-{i:03d}").write_bytes(seed)
        argv = [*argv, corpus]
        print(f"corpus: {corpus}", file=sys.stderr)
    import logging

    logging.disable(logging.CRITICAL)
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
