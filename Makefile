# vipkeeper — every target sets up what it needs on a fresh Debian 12 machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS ?=
# make sim SEEDS=N [FIRST=S] [PROFILE=heavy|dcs|dcs-cut|sync]: N simulated histories from seed S (tests/sim); SEED=S: that one
SEEDS ?= 10000
FIRST ?= 0
SEED  ?=
PROFILE ?= default
# what make deb needs (dh-virtualenv builds the package's virtualenv; rst2man the man pages)
DEB_BUILD_PKGS := dpkg-dev build-essential debhelper dh-virtualenv python3-venv python3-docutils
# make test: the integration tests' tools, a real Prometheus (promtool too), a real etcd 3.4
# (the vrrp_dcs lab: server and etcdctl), Patroni 3.0 and vip-manager 1.0 (the vrrp_dcs lab's
# Patroni cluster and the anchor to beat), man, nftables (accept/no_accept), and make deb's
APT_PKGS := iproute2 keepalived tcpdump tshark postgresql-15 postgresql-15-repmgr procps \
            prometheus etcd-server etcd-client patroni vip-manager man-db nftables $(DEB_BUILD_PKGS)

# $(call apt_install,PACKAGES): install the missing ones (apt-get update once, only if needed)
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

.PHONY: demo test unit lint sim bench bench-pg deps sysdeps deb-deps clean deb man

sysdeps:
	$(call apt_install,$(APT_PKGS))
	@# Debian starts a system keepalived/prometheus on install (where systemd runs); vipkeeper's
	@# labs never use them, and the tests' Prometheus listens only inside a lab namespace.
	-@systemctl disable --now keepalived >/dev/null 2>&1 || true
	-@systemctl disable --now prometheus >/dev/null 2>&1 || true
	-@systemctl disable --now etcd >/dev/null 2>&1 || true
	-@systemctl disable --now patroni >/dev/null 2>&1 || true
	-@systemctl disable --now vip-manager >/dev/null 2>&1 || true

deb-deps:
	$(call apt_install,$(DEB_BUILD_PKGS))

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

deps: sysdeps $(STAMP)

test: deps lint
	$(PY) -m pytest -q tests

# ruff (lint + format check) and mypy (strict for src/vipkeeper/core); make test runs it first
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench lab
	$(VENV)/bin/ruff format --check src tests bench lab
	$(VENV)/bin/mypy

# dist/vipkeeper_<version>_<arch>.deb (dh-virtualenv; see packaging/deb/build.sh and debian/)
deb: deb-deps
	packaging/deb/build.sh

# the man pages as the package installs them, from docs/man/*.rst: build/man/
man: deb-deps
	mkdir -p build/man
	rst2man --halt=warning docs/man/vipkeeper.8.rst build/man/vipkeeper.8
	rst2man --halt=warning docs/man/vipkeeper.conf.5.rst build/man/vipkeeper.conf.5

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

# the deterministic simulator (issue 16): histories/s, states and transitions covered, worst convergence
sim: $(STAMP)
	$(PY) -m tests.sim.run --profile $(PROFILE) $(if $(SEED),--seed $(SEED),--seeds $(SEEDS) --first $(FIRST))

demo: deps
	$(PY) -m lab.demo

# make bench BENCH_ARGS="--quick" (or --trials N, --only NAME, --jitter-seconds S; see bench/run.py)
bench: sysdeps $(BENCH_STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

bench-pg: deps
	$(PY) -m bench.pg_promote

clean:
	rm -rf $(VENV) build dist src/*.egg-info
