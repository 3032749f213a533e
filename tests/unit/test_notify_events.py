"""keepalived's notify FIFO lines and scripts beyond plain state changes (issue 13), as
vrrp_notify.c writes them (``%s "%s" %s %d\\n``): MASTER_RX_LOWER_PRI, MASTER_PRIORITY /
BACKUP_PRIORITY (``notify_priority_changes``), DELETED / FAULT for an instance a reload deletes
(``notify_deleted``); and the configuration of those keywords."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from tests.unit.linked import US, params
from tests.unit.test_node import advert, become_master, node_with
from vipkeeper.config.load import parse_string
from vipkeeper.config.model import Notify
from vipkeeper.core.events import MasterRxLowerPri, PriorityChanged, State, StateChanged
from vipkeeper.daemon.app import Daemon
from vipkeeper.daemon.effects import EffectRunner
from vipkeeper.daemon.notify import Notifier

PEER = ipaddress.IPv4Address("10.0.0.2")


class Fixture:
    def __init__(self, tmp_path: Path, notify: Notify, priority_changes: bool) -> None:
        self.fifo = str(tmp_path / "fifo")
        self.notifier = Notifier(fifos=[self.fifo], run_as=None, env={})
        self.notifier.open()
        self.reader = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.runner = EffectRunner(
            sockets={},
            vips={},
            notifier=lambda: self.notifier,
            notify_of=lambda kind, name: notify,
            ifname_of=lambda name: "eth0",
            priority_changes_of=lambda name: priority_changes,
        )

    def lines(self) -> list[str]:
        try:
            return os.read(self.reader, 65536).decode().splitlines()
        except BlockingIOError:
            return []

    def jobs(self) -> list[list[str]]:
        out = []
        while not self.notifier._queue.empty():
            out.append(self.notifier._queue.get_nowait().argv)
        return out

    def close(self) -> None:
        os.close(self.reader)
        self.notifier.close()


@pytest.fixture
def fx(tmp_path: Path):
    made: list[Fixture] = []

    def make(notify: Notify | None = None, priority_changes: bool = False) -> Fixture:
        made.append(Fixture(tmp_path, notify or Notify(), priority_changes))
        return made[-1]

    yield make
    for f in made:
        f.close()


def test_master_rx_lower_pri_line_and_script(fx) -> None:
    f = fx(Notify(master_rx_lower_pri="/bin/lower.sh arg"))
    f.runner.run([MasterRxLowerPri("VI_1", PEER, 100, 150)])
    assert f.lines() == ['INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150']
    assert f.jobs() == [["/bin/lower.sh", "arg"]]  # no arguments added (send_event_notify)


def test_priority_changes_only_when_asked(fx) -> None:
    f = fx(priority_changes=True)
    f.runner.run(
        [
            PriorityChanged(100, 120, "VI_1", State.MASTER),
            PriorityChanged(120, 90, "VI_1", State.BACKUP),
            PriorityChanged(90, 80, "VI_1", State.FAULT),
        ]
    )
    assert f.lines() == [
        'INSTANCE "VI_1" MASTER_PRIORITY 120',
        'INSTANCE "VI_1" BACKUP_PRIORITY 90',
        'INSTANCE "VI_1" BACKUP_PRIORITY 80',
    ]
    g = fx(priority_changes=False)
    g.runner.run([PriorityChanged(100, 120, "VI_1", State.MASTER)])
    assert g.lines() == []


def _deleted(fx, notify: Notify, old: State) -> tuple[list[str], list[list[str]]]:
    f = fx(notify)
    f.runner.deleting.add("VI_1")
    f.runner.run([StateChanged(old, State.STOP, "removed", 100, "VI_1")])
    return f.lines(), f.jobs()


def test_a_deleted_instance_is_notified_as_fault_by_default(fx) -> None:
    notify = Notify(fault="/bin/fault.sh", stop="/bin/stop.sh", any="/bin/notify.sh")
    lines, jobs = _deleted(fx, notify, State.MASTER)
    assert lines == ['INSTANCE "VI_1" FAULT 100']
    assert jobs == [["/bin/fault.sh"], ["/bin/notify.sh", "INSTANCE", "VI_1", "FAULT", "100"]]
    # ... and not at all when it already was in FAULT (vrrp.c clear_diff_vrrp)
    assert _deleted(fx, notify, State.FAULT) == ([], [])


def test_notify_deleted_sends_deleted(fx) -> None:
    notify = Notify(fault="/bin/fault.sh", any="/bin/notify.sh", notify_deleted=True, deleted="/bin/deleted.sh")
    for old in (State.MASTER, State.FAULT):
        lines, jobs = _deleted(fx, notify, old)
        assert lines == ['INSTANCE "VI_1" DELETED 100']
        assert jobs == [["/bin/deleted.sh"], ["/bin/notify.sh", "INSTANCE", "VI_1", "DELETED", "100"]]


def test_a_stop_outside_a_reload_stays_stop(fx) -> None:
    f = fx(Notify(stop="/bin/stop.sh"))
    f.runner.run([StateChanged(State.MASTER, State.STOP, "shutdown", 100, "VI_1")])
    assert f.lines() == ['INSTANCE "VI_1" STOP 100'] and f.jobs() == [["/bin/stop.sh"]]


def test_the_core_reports_a_lower_advert_to_a_master() -> None:
    p = params("VI_1", base_priority=150)
    node = node_with(p)
    node.start(0)
    become_master(node, "VI_1")
    out = node.receive(advert(p, 100), 5 * US)
    assert [e for e in out if isinstance(e, MasterRxLowerPri)] == [MasterRxLowerPri("VI_1", PEER, 100, 150)]
    assert not [e for e in node.receive(advert(p, 200), 6 * US) if isinstance(e, MasterRxLowerPri)]


CONF = """
global_defs {
    %s
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress { 172.20.0.115 }
    notify_master_rx_lower_pri "/bin/lower.sh x"
    notify_deleted /bin/deleted.sh
    %s
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 100
    virtual_ipaddress { 172.20.0.116 }
    notify_deleted
}
vrrp_sync_group G {
    group { VI_1 VI_2 }
    %s
}
"""


@pytest.mark.parametrize(
    "glob, inst, group, want",
    [
        ("", "", "", False),
        ("vrrp_notify_priority_changes", "", "", True),
        ("vrrp_notify_priority_changes", "", "notify_priority_changes false", False),
        ("", "notify_priority_changes", "notify_priority_changes off", True),
        ("vrrp_notify_priority_changes", "notify_priority_changes no", "", False),
        ("", "", "notify_priority_changes", True),
    ],
)
def test_notify_priority_changes_instance_then_group_then_global(tmp_path, glob, inst, group, want) -> None:
    cfg, diags = parse_string(CONF % (glob, inst, group))
    assert [d for d in diags if d.severity == "error"] == []
    d = Daemon(cfg, state_dir=tmp_path)
    d.instances = {i.name: i for i in cfg.instances}
    assert d._priority_changes("VI_1") is want


def test_notify_keywords_are_parsed() -> None:
    cfg, diags = parse_string(CONF % ("", "", ""))
    assert diags == []
    n1, n2 = cfg.instances[0].notify, cfg.instances[1].notify
    assert n1.master_rx_lower_pri == "/bin/lower.sh x"
    assert (n1.notify_deleted, n1.deleted) == (True, "/bin/deleted.sh")
    assert (n2.notify_deleted, n2.deleted) == (True, None)
