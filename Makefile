# kubebin.cluster — developer entry points.
#   make test      set up .venv and run every test rung: the ones that need no lab
#                  (make check), then the day-2 scenario on a lab (make e2e-ci)
#   make lab-up    build the upstream components, start the local lab (see docs/lab.md)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
VPY := $(VENV)/bin/python
# Where `make collection` puts the copy that ansible-test, ansible-lint and pytest run in;
# `make static` gives each of its parallel checks a COLL_BASE of its own.
COLL_BASE ?= $(CURDIR)/build
COLL_ROOT := $(COLL_BASE)/ansible_collections/kubebin/cluster
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLL_BASE)
export ANSIBLE_PYTHON_INTERPRETER := $(VPY)

.PHONY: test static venv unit unit-lab sanity lint integration collection build-tarball bench bench-deploy e2e-ha e2e-vip conformance clean \
	controlplane-binaries controlplane-up controlplane-down controlplane-status \
	deploy e2e e2e-ci e2e-os e2e-etcd-timer e2e-own-playbook e2e-shrink e2e-proxy-modes molecule molecule-ci cis check lab-setup lab-image lab-build lab-build-all lab-up lab-down lab-status lab-ssh lab-ping

# Every rung, one after the other, each timed; the times are printed at the end (also on a
# failure) and kept in build/test-times.txt (.ci/run prints them too). The static rung's
# four checks run at once; their own times follow its line.
TEST_RUNGS := venv static integration lab-build-all e2e-ci molecule-ci
test:
	@mkdir -p build && : > build/test-times.txt; t0=$$(date +%s); rc=0; \
	for r in $(TEST_RUNGS); do s=$$(date +%s); \
	  $(MAKE) --no-print-directory $$r || rc=$$?; \
	  printf '%-14s %5ss %s\n' "$$r" $$(( $$(date +%s) - s )) "$$([ $$rc = 0 ] && echo ok || echo FAILED)" >> build/test-times.txt; \
	  if [ $$r = static ] && [ -f $(STATIC_DIR)/times.txt ]; then sed 's/^/  /' $(STATIC_DIR)/times.txt >> build/test-times.txt; fi; \
	  [ $$rc = 0 ] || break; done; \
	printf '%-14s %5ss\n' total $$(( $$(date +%s) - t0 )) >> build/test-times.txt; \
	echo "=== make test: time of each rung"; cat build/test-times.txt; \
	[ $$rc = 0 ] && echo "make test: all rungs passed"; exit $$rc

# Every rung that needs no lab host (a local control plane on 127.0.0.1 for integration).
check: venv static integration
	@echo "make check: unit, sanity, lint, package and integration passed"

# unit, sanity, lint and package at the same time (none needs a host; 153 s one after the
# other, 98 s together on 2 cores, CI 2026-12-03), each on a collection copy of its own
# (ansible-test writes tests/output into its copy, which ansible-lint must not read). Each
# check's output goes to build/static/<check>.log, printed in full when the check fails;
# each one's time and result to build/static/times.txt.
STATIC_CHECKS := unit sanity lint package
STATIC_DIR := $(CURDIR)/build/static
static: venv
	@rm -rf $(STATIC_DIR) && mkdir -p $(STATIC_DIR); \
	for c in $(STATIC_CHECKS); do \
	  ( s=$$(date +%s); rc=0; \
	    $(MAKE) --no-print-directory $$c COLL_BASE=$(STATIC_DIR)/$$c > $(STATIC_DIR)/$$c.log 2>&1 || rc=$$?; \
	    printf '%-12s %5ss %s\n' $$c $$(( $$(date +%s) - s )) "$$([ $$rc = 0 ] && echo ok || echo FAILED)" > $(STATIC_DIR)/$$c.time ) & \
	done; wait; rc=0; \
	for c in $(STATIC_CHECKS); do \
	  cat $(STATIC_DIR)/$$c.time >> $(STATIC_DIR)/times.txt; \
	  if ! grep -q ' ok$$' $(STATIC_DIR)/$$c.time; then rc=1; echo "=== make $$c FAILED; its output:"; cat $(STATIC_DIR)/$$c.log; fi; \
	done; \
	cat $(STATIC_DIR)/times.txt; exit $$rc

# The venv is rebuilt only when tests/requirements.txt changes.
venv: $(VENV)/.stamp
$(VENV)/.stamp: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r tests/requirements.txt
	cp tests/requirements.txt $@

