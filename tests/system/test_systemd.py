"""The systemd unit in the repository, and sd_notify readiness."""

from __future__ import annotations

import configparser
import socket
from pathlib import Path

from vipkeeper.daemon.systemd import sd_notify as _sd_notify

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "vipkeeper.service"


def test_unit_is_type_notify_with_reload_and_restart():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(UNIT)
    svc = cp["Service"]
    assert svc["Type"] == "notify"
    assert "-HUP" in svc["ExecReload"]
    assert svc["Restart"] == "on-failure"
    assert "vipkeeper run" in svc["ExecStart"]
    assert cp["Install"]["WantedBy"] == "multi-user.target"


def test_sd_notify_sends_a_datagram(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    _sd_notify("READY=1\nSTATUS=1 MASTER")
    assert srv.recv(1024) == b"READY=1\nSTATUS=1 MASTER"
    monkeypatch.delenv("NOTIFY_SOCKET")
    _sd_notify("READY=1")  # no socket: nothing happens
    srv.close()
