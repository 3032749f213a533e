#!/usr/bin/env bash
# Re-capture the golden VRRP / ARP / NA packets in tests/unit/golden/ from a real keepalived.
#
# Usage (root, Linux, keepalived + tcpdump + iproute2 installed):
#     tests/tools/capture_golden.sh            # writes tests/unit/golden/*.json
#     KEEP=1 tests/tools/capture_golden.sh     # also keep the temp dir (pcap, config, log)
#     OUT=/some/dir tests/tools/capture_golden.sh
#
# The lab is two throwaway network namespaces joined by one veth pair, both ends named eth0,
# created directly inside the namespaces (the root namespace never sees a link):
#
#     vkg-ka-$$   eth0 52:54:00:12:34:01  172.20.0.112/24  fd00::112/64   keepalived runs here
#     vkg-pe-$$   eth0 52:54:00:12:34:02  172.20.0.113/24  fd00::113/64   tcpdump runs here
#
# Fixed MACs make the IPv6 link-local source (EUI-64) and the ARP/NA frames reproducible.
# Nothing is sent outside these two namespaces. Everything is torn down on exit (trap EXIT).
#
# The peer runs no VRRP, so every keepalived instance becomes MASTER after its
# Master_Down_Interval and advertises; stopping keepalived then sends priority-0 adverts,
# which are captured too. A small Python (stdlib only) step turns the pcap into JSON fixtures.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "capture_golden.sh: must run as root" >&2
    exit 1
fi
for tool in keepalived tcpdump ip; do
    command -v "$tool" >/dev/null || { echo "capture_golden.sh: $tool not found" >&2; exit 1; }
done

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(cd "$HERE/../unit" && pwd)/golden}
PYTHON=${PYTHON:-python3}
KA_NS="vkg-ka-$$"
PE_NS="vkg-pe-$$"
KA_MAC=52:54:00:12:34:01
PE_MAC=52:54:00:12:34:02
TMP=$(mktemp -d /tmp/vkg-golden.XXXXXX)
KA_PID=""
TCPDUMP_PID=""

cleanup() {
    set +e
    if [[ -n $KA_PID ]] && kill -0 "$KA_PID" 2>/dev/null; then
        kill -TERM "$KA_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$KA_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$KA_PID" 2>/dev/null
    fi
    # keepalived's VRRP child, should the parent have died without taking it along
    if [[ -s $TMP/vrrp.pid ]]; then
        child=$(cat "$TMP/vrrp.pid")
        kill -0 "$child" 2>/dev/null && kill -KILL "$child" 2>/dev/null
    fi
    if [[ -n $TCPDUMP_PID ]] && kill -0 "$TCPDUMP_PID" 2>/dev/null; then
        kill -INT "$TCPDUMP_PID" 2>/dev/null; sleep 0.3; kill -KILL "$TCPDUMP_PID" 2>/dev/null
    fi
    ip netns del "$KA_NS" 2>/dev/null
    ip netns del "$PE_NS" 2>/dev/null
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "capture_golden.sh: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    if ip netns list | grep -q -e "$KA_NS" -e "$PE_NS"; then
        echo "capture_golden.sh: WARNING: namespaces left behind" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- lab
ip netns add "$KA_NS"
ip netns add "$PE_NS"
ip -n "$KA_NS" link add eth0 type veth peer name eth0 netns "$PE_NS"
for spec in "$KA_NS $KA_MAC 172.20.0.112 fd00::112" "$PE_NS $PE_MAC 172.20.0.113 fd00::113"; do
    read -r ns mac v4 v6 <<<"$spec"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 address "$mac"
    ip -n "$ns" link set eth0 addrgenmode eui64
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.forwarding=0
    ip -n "$ns" addr add "$v4/24" dev eth0
    ip -n "$ns" addr add "$v6/64" dev eth0 nodad
done
ip -n "$KA_NS" link set eth0 up
ip -n "$PE_NS" link set eth0 up

# ---------------------------------------------------------------- keepalived config
# One instance per golden case; the case name is the instance name.
cat >"$TMP/keepalived.conf" <<'EOF'
global_defs {
    router_id vkg_golden
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 1
    vrrp_garp_master_refresh 0
}

# like the user's seed config: VRRPv2, unicast, PASS authentication
vrrp_instance v2_pass_unicast {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    unicast_src_ip 172.20.0.112
    unicast_peer {
        172.20.0.113
    }
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        172.20.0.115
    }
}

