# Host state of each balancer after converge and side effect (pytest-testinfra, run by
# verify.yml over the scenario's Molecule inventory): haproxy active and enabled, its files'
# modes and owners, the CA copy equal to the controller's CA, the backends taken from the
# masters group, a listener on 127.0.0.1 only, the root-only runtime socket showing both
# apiservers UP, requests through the balancer answered by both, and the drain agent on the
# masters only. Few commands per host: stat and ss once, shared (molecule/conftest.py picks
# the backend: `podman exec`, or one Ansible call per command with the ansible backend).
#   pytest --hosts=ansible://all --ansible-inventory=$MOLECULE_INVENTORY_FILE molecule/loadbalancer/tests
import hashlib
import json
import re

import pytest

PROBE = "python3 /usr/local/lib/kbm-lb-test/lbprobe.py --port {port} {args}"
CFG = "/etc/haproxy/haproxy.cfg"
CA = "/etc/haproxy/kubebin-ca.pem"
SOCKET = "/run/haproxy-kubebin.sock"
DROPIN = "/etc/systemd/system/kube-apiserver.service.d/50-kubebin-lb-drain.conf"
AGENT_PORT = 6445


@pytest.fixture(scope="module")
def hvars(hostvars):
    return hostvars


@pytest.fixture(scope="module")
def masters(hvars):
    return sorted(hvars["groups"]["masters"])


@pytest.fixture(scope="module")
def stats(host):
    """path -> (octal mode, user, group, file type) of the files the role makes (one stat)."""
    out = host.run("stat -c '%%n|%%a|%%U|%%G|%%F' %s %s %s %s", CFG, CA, SOCKET, DROPIN).stdout
    return {f[0]: (int(f[1], 8), f[2], f[3], f[4]) for f in (line.split("|") for line in out.splitlines()) if len(f) == 5}


@pytest.fixture(scope="module")
def listening(host):
    return host.socket.get_listening_sockets()


def _probe(host, hvars, args):
    return json.loads(host.check_output(PROBE.format(port=hvars["kubebin_apiserver_lb_port"], args=args)))


def _active_enabled(host, unit):
    return host.run("systemctl is-active %s; systemctl is-enabled %s", unit, unit).stdout.split()


def test_haproxy_active_and_enabled(host):
    assert _active_enabled(host, "haproxy") == ["active", "enabled"]


def test_config_file_mode_owner_and_valid(host, stats):
    assert stats.get(CFG) == (0o644, "root", "root", "regular file")
    assert host.run("haproxy -c -q -f %s", CFG).rc == 0


def test_ca_copy_is_the_cluster_ca(host, hvars, stats):
    assert stats.get(CA) == (0o644, "root", "root", "regular file")
    with open(f"{hvars['kubebin_pki_dir']}/ca.pem", "rb") as local:
        assert host.check_output("sha256sum %s", CA).split()[0] == hashlib.sha256(local.read()).hexdigest()


def test_backends_are_the_masters(host, inventory, masters):
    # Every master at kubebin_node_ip:6443, checked with the drain agent, and again as an
    # unchecked backup (fail open); nothing else.
    ips = {m: inventory.get_variables(m)["kubebin_node_ip"] for m in masters}
    servers = re.findall(r"^\s*server\s+(\S+)\s+(\S+)(.*)$", host.file(CFG).content_string, re.M)
    checked = {(n, a) for n, a, rest in servers if "backup" not in rest and f"agent-port {AGENT_PORT}" in rest}
    backups = {(n, a) for n, a, rest in servers if re.search(r"\bbackup\b", rest) and "no-check" in rest}
    assert checked == {(m, f"{ips[m]}:6443") for m in masters}
    assert backups == {(f"{m}-fallback", f"{ips[m]}:6443") for m in masters}
    assert len(servers) == 2 * len(masters)


def test_listens_on_loopback_only(hvars, listening):
    port = hvars["kubebin_apiserver_lb_port"]
    ours = [s for s in listening if s.rsplit(":", 1)[-1] == str(port)]
    assert ours == [f"tcp://127.0.0.1:{port}"]


def test_runtime_socket_root_only(stats):
    assert stats.get(SOCKET) == (0o600, "root", "root", "socket")


def test_every_apiserver_up(host, hvars, masters):
    servers = _probe(host, hvars, "servers")
    for m in masters:
        assert servers[m]["status"] == "UP", (m, servers[m])
        assert servers[m]["check_status"] == "L7OK", (m, servers[m])
        assert servers[f"{m}-fallback"]["status"] == "no check", servers[f"{m}-fallback"]


def test_readyz_through_the_balancer(host, hvars):
    # The client verifies the apiserver's certificate (CA copy, name "kubernetes"): TLS
    # passes through haproxy untouched.
    assert _probe(host, hvars, "get /readyz 1") == [[200, "ok"]]


def test_requests_reach_every_master(host, hvars, masters):
    answers = _probe(host, hvars, "get /backend 6")
    assert {answer[0] for answer in answers} == {200}, answers
    assert sorted({answer[1] for answer in answers}) == masters


def test_drain_agent_on_masters_only(host, hvars, masters, stats, listening):
    on_agent_port = [s for s in listening if s.rsplit(":", 1)[-1] == str(AGENT_PORT)]
    if hvars["inventory_hostname"] in masters:
        assert _active_enabled(host, "kubebin-lb-agent") == ["active", "enabled"]
        assert on_agent_port == [f"tcp://{hvars['kubebin_node_ip']}:{AGENT_PORT}"]
        assert stats.get(DROPIN) == (0o600, "root", "root", "regular file")
        answer = host.check_output(
            "python3 -c 'import socket, sys; print(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).recv(64).decode().strip())' %s %s",
            hvars["kubebin_node_ip"], str(AGENT_PORT))
        assert answer == "ready"
    else:
        assert _active_enabled(host, "kubebin-lb-agent")[0] != "active"
        assert DROPIN not in stats
        assert not on_agent_port
