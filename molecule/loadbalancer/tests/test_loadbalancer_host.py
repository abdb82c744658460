# Host state of each balancer after converge and side effect (pytest-testinfra, run by
# verify.yml over the scenario's Molecule inventory): haproxy active and enabled, its files'
# modes and owners, the CA copy equal to the controller's CA, the backends taken from the
# masters group, a listener on 127.0.0.1 only, the root-only runtime socket showing both
# apiservers UP, requests through the balancer answered by both, and the drain agent on the
# masters only.
#   pytest --hosts=ansible://all --ansible-inventory=$MOLECULE_INVENTORY_FILE molecule/loadbalancer/tests
import json
import re

import pytest

PROBE = "python3 /usr/local/lib/kbm-lb-test/lbprobe.py --port {port} {args}"
CFG = "/etc/haproxy/haproxy.cfg"
CA = "/etc/haproxy/kubebin-ca.pem"
SOCKET = "/run/haproxy-kubebin.sock"
AGENT_PORT = 6445


@pytest.fixture(scope="module")
def hvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def masters(hvars):
    return sorted(hvars["groups"]["masters"])


def _probe(host, hvars, args):
    out = host.check_output(PROBE.format(port=hvars["kubebin_apiserver_lb_port"], args=args))
    return json.loads(out)


def test_haproxy_active_and_enabled(host):
    haproxy = host.service("haproxy")
    assert haproxy.is_running
    assert haproxy.is_enabled


def test_config_file_mode_owner_and_valid(host):
    cfg = host.file(CFG)
    assert (cfg.mode, cfg.user, cfg.group) == (0o644, "root", "root")
    assert host.run(f"haproxy -c -q -f {CFG}").rc == 0


def test_ca_copy_is_the_cluster_ca(host, hvars):
    ca = host.file(CA)
    assert (ca.mode, ca.user, ca.group) == (0o644, "root", "root")
    with open(f"{hvars['kubebin_pki_dir']}/ca.pem", "rb") as local:
        assert ca.content == local.read()


def test_backends_are_the_masters(host, hvars, masters):
    # Every master at kubebin_node_ip:6443, checked with the drain agent, and again as an
    # unchecked backup (fail open); nothing else.
    ips = {m: host.backend.ansible_runner.get_variables(m)["kubebin_node_ip"] for m in masters}
    servers = re.findall(r"^\s*server\s+(\S+)\s+(\S+)(.*)$", host.file(CFG).content_string, re.M)
    checked = {(n, a) for n, a, rest in servers if "backup" not in rest and f"agent-port {AGENT_PORT}" in rest}
    backups = {(n, a) for n, a, rest in servers if re.search(r"\bbackup\b", rest) and "no-check" in rest}
    assert checked == {(m, f"{ips[m]}:6443") for m in masters}
    assert backups == {(f"{m}-fallback", f"{ips[m]}:6443") for m in masters}
    assert len(servers) == 2 * len(masters)


def test_listens_on_loopback_only(host, hvars):
    port = hvars["kubebin_apiserver_lb_port"]
    ours = [s for s in host.socket.get_listening_sockets() if s.rsplit(":", 1)[-1] == str(port)]
    assert ours == [f"tcp://127.0.0.1:{port}"]


def test_runtime_socket_root_only(host):
    sock = host.file(SOCKET)
    assert sock.is_socket
    assert (sock.mode, sock.user) == (0o600, "root")


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


def test_drain_agent_on_masters_only(host, hvars, masters):
    agent = host.service("kubebin-lb-agent")
    dropin = host.file("/etc/systemd/system/kube-apiserver.service.d/50-kubebin-lb-drain.conf")
    if hvars["inventory_hostname"] in masters:
        assert agent.is_running and agent.is_enabled
        assert host.socket(f"tcp://{hvars['kubebin_node_ip']}:{AGENT_PORT}").is_listening
        assert (dropin.mode, dropin.user) == (0o600, "root")
        answer = host.check_output(
            "python3 -c 'import socket, sys; print(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).recv(64).decode().strip())' %s %s",
            hvars["kubebin_node_ip"], AGENT_PORT)
        assert answer == "ready"
    else:
        assert not agent.is_running
        assert not dropin.exists
        assert not [s for s in host.socket.get_listening_sockets() if s.endswith(f":{AGENT_PORT}")]