vrrp_instance v2_mcast_noauth {
    state MASTER
    interface eth0
    version 2
    virtual_router_id 56
    priority 120
    advert_int 2
    virtual_ipaddress {
        172.20.0.120
        172.20.0.121
        172.20.0.122
    }
}

vrrp_instance v3_mcast_v4 {
    state MASTER
    interface eth0
    version 3
    virtual_router_id 52
    priority 150
    advert_int 1
    virtual_ipaddress {
        172.20.0.116
        172.20.0.117
    }
}

# address owner priority and a sub-second interval (25 centiseconds)
vrrp_instance v3_mcast_v4_owner_fast {
    state MASTER
    interface eth0
    version 3
    virtual_router_id 57
    priority 255
    advert_int 0.25
    virtual_ipaddress {
        172.20.0.123
    }
}

vrrp_instance v3_unicast_v4 {
    state MASTER
    interface eth0
    version 3
    virtual_router_id 54
    priority 110
    advert_int 1
    unicast_src_ip 172.20.0.112
    unicast_peer {
        172.20.0.113
    }
    virtual_ipaddress {
        172.20.0.118
    }
}

# keepalived <= 1.3.6 checksum for VRRPv3 unicast: pseudo-header destination is 224.0.0.18
vrrp_instance v3_unicast_v4_old_checksum {
    state MASTER
    interface eth0
    version 3
    virtual_router_id 55
    priority 111
    advert_int 1
    unicast_src_ip 172.20.0.112
    unicast_peer {
        172.20.0.113
    }
    old_unicast_checksum
    virtual_ipaddress {
        172.20.0.119
    }
}

vrrp_instance v3_mcast_v6 {
    state MASTER
    interface eth0
    version 3
    virtual_router_id 53
    priority 130
    advert_int 1
    virtual_ipaddress {
        fd00::115
        2001:db8::115
    }
}

vrrp_instance v3_unicast_v6 {
    state MASTER
    interface eth0
    version 3
    virtual_router_id 58
    priority 140
    advert_int 1
    unicast_src_ip fd00::112
    unicast_peer {
        fd00::113
    }
    virtual_ipaddress {
        fd00::116
    }
}
EOF

