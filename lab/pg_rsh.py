#!/usr/bin/python3
"""A stand-in for ssh between lab hosts, so ``repmgr standby switchover`` can run.

repmgr runs remote commands as ``ssh -o Batchmode=yes [ssh_options] HOST COMMAND``
(through ``sh -c``, so the first ``ssh`` on PATH).  This machine has no sshd; the
lab puts this file on the postgres user's PATH as ``ssh`` and runs it as a small
command server (``serve``) as postgres inside every host's namespace, on the
host's lab address.  Only the lab's namespaces can reach it, and every request
must carry the token in a file only postgres can read.

Self-contained (standard library only): it runs as the postgres user, which
need not be able to read vipkeeper's installation.  Test infrastructure only.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import subprocess
import sys

_WITH_VALUE = set("BbcDEeFIiJLlmOopQRSWw")


def parse_ssh_args(argv: list[str]) -> tuple[str, str]:
    """(host, command) from ssh's command line."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a.startswith("-") and len(a) > 1:
            flag = a[1]
            if flag in _WITH_VALUE and len(a) == 2:
                i += 2
            else:
                i += 1
            continue
        break
    if i >= len(argv):
        raise SystemExit("ssh (vipkeeper lab): no host given")
    host = argv[i].rsplit("@", 1)[-1]
    return host, " ".join(argv[i + 1 :])


def _token(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def client(argv: list[str], port: int, token_file: str) -> int:
    host, command = parse_ssh_args(argv)
    req = json.dumps({"token": _token(token_file), "cmd": command or "true"}).encode() + b"\n"
    try:
        with socket.create_connection((host, port), timeout=10) as s:
            s.settimeout(600)
            s.sendall(req)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError as exc:
        print(f"ssh: connect to host {host} port {port}: {exc}", file=sys.stderr)
        return 255
    try:
        reply = json.loads(data)
    except ValueError:
        print(f"ssh: bad reply from {host}", file=sys.stderr)
        return 255
    sys.stdout.write(reply.get("out", ""))
    sys.stderr.write(reply.get("err", ""))
    return int(reply.get("rc", 255))


def serve(addr: str, port: int, token_file: str) -> int:
    token = _token(token_file)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                req = json.loads(self.rfile.readline())
            except ValueError:
                return
            if req.get("token") != token:
                self.wfile.write(json.dumps({"rc": 255, "err": "permission denied\n"}).encode())
                return
            proc = subprocess.run(
                ["sh", "-c", req.get("cmd", "true")], stdin=subprocess.DEVNULL, capture_output=True, text=True
            )
            self.wfile.write(json.dumps({"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr}).encode())

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    with Server((addr, port), Handler) as srv:
        print(f"ready on {addr}:{port}", flush=True)
        srv.serve_forever()
    return 0


def main() -> int:
    port = int(os.environ.get("VIPKEEPER_RSH_PORT", "2222"))
    token_file = os.environ.get("VIPKEEPER_RSH_TOKEN", "")
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve":
        return serve(sys.argv[2], port, token_file)
    return client(sys.argv[1:], port, token_file)


if __name__ == "__main__":
    sys.exit(main())
