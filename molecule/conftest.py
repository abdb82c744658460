# How the scenarios' pytest-testinfra tests (molecule/*/tests) reach their hosts, and where
# they read the inventory's variables. Loaded for every scenario: molecule/pytest.ini makes
# this directory pytest's rootdir.
#
# verify.yml runs `pytest --hosts=ansible://GROUP --ansible-inventory=$MOLECULE_INVENTORY_FILE`.
# testinfra's ansible backend runs a command over the connection it knows (ssh, docker, local):
# the scenarios' hosts are reached over SSH (molecule.yml's connection_options), so testinfra
# runs their commands over one shared SSH connection per host. It would send every command to
# a host of the podman driver's own connection (ansible_connection podman) through a whole
# `ansible` run: 1 - 3 s a command, minutes a scenario. Such a host is reached here with
# testinfra's podman backend instead (`podman exec` into the container the driver made, named
# like the inventory host): the same commands, as root, a fraction of a second each.
# KUBEBIN_TESTINFRA_BACKEND=ansible keeps testinfra's ansible backend (to compare the two).
from __future__ import annotations

import os
from typing import Any

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

# Connections of Molecule's podman driver (the short name is what its inventory writes).
PODMAN_CONNECTIONS = frozenset({"podman", "containers.podman.podman"})
BACKEND_ENV = "KUBEBIN_TESTINFRA_BACKEND"
_NAMES = pytest.StashKey[dict]()


def inventory_file(config: pytest.Config) -> str | None:
    return config.option.ansible_inventory or os.environ.get("MOLECULE_INVENTORY_FILE")


def host_spec(name: str, hostvars: dict[str, Any]) -> str:
    """The testinfra host of inventory host `name`: podman:// for a podman connection."""
    if hostvars.get("ansible_connection") not in PODMAN_CONNECTIONS:
        return f"ansible://{name}"
    user = hostvars.get("ansible_user")
    return f"podman://{user + '@' if user else ''}{hostvars.get('ansible_host', name)}"


def pytest_configure(config: pytest.Config) -> None:
    """Replace each ansible://PATTERN of --hosts by its hosts, podman:// where they are
    containers (unless KUBEBIN_TESTINFRA_BACKEND=ansible)."""
    config.stash[_NAMES] = {}
    backend = os.environ.get(BACKEND_ENV, "auto")
    if backend not in ("auto", "ansible"):
        raise pytest.UsageError(f"{BACKEND_ENV}={backend!r}: 'auto' (the default) or 'ansible'")
    if not config.option.hosts or backend == "ansible":
        return
    runner = AnsibleRunner.get_runner(inventory_file(config))
    specs = []
    for spec in config.option.hosts.split(","):
        if not spec.startswith("ansible://") or "?" in spec:
            specs.append(spec)
            continue
        for name in runner.get_hosts(spec.removeprefix("ansible://")):
            hostvars = runner.get_variables(name)
            specs.append(host_spec(name, hostvars))
            config.stash[_NAMES][hostvars.get("ansible_host", name)] = name
    config.option.hosts = ",".join(specs)


def pytest_report_header(config: pytest.Config) -> str:
    return f"testinfra hosts: {config.option.hosts}"


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> AnsibleRunner:
    """The scenario's inventory: inventory.get_variables(name) has any host's variables."""
    return AnsibleRunner.get_runner(inventory_file(pytestconfig))


@pytest.fixture(scope="module")
def hostvars(host, inventory: AnsibleRunner, pytestconfig: pytest.Config) -> dict[str, Any]:
    """The inventory variables of the host under test (with inventory_hostname, groups)."""
    name = host.backend.get_hostname()  # the container's name, or the ansible backend's host
    return inventory.get_variables(pytestconfig.stash[_NAMES].get(name, name))