# What each case must decode to, written from the configuration above (not from the capture).
cat >"$TMP/expected.json" <<'EOF'
{
  "v2_pass_unicast": {"family": 4, "version": 2, "vrid": 51, "priority": 100, "advert_int_cs": 100,
      "addresses": ["172.20.0.115"], "auth_type": 1, "auth_data_hex": "3131313100000000",
      "src": "172.20.0.112", "dst": "172.20.0.113", "v3_checksum_pseudo": true},
  "v2_mcast_noauth": {"family": 4, "version": 2, "vrid": 56, "priority": 120, "advert_int_cs": 200,
      "addresses": ["172.20.0.120", "172.20.0.121", "172.20.0.122"], "auth_type": 0,
      "auth_data_hex": "0000000000000000", "src": "172.20.0.112", "dst": "224.0.0.18",
      "v3_checksum_pseudo": true},
  "v3_mcast_v4": {"family": 4, "version": 3, "vrid": 52, "priority": 150, "advert_int_cs": 100,
      "addresses": ["172.20.0.116", "172.20.0.117"], "auth_type": 0, "auth_data_hex": "",
      "src": "172.20.0.112", "dst": "224.0.0.18", "v3_checksum_pseudo": true},
  "v3_mcast_v4_owner_fast": {"family": 4, "version": 3, "vrid": 57, "priority": 255, "advert_int_cs": 25,
      "addresses": ["172.20.0.123"], "auth_type": 0, "auth_data_hex": "",
      "src": "172.20.0.112", "dst": "224.0.0.18", "v3_checksum_pseudo": true},
  "v3_unicast_v4": {"family": 4, "version": 3, "vrid": 54, "priority": 110, "advert_int_cs": 100,
      "addresses": ["172.20.0.118"], "auth_type": 0, "auth_data_hex": "",
      "src": "172.20.0.112", "dst": "172.20.0.113", "v3_checksum_pseudo": true},
  "v3_unicast_v4_old_checksum": {"family": 4, "version": 3, "vrid": 55, "priority": 111, "advert_int_cs": 100,
      "addresses": ["172.20.0.119"], "auth_type": 0, "auth_data_hex": "",
      "src": "172.20.0.112", "dst": "172.20.0.113", "v3_checksum_pseudo": true,
      "checksum_dst": "224.0.0.18"},
  "v3_mcast_v6": {"family": 6, "version": 3, "vrid": 53, "priority": 130, "advert_int_cs": 100,
      "addresses": ["fd00::115", "2001:db8::115"], "auth_type": 0, "auth_data_hex": "",
      "src": "fe80::5054:ff:fe12:3401", "dst": "ff02::12", "v3_checksum_pseudo": true},
  "v3_unicast_v6": {"family": 6, "version": 3, "vrid": 58, "priority": 140, "advert_int_cs": 100,
      "addresses": ["fd00::116"], "auth_type": 0, "auth_data_hex": "",
      "src": "fd00::112", "dst": "fd00::113", "v3_checksum_pseudo": true}
}
EOF

# ---------------------------------------------------------------- capture
ip netns exec "$PE_NS" tcpdump -i eth0 -n -U -s 0 -w "$TMP/capture.pcap" \
    'arp or (ip proto 112) or (ip6 proto 112) or (icmp6 and ip6[40] == 136)' \
    >"$TMP/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
sleep 1.5   # let tcpdump open the interface

ip netns exec "$KA_NS" keepalived -P -n -l -D -G \
    -f "$TMP/keepalived.conf" -p "$TMP/keepalived.pid" -r "$TMP/vrrp.pid" \
    >"$TMP/keepalived.log" 2>&1 &
KA_PID=$!

n_instances=$(grep -c '^vrrp_instance' "$TMP/keepalived.conf")
deadline=$((SECONDS + 30))
while :; do
    n_master=$(grep -c 'Entering MASTER STATE' "$TMP/keepalived.log" || true)
    [[ $n_master -ge $n_instances ]] && break
    if ((SECONDS > deadline)) || ! kill -0 "$KA_PID" 2>/dev/null; then
        echo "capture_golden.sh: only $n_master/$n_instances instances became MASTER" >&2
        cat "$TMP/keepalived.log" >&2
        exit 1
    fi
    sleep 0.2
done
sleep 4.5   # a few more adverts from every instance (the slowest advertises every 2 s)

# stopping keepalived makes every master send a priority-0 advert (RFC 3768/5798 §6.4.3)
kill -TERM "$KA_PID"
for _ in $(seq 100); do kill -0 "$KA_PID" 2>/dev/null || break; sleep 0.1; done
KA_PID=""
sleep 1
kill -INT "$TCPDUMP_PID"
wait "$TCPDUMP_PID" 2>/dev/null || true
TCPDUMP_PID=""

# ---------------------------------------------------------------- pcap -> JSON
mkdir -p "$OUT"
"$PYTHON" - "$TMP/capture.pcap" "$TMP/expected.json" "$TMP/keepalived.conf" "$OUT" \
    "$KA_MAC" "$(keepalived -v 2>&1 | head -n1)" <<'PYEOF'
"""Turn the pcap into one JSON fixture per case (stdlib only)."""
import ipaddress
import json
import re
import struct
import sys
from pathlib import Path

pcap_path, expected_path, conf_path, out_dir, ka_mac, ka_version = sys.argv[1:7]
out = Path(out_dir)
expected = json.loads(Path(expected_path).read_text())
conf = Path(conf_path).read_text()

