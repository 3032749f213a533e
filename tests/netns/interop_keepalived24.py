"""vipkeeper and keepalived 2.4.3 with ``auth_hmac``: run by hand, not part of ``make test``.

keepalived 2.4.3 is not packaged here and cannot be fetched in CI, so this module is not
collected by ``make test`` (its name does not start with ``test_``).  Build keepalived 2.4.3
from its source outside the repository and name the binary::

    KEEPALIVED24=/path/to/keepalived-2.4.3/bin/keepalived \\
        .venv/bin/python -m pytest -s tests/netns/interop_keepalived24.py

Each case is the whole scenario of tests/netns/test_interop.py (one holder, failover,
preemption, handover by SIGTERM, no complaint in either log, every captured packet decodes),
with the same ``auth_hmac`` block on both sides (and the plain combinations without it), each
side the higher priority in turn.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from lab.conf import section
from lab.netns import Lab
from tests.netns import test_interop as interop

pytestmark = [pytest.mark.netns]

KEY = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def hmac_lines(mode: str) -> tuple[str, ...]:
    return tuple(section("auth_hmac", [f"key 1 {KEY}", "active_key 1", f"mode {mode}"]))


# the plain combinations of test_interop.py, against 2.4.3 (no auth_hmac)
PLAIN = ("v2-pass-unicast", "v2-mcast-noauth", "v3-mcast-v4", "v3-unicast-v4", "v3-mcast-v6", "v3-unicast-v6")

COMBOS = {f"ka24-{name}": interop.COMBOS[name] for name in PLAIN}
COMBOS |= {
    f"ka24-{mode}-v3-unicast-v4": interop.Combo(
        3, "0.1", unicast=True, vk_extra=hmac_lines(mode), ka_extra=hmac_lines(mode)
    )
    for mode in ("receive-only", "permissive", "enforce")
}
COMBOS["ka24-enforce-v3-mcast-v6"] = interop.Combo(
    3, "0.1", family=6, vk_extra=hmac_lines("enforce"), ka_extra=hmac_lines("enforce")
)
COMBOS["ka24-enforce-v2-unicast"] = interop.Combo(
    2, "1", unicast=True, vk_extra=hmac_lines("enforce"), ka_extra=hmac_lines("enforce")
)
COMBOS["ka24-permissive-v3-mcast-v4"] = interop.Combo(
    3, "0.1", vk_extra=hmac_lines("permissive"), ka_extra=hmac_lines("permissive")
)


@pytest.fixture
def keepalived24(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``keepalived`` on PATH is the 2.4.3 build (built without LVS: no ``-P``)."""
    binary = os.environ.get("KEEPALIVED24")
    if not binary:
        pytest.skip("KEEPALIVED24 does not name a keepalived 2.4.3 binary")
    wrapper_dir = tmp_path / "ka24bin"
    wrapper_dir.mkdir()
    wrapper = wrapper_dir / "keepalived"
    wrapper.write_text(f'#!/bin/sh\nfor a; do shift; [ "$a" = "-P" ] || set -- "$@" "$a"; done\nexec {binary} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper_dir}:{os.environ['PATH']}")
    for name, combo in COMBOS.items():
        monkeypatch.setitem(interop.COMBOS, name, combo)


@pytest.mark.parametrize("name, master", [(n, m) for n in COMBOS for m in ("vipkeeper", "keepalived")], ids=lambda x: x)
def test_interop_keepalived24(keepalived24: None, lab: Lab, tmp_path: Path, name: str, master: str) -> None:
    interop.test_interop(lab, tmp_path, name, master)


# ------------------------------------------------------------------ rolling switches, mixed


def _conf(c: interop.Combo, lab: Lab, me: str, peer: str, prio: int, extra: tuple[str, ...]) -> str:
    return interop.instance_conf(
        c,
        me=interop.addr_of(lab, me, c.family),
        peer=interop.addr_of(lab, peer, c.family),
        priority=prio,
        state="BACKUP",
        extra=extra,
    )


def _roll(
    lab: Lab, tmp_path: Path, c: interop.Combo, stages: list[tuple[str, ...]], settle_s: float
) -> tuple[list[list[str]], interop.Side, interop.Side]:
    """A: vipkeeper (150), B: keepalived 2.4.3 (100); each stage's extra lines are written to
    B then A, each reloaded (SIGHUP), ``settle_s`` after each; the VIP sampled every 20 ms."""
    hosts = ("A", "B")
    a = interop.start(lab, tmp_path, "A", "vipkeeper", _conf(c, lab, "A", "B", 150, stages[0]), 150)
    assert lab.wait_for(lambda: interop.only(lab, c.vip, hosts) == ["A"], 15), a.node.log()
    b = interop.start(lab, tmp_path, "B", "keepalived", _conf(c, lab, "B", "A", 100, stages[0]), 100)
    b.wait_backup()
    samples: list[list[str]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(interop.only(lab, c.vip, hosts))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        time.sleep(settle_s)
        for extra in stages[1:]:
            for side, me, peer, prio in ((b, "B", "A", 100), (a, "A", "B", 150)):
                side.node.conf.write_text(_conf(c, lab, me, peer, prio, extra))
                side.node.send_signal(signal.SIGHUP)
                time.sleep(settle_s)
    finally:
        stop.set()
        sampler.join(5)
    return samples, a, b


def test_rolling_switch_with_keepalived24(keepalived24: None, lab: Lab, tmp_path: Path) -> None:
    """keepalived's documented rollout, no legacy auth: nothing, receive-only, permissive,
    enforce, one host at a time: never two holders, never none."""
    c = interop.Combo(3, "0.1", unicast=True)
    stages = [(), hmac_lines("receive-only"), hmac_lines("permissive"), hmac_lines("enforce")]
    samples, a, b = _roll(lab, tmp_path, c, stages, 1.0)
    two = sum(1 for s in samples if len(s) > 1)
    none = sum(1 for s in samples if not s)
    print(f"ROLLING vipkeeper+keepalived 2.4.3: {len(samples)} samples, {two} with two holders, {none} with none")
    assert two == 0 and none == 0
    assert b.masters() == 0, b.node.log()
    a.terminate()
    b.terminate()
    a.wait_exit()
    b.wait_exit()


def test_pass_trap_with_keepalived24(keepalived24: None, lab: Lab, tmp_path: Path) -> None:
    """The trap vipkeeper warns about: VRRPv2 PASS, then auth_hmac receive-only on both.
    keepalived 2.4.3 drops PASS and sends auth type 0; vipkeeper keeps PASS: they refuse each
    other and both hold the VIP (keepalived against keepalived splits the same way)."""
    c = interop.Combo(2, "1", unicast=True, auth_pass="secret")
    stages = [(), hmac_lines("receive-only")]
    samples, a, b = _roll(lab, tmp_path, c, stages, 4.5)
    two = sum(1 for s in samples if len(s) > 1)
    print(f"PASS TRAP vipkeeper+keepalived 2.4.3: {len(samples)} samples, {two} with two holders")
    assert two > 0
    assert "auth_hmac cannot be combined with authentication, dropping legacy auth" in b.node.log()
    a.terminate()
    b.terminate()
    a.wait_exit()
    b.wait_exit()
