# swarmscope — the two commands a user needs are `make demo` and `make test`.
# Everything else here is a step those two take, exposed for people working on swarmscope.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SWARMSCOPE := $(VENV)/bin/swarmscope
DEBIAN_PACKAGES := $(shell awk '!/^\#/ && NF {print $$1}' drivers/lab/debian-packages.txt)

.PHONY: help setup debian-packages venv test lint typecheck check-generated ansible-check unit demo bench-exporter bench render clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: debian-packages venv  ## install Debian packages (when root and missing) and the Python virtual environment

debian-packages:  ## apt-get install what the lab and tests need, only what is missing
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "swarmscope: missing Debian packages:$$missing (run 'make setup' as root)" >&2; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed  ## the virtual environment with swarmscope, its extras and the dev tools

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[control,lab,dev]'
	touch $@

test: setup lint typecheck check-generated ansible-check unit  ## everything CI runs

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

check-generated: venv  ## fail when a file generated from thresholds.yaml drifted
	$(SWARMSCOPE) render --check

# From ansible/, so ansible.cfg and .ansible-lint (production profile, offline) apply.
ansible-check: venv  ## ansible-playbook --syntax-check and ansible-lint on ansible/
	cd ansible && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ANSIBLE_CONFIG=ansible.cfg \
	  ansible-playbook --syntax-check -i inventory.example.yml site.yml
	cd ansible && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ansible-lint --nocolor -q

unit: venv
	$(PY) -m pytest $(PYTEST_ARGS)

render: venv  ## regenerate prometheus rules and grafana dashboards from thresholds.yaml
	$(SWARMSCOPE) render

demo: setup  ## build the lab, run every benchmark, write the report, tear the lab down
	$(SWARMSCOPE) demo

bench-exporter: setup  ## swarmlet-exporter vs node_exporter: memory and scrape time
	$(PY) benchmarks/bench_exporter.py

.PHONY: bench-mesh-accuracy bench-mesh-throughput bench-mesh-cost
bench-mesh-accuracy: setup  ## mesh probes against ping and the injected delay, 1-50 ms (root; own lab)
	$(PY) benchmarks/bench_mesh_accuracy.py

bench-mesh-throughput: setup  ## Locust 1 KB messages on a 1 Gbit/s link: utilisation (root; own lab)
	$(PY) benchmarks/bench_mesh_throughput.py

bench-mesh-cost: setup  ## swarmlet-exporter memory and CPU with 0, 5 and 20 mesh peers
	$(PY) benchmarks/bench_mesh_cost.py

.PHONY: bench-lab
bench-lab: setup  ## the lab: up/down time and memory at 6 and 20 nodes, each link profile measured (root)
	$(PY) -m drivers.lab.bench

bench: bench-exporter bench-mesh-accuracy bench-mesh-throughput bench-mesh-cost  ## every benchmark that prints figures

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