data = Path(pcap_path).read_bytes()
magic = struct.unpack("<I", data[:4])[0]
endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
linktype = struct.unpack(endian + "I", data[20:24])[0]
assert linktype == 1, f"expected Ethernet captures, got linktype {linktype}"
frames = []
off = 24
while off + 16 <= len(data):
    _sec, _usec, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
    frames.append(data[off + 16:off + 16 + incl])
    off += 16 + incl


def mac(b):
    return ":".join(f"{x:02x}" for x in b)


def instance_block(name):
    m = re.search(r"^vrrp_instance " + re.escape(name) + r" \{.*?^\}", conf, re.S | re.M)
    return m.group(0)


adverts = {}   # (family, vrid) -> list of packet dicts
garps, nas = [], []
for fr in frames:
    etype = struct.unpack("!H", fr[12:14])[0]
    l3 = fr[14:]
    if etype == 0x0800 and l3[9] == 112:
        ihl = (l3[0] & 0x0F) * 4
        tot = struct.unpack("!H", l3[2:4])[0]
        ip = l3[:tot]
        payload = ip[ihl:]
        key = (4, payload[1])
        pkt = {"src": str(ipaddress.IPv4Address(ip[12:16])),
               "dst": str(ipaddress.IPv4Address(ip[16:20])),
               "ttl": ip[8], "priority": payload[2]}
    elif etype == 0x86DD and l3[6] == 112:
        plen = struct.unpack("!H", l3[4:6])[0]
        ip = l3[:40 + plen]
        payload = ip[40:]
        key = (6, payload[1])
        pkt = {"src": str(ipaddress.IPv6Address(ip[8:24])),
               "dst": str(ipaddress.IPv6Address(ip[24:40])),
               "ttl": ip[7], "priority": payload[2]}
    elif etype == 0x0806:
        garps.append(fr)
        continue
    elif etype == 0x86DD and l3[6] == 58 and l3[40] == 136:
        nas.append(fr)
        continue
    else:
        continue
    pkt.update({"eth_src": mac(fr[6:12]), "eth_dst": mac(fr[0:6]),
                "ip_packet_hex": ip.hex(), "payload_hex": payload.hex()})
    adverts.setdefault(key, []).append(pkt)

written = []
for case, exp in expected.items():
    pkts = adverts.get((exp["family"], exp["vrid"]), [])
    normal = [p for p in pkts if p["priority"] != 0][:2]
    stop = [p for p in pkts if p["priority"] == 0][:1]
    if len(normal) < 2:
        sys.exit(f"{case}: captured only {len(normal)} adverts")
    fixture = {
        "case": case,
        "captured_from": ka_version,
        "keepalived_config": instance_block(case),
        "expected": exp,
        # two consecutive adverts, then (when captured) the priority-0 advert sent on shutdown
        "packets": normal + stop,
    }
    (out / f"advert_{case}.json").write_text(json.dumps(fixture, indent=2) + "\n")
    written.append(f"advert_{case}.json ({len(normal)}+{len(stop)})")


def first_frame(frames, match, what):
    for fr in frames:
        if match(fr):
            return fr
    sys.exit(f"no {what} captured")


garp = first_frame(garps, lambda f: f[38:42] == ipaddress.IPv4Address("172.20.0.115").packed, "GARP for 172.20.0.115")
na = first_frame(nas, lambda f: f[14 + 48:14 + 64] == ipaddress.IPv6Address("fd00::115").packed, "NA for fd00::115")
(out / "garp_172.20.0.115.json").write_text(json.dumps({
    "captured_from": ka_version, "mac": ka_mac, "ip": "172.20.0.115",
    "frame_hex": garp.hex()}, indent=2) + "\n")
(out / "na_fd00--115.json").write_text(json.dumps({
    "captured_from": ka_version, "mac": ka_mac, "ip": "fd00::115",
    "ipv6_forwarding": False, "frame_hex": na.hex()}, indent=2) + "\n")
written += ["garp_172.20.0.115.json", "na_fd00--115.json"]
print("wrote", ", ".join(written), "to", out)
PYEOF
