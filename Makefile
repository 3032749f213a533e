# vipkeeper — every target sets up what it needs on a fresh Debian 12 machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS ?=
APT_PKGS := iproute2 keepalived tcpdump tshark postgresql-15 postgresql-15-repmgr procps \
            prometheus man-db $(DEB_BUILD_PKGS)
# what make deb needs (dh-virtualenv builds the package's virtualenv; rst2man the man pages)
DEB_BUILD_PKGS := dpkg-dev build-essential debhelper dh-virtualenv python3-venv python3-docutils
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
DEB := dist/vipkeeper_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null || echo amd64).deb

.PHONY: demo test unit lint bench bench-pg deps sysdeps clean deb man

sysdeps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@# Debian starts a system keepalived/postgresql on install; vipkeeper's labs never use them.
	-@systemctl disable --now keepalived >/dev/null 2>&1 || true

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
deb: sysdeps
	packaging/deb/build.sh

# the man pages as the package installs them, from docs/man/*.rst: build/man/
man: sysdeps
	mkdir -p build/man
	rst2man --halt=warning docs/man/vipkeeper.8.rst build/man/vipkeeper.8
	rst2man --halt=warning docs/man/vipkeeper.conf.5.rst build/man/vipkeeper.conf.5

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

demo: deps
	$(PY) -m lab.demo

# make bench BENCH_ARGS="--quick" (or --trials N, --only NAME, --jitter-seconds S; see bench/run.py)
bench: sysdeps $(BENCH_STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

bench-pg: deps
	$(PY) -m bench.pg_promote

clean:
	rm -rf $(VENV) build dist src/*.egg-info