# ansible-test needs the collection under ansible_collections/<ns>/<name>;
# copy the working tree (tracked + untracked, minus ignored files) there. hack/ (the lab
# tooling, stdlib scripts run on the build host) and its tests (tests/hack/) are not
# collection content and are left out, so ansible-test's module rules do not apply to them.
collection:
	rm -rf $(COLL_ROOT) && mkdir -p $(COLL_ROOT)
	git ls-files -co --exclude-standard -z | grep -zvE '^(build|hack|collections|tests/hack)/' | xargs -0 cp --parents -t $(COLL_ROOT)
	cd $(COLL_ROOT) && git init -q && git add -A

unit: venv collection unit-lab
	cd $(COLL_ROOT) && PYTHONPATH=$(ANSIBLE_COLLECTIONS_PATH) $(VPY) -m pytest -q -p no:cacheprovider --import-mode=importlib tests/unit; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc

# The lab tooling's pure parts (hack/lab/kubebin_lab/) and the version pins (versions.env =
# the roles' defaults), from the checkout: the collection copy has no hack/. A few seconds.
unit-lab: venv
	$(VPY) -m pytest -q -p no:cacheprovider tests/hack

# ansible-test bootstraps pip in its sanity venvs with a script it downloads from a
# host we cannot reach; give it our offline equivalent under the cached name.
PIP_BOOTSTRAP_CACHE := $(HOME)/.ansible/test/cache
sanity: venv collection
	mkdir -p $(PIP_BOOTSTRAP_CACHE)
	for v in $$(grep -ohP "pip='\K[0-9.]+" $(VENV)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | sort -u); do \
	  cp tests/sanity/pip_bootstrap.py $(PIP_BOOTSTRAP_CACHE)/get_pip_$${v//./_}.py; done
	cd $(COLL_ROOT) && ansible-test sanity --local --python 3.11 --color no $(SANITY_ARGS)

# ansible-lint reads the user's ~/.ansible/collections before ANSIBLE_COLLECTIONS_PATH: an
# installed kubebin.cluster there (an older tarball, a molecule prerun) would be linted
# instead of this tree (new filters reported unknown). It runs with a HOME of its own.
LINT_HOME := $(CURDIR)/build/lint-home
lint: venv collection
	mkdir -p $(LINT_HOME)
	cd $(COLL_ROOT) && HOME=$(LINT_HOME) ansible-lint --offline -q

# The API targets (bootstrap_token, csr_approve) need a kube-apiserver: build (or reuse from
# the cache) Kubernetes and etcd, then start a local control plane on 127.0.0.1
# (tests/integration/controlplane.py; docs/testing.md). ansible-test passes no environment
# to targets, so its address goes into integration_config.yml of the collection copy.
CP := $(VPY) $(CURDIR)/tests/integration/controlplane.py
K8S_VERSION := $(shell sed -n 's/^KUBERNETES_VERSION=//p' hack/lab/versions.env)
integration: venv collection controlplane-binaries
	$(CP) up
	$(CP) env --format yaml > $(COLL_ROOT)/tests/integration/integration_config.yml
	rc=0; cd $(COLL_ROOT) && ansible-test integration --local --python 3.11 --color no $(INTEGRATION_ARGS) || rc=$$?; \
	  if [ -z "$(CP_KEEP)" ]; then $(CP) down; fi; exit $$rc

controlplane-binaries:
	$(PYTHON) hack/lab/build.py kubernetes --k8s-version $(K8S_VERSION)
	$(PYTHON) hack/lab/build.py etcd

controlplane-up: venv controlplane-binaries
	$(CP) up

controlplane-down:
	$(CP) down

controlplane-status:
	$(CP) status

build-tarball: venv
	ansible-galaxy collection build --force --output-path build/

# The built tarball installs, and ansible-doc shows every module's documentation from it.
package: build-tarball
	rm -rf build/installed && mkdir -p build/installed
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/installed ansible-galaxy collection install --force --offline -p build/installed build/kubebin-cluster-$$(grep '^version:' galaxy.yml | awk '{print $$2}').tar.gz
	for m in $$(ls plugins/modules/*.py | xargs -n1 basename | sed 's/[.]py$$//'); do \
	  ANSIBLE_NOCOLOR=1 ANSIBLE_COLLECTIONS_PATH=build/installed ansible-doc kubebin.cluster.$$m | grep -q '^OPTIONS' \
	    || { echo "ansible-doc kubebin.cluster.$$m shows no OPTIONS"; exit 1; }; \
	  echo "ansible-doc kubebin.cluster.$$m: ok"; done
	if tar -tzf build/kubebin-cluster-*.tar.gz | grep -E '^(tests|molecule|hack|benchmarks)/'; then \
	  echo "the tarball contains test-only content (see build_ignore in galaxy.yml)"; exit 1; fi

bench: venv collection
	cd $(COLL_ROOT) && PYTHONPATH=$(ANSIBLE_COLLECTIONS_PATH) $(VPY) benchmarks/pki_bench.py

# Deploy benchmark on fresh labs (benchmarks/deploy_bench.py): first run, no-op, --check,
# the drift test; BENCH_TOPOLOGY=small,wide,ha for all three. Figures: docs/performance.md.
BENCH_TOPOLOGY ?= small
bench-deploy: venv lab-build
	$(PYTHON) benchmarks/deploy_bench.py --topology $(BENCH_TOPOLOGY)

LAB_ARGS ?=
lab-setup:
	$(PYTHON) hack/lab/lab.py setup

lab-image:
	$(PYTHON) hack/lab/lab.py image

# What a deploy needs: the pinned Kubernetes version and the other components. The
# previous Kubernetes minor (for the upgrade test only) is built by lab-build-all.
lab-build:
	$(PYTHON) hack/lab/build.py all --k8s-version $(K8S_VERSION)

lab-build-all:
	$(PYTHON) hack/lab/build.py all

lab-up: lab-build
	$(PYTHON) hack/lab/lab.py up $(LAB_ARGS)

lab-ssh:
	$(PYTHON) hack/lab/lab.py ssh $(HOST)

# Deploy a real cluster on the local lab (the default target of a first run).
deploy: venv collection lab-up
	ansible-playbook -i "$$($(PYTHON) hack/lab/lab.py inventory)" site.yml

# The cluster proof on the lab: site.yml twice (the second must be changed=0), then verify.
e2e: venv collection lab-build
	bash tests/e2e/lab_e2e.sh

# The day-2 scenario on one fresh lab "ci" (tests/e2e/ci_e2e.sh): deploy 1.36.4, upgrade to
# 1.37.1 under a probe, add and remove a node, etcd backup and restore, site.yml changed=0,
# verify. Part of `make test`.
e2e-ci: venv collection build-tarball lab-build-all
	bash tests/e2e/ci_e2e.sh

# A second OS (tests/e2e/os_e2e.sh; figures in docs/testing.md): the cluster proof (site.yml,
# changed=0 re-run, each host's OS, verify.yml) on Debian 13 hosts (lab $(OS_LAB_13)), then on
# a mixed cluster, Debian 12 master and Debian 13 nodes (lab $(OS_LAB_MIX)); each lab removed
# after (OS_E2E_KEEP=1 keeps it). OS_E2E_SCENARIOS="mixed" picks. Not in `make test`.
OS_LAB_13 ?= t13
OS_LAB_MIX ?= tmix
e2e-os: venv collection lab-build
	OS_LAB_13=$(OS_LAB_13) OS_LAB_MIX=$(OS_LAB_MIX) bash tests/e2e/os_e2e.sh

# etcd restore from a snapshot made by kubebin-etcd-backup.timer, on the deployed lab
# KUBEBIN_LAB_NAME (tests/e2e/backup_restore_e2e.sh with BACKUP_E2E_SOURCE=hosts; figures in
# docs/testing.md). Not in `make test`: CI's backup step restores a controller snapshot and
# checks the timer's snapshots, retention and a refused restore of a named one.
e2e-etcd-timer: venv collection
	BACKUP_E2E_SOURCE=hosts bash tests/e2e/backup_restore_e2e.sh

# The example playbook of docs/using-roles.md deploys from scratch as an operator, then
# re-runs with changed=0 (tests/e2e/own_playbook_e2e.sh; figures in docs/testing.md).
e2e-own-playbook: venv build-tarball lab-build
	bash tests/e2e/own_playbook_e2e.sh

# From 3 masters (etcd on each) + 1 node to 2 masters with remove_master.yml, refusals included,
# then site.yml changed=0 (tests/e2e/shrink_masters_e2e.sh on lab $(SHRINK_LAB); figures in
# docs/testing.md). Not in `make test` (about 15 minutes).
SHRINK_LAB ?= shrink
e2e-shrink: venv collection lab-build
	SHRINK_LAB=$(SHRINK_LAB) bash tests/e2e/shrink_masters_e2e.sh

# kube-proxy modes on lab $(PROXY_LAB) (tests/e2e/proxy_modes_e2e.sh; figures in docs/testing.md):
# deploy in nftables mode, checks (rules, pod IP, ClusterIP, NodePort, DNS), switch to
# iptables, checks, back to nftables, checks, changed=0, ipvs refused (--check and real).
# Not in `make test` (about 40 min on a shared 2-core machine).
PROXY_LAB ?= nf
e2e-proxy-modes: venv collection lab-build
	KUBEBIN_LAB_NAME=$(PROXY_LAB) bash tests/e2e/proxy_modes_e2e.sh

# The Molecule role scenarios (tests/e2e/molecule.sh, molecule/README.md), one at a time on
# lab KUBEBIN_LAB_NAME (default "mol"; removed at the end), each scenario's time printed.
# MOLECULE_SCENARIOS="etcd" picks (default: all). `make test`'s last rung, molecule-ci, runs
# MOLECULE_CI_SCENARIOS: those that fit CI's time budget (figures: docs/testing.md section 4).
MOLECULE_SCENARIOS ?= os_prep docker etcd loadbalancer master
MOLECULE_CI_SCENARIOS ?= os_prep docker etcd loadbalancer master
molecule-ci:
	$(MAKE) --no-print-directory molecule MOLECULE_SCENARIOS="$(MOLECULE_CI_SCENARIOS)"
molecule: venv lab-build
	MOLECULE_SCENARIOS="$(MOLECULE_SCENARIOS)" bash tests/e2e/molecule.sh

# CIS Kubernetes Benchmark (kube-bench) on every host of the deployed lab KUBEBIN_LAB_NAME:
# 0 FAIL wanted (tests/e2e/cis_e2e.sh; our settings in docs/security.md).
cis: venv
	bash tests/e2e/cis_e2e.sh

lab-ping: venv
	ansible -i "$$($(PYTHON) hack/lab/lab.py inventory)" all -m ping

lab-down:
	$(PYTHON) hack/lab/lab.py down

lab-status:
	$(PYTHON) hack/lab/lab.py status

# The HA proof (tests/e2e/ha_failover.sh, docs/testing.md section 6): 3 masters + 2 nodes on
# lab $(HA_LAB), deploy, graceful apiserver stops and a power-off under a probe, quorum loss.
# Heavy (not in CI). HA_ASSERT_ZERO=true fails on any lost probe request; HA_POWEROFFS=N
# powers the masters off N times in all (HA_WINDOW s of probe each, default 30).
HA_LAB ?= ha
e2e-ha: venv lab-build
	HA_LAB=$(HA_LAB) bash tests/e2e/ha_failover.sh

# The API server VIP proof (tests/e2e/vip_e2e.sh, docs/testing.md): 3 masters + 1 node on lab
# $(VIP_LAB), bad VIPs refused, deploy with kubebin_apiserver_vip, kubectl through the VIP,
# the VIP holder powered off under a probe (time until the VIP answers again), rejoin,
# changed=0, then the VIP switched off (keepalived stopped, the VIP gone) and changed=0.
# Heavy (not in CI).
VIP_LAB ?= vp
e2e-vip: venv collection lab-build
	VIP_LAB=$(VIP_LAB) bash tests/e2e/vip_e2e.sh

# A focused [Conformance] run of upstream e2e.test (tests/e2e/conformance.sh, docs/testing.md
# "Conformance"): build.py e2e (e2e.test, ginkgo, test images), lab $(CONFORMANCE_LAB) up,
# site.yml, the test images imported, then networking/DNS/services/pods/kubectl/auth/
# secrets/configmaps specs; prints passed/failed/skipped and the time. Not in `make test`.
CONFORMANCE_LAB ?= conf
conformance: venv collection lab-build
	CONFORMANCE_LAB=$(CONFORMANCE_LAB) bash tests/e2e/conformance.sh

clean:
	rm -rf build .pytest_cache
