# Host state of each etcd member after converge (pytest-testinfra, run by verify.yml over
# the scenario's Molecule inventory): the service, the data dir and key modes and owners,
# the client port, and the names in the peer certificate.
#   pytest --hosts=ansible://etcd --ansible-inventory=$MOLECULE_INVENTORY_FILE molecule/etcd/tests
import ipaddress

import pytest
from cryptography import x509

PKI = "/etc/etcd/pki"


@pytest.fixture(scope="module")
def node_ip(hostvars):
    return hostvars["kubebin_node_ip"]


def test_etcd_service_active_and_enabled(host):
    etcd = host.service("etcd")
    assert etcd.is_running
    assert etcd.is_enabled


def test_data_dir_0700_etcd(host):
    data = host.file("/var/lib/etcd")
    assert data.is_directory
    assert (data.mode, data.user, data.group) == (0o700, "etcd", "etcd")


def test_keys_0600_owned_by_etcd(host):
    for name in ("server-key.pem", "peer-key.pem", "healthcheck-client-key.pem"):
        key = host.file(f"{PKI}/{name}")
        assert (key.mode, key.user) == (0o600, "etcd"), name


def test_client_port_listening_on_node_ip(host, node_ip):
    assert host.socket(f"tcp://{node_ip}:2379").is_listening


def test_peer_certificate_names(host, hostvars, node_ip):
    cert = x509.load_pem_x509_certificate(host.file(f"{PKI}/peer.pem").content)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = set(san.get_values_for_type(x509.IPAddress))
    assert ipaddress.ip_address(node_ip) in ips
    assert ipaddress.ip_address("127.0.0.1") in ips
    assert hostvars["inventory_hostname"] in san.get_values_for_type(x509.DNSName)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
