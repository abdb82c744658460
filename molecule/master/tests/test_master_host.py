# The control plane of the master scenario, checked on the real host and from the controller
# (pytest-testinfra, run by verify.yml over the scenario's Molecule inventory):
#   pytest --hosts=ansible://masters --ansible-inventory=$MOLECULE_INVENTORY_FILE molecule/master/tests
# Each check compares with a value the role cannot fake: systemd's view of the units, the
# mode of every file, the certificate's SANs, HTTP answers over TLS verified by the cluster
# CA, the bytes etcd stores for a Secret, the audit log's lines, the process's command line.
# The only writes are a probe Secret and ConfigMap in `default`, deleted at the end.
import base64
import ipaddress
import json
import os
import secrets
import shlex
import ssl
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

SERVICES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
CONFIG = "/etc/kubernetes"
PKI = "/etc/kubernetes/pki"
ADMIN = f"{CONFIG}/admin.kubeconfig"
KUBECTL = f"/usr/local/bin/kubectl --kubeconfig={ADMIN}"
ETCDCTL = (
    "/usr/local/bin/etcdctl --cacert=/etc/etcd/pki/ca.pem --cert=/etc/etcd/pki/healthcheck-client.pem"
    " --key=/etc/etcd/pki/healthcheck-client-key.pem --endpoints=https://127.0.0.1:2379"
)
AUDIT_LOG = "/var/log/kubernetes/audit/audit.log"


@pytest.fixture(scope="module")
def hv(hostvars):
    """The host's inventory variables (molecule.yml; fixture of molecule/conftest.py)."""
    return hostvars


@pytest.fixture(scope="module")
def api(hv):
    return f"https://{hv['kubebin_node_ip']}:6443"


@pytest.fixture(scope="module")
def controller_pki(hv):
    """The PKI directory on the controller (kubebin_pki_dir)."""
    return hv["kubebin_pki_dir"]


def _get(url, cafile, cert=None):
    """(status, body) of a GET verified by `cafile` (host name checked), with an optional
    client certificate (stem in the controller PKI dir)."""
    ctx = ssl.create_default_context(cafile=cafile)
    if cert:
        ctx.load_cert_chain(f"{cert}.pem", f"{cert}-key.pem")
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:  # noqa: S310 (https only)
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _listing(host):
    """{path: (mode, user, group, type)} of the control plane's files, in one command."""
    out = host.check_output(
        "find /etc/kubernetes /var/log/kubernetes/audit /etc/systemd/system -maxdepth 2"
        " \\( -path '/etc/systemd/system/*' -a ! -name 'kube*' \\) -prune -o -printf '%m %u %g %y %p\\n'"
    )
    files = {}
    for line in out.splitlines():
        mode, user, group, kind, path = line.split(" ", 4)
        files[path] = (int(mode, 8), user, group, kind)
    return files


@pytest.fixture(scope="module")
def files(host):
    return _listing(host)


# --- systemd ---

@pytest.mark.parametrize("name", SERVICES)
def test_service_active_and_enabled(host, name):
    svc = host.service(name)
    assert svc.is_running, f"{name} is not running"
    assert svc.is_enabled, f"{name} is not enabled"


def test_no_kubelet_on_a_master_that_is_not_a_node(host):
    # kubebin_masters_are_nodes: false: the node role is not part of the master's job.
    assert not host.file("/etc/systemd/system/kubelet.service").exists
    assert not host.file("/usr/local/bin/kubelet").exists
    assert not host.service("kubelet").is_running


@pytest.mark.parametrize("name", SERVICES)
def test_unit_file_0600_root_with_the_lab_nofile_limit(files, host, name):
    path = f"/etc/systemd/system/{name}.service"
    assert files.get(path, (None,))[:3] == (0o600, "root", "root"), f"{path}: {files.get(path)}"
    assert "LimitNOFILE=20000" in host.file(path).content_string


# --- file modes (docs/security.md: keys 0600, certificates 0644, PKI directory 0700) ---

def test_pki_dir_0700_and_every_key_0600_root(files):
    assert files[PKI] == (0o700, "root", "root", "d")
    keys = sorted(p for p in files if p.startswith(f"{PKI}/") and p.endswith("-key.pem"))
    # kube-apiserver, apiserver-kubelet-client, apiserver-etcd-client, front-proxy-client,
    # sa, ca (controller manager's signer), controller-manager and scheduler serving keys
    assert len(keys) == 8, keys
    wrong = {k: files[k] for k in keys if files[k][:3] != (0o600, "root", "root")}
    assert not wrong, wrong


def test_certificates_and_public_key_0644_root(files):
    certs = sorted(p for p in files if p.startswith(f"{PKI}/") and not p.endswith("-key.pem"))
    # the three CAs, kube-apiserver and its three client certificates, the controller
    # manager's and scheduler's serving certificates, and sa.pub
    assert len(certs) == 10, certs
    wrong = {c: files[c] for c in certs if files[c][:3] != (0o644, "root", "root")}
    assert not wrong, wrong


@pytest.mark.parametrize("name", [
    "admin.kubeconfig", "kube-controller-manager.kubeconfig", "kube-scheduler.kubeconfig",
    "encryption-config.yaml",
])
def test_credentials_and_encryption_config_0600_root(files, name):
    assert files.get(f"{CONFIG}/{name}", (None,))[:3] == (0o600, "root", "root"), files.get(f"{CONFIG}/{name}")


@pytest.mark.parametrize("name", ["authentication-config.yaml", "audit-policy.yaml", "kube-scheduler.yaml"])
def test_other_configuration_root_owned_not_writable_by_others(files, name):
    mode, user, group, kind = files[f"{CONFIG}/{name}"]
    assert (user, group, kind) == ("root", "root", "f")
    assert mode & 0o022 == 0, oct(mode)


def test_csr_approver_key_readable_by_its_user_only(files):
    assert files[f"{CONFIG}/csr-approver/client-key.pem"][:3] == (0o600, "kubebin-csr-approver", "root")
    assert files[f"{CONFIG}/csr-approver"][:3] == (0o750, "root", "kubebin-csr-approver")


def test_audit_log_dir_0700_root(files):
    assert files["/var/log/kubernetes/audit"] == (0o700, "root", "root", "d")


def test_no_static_token_file(files):
    assert f"{CONFIG}/token.csv" not in files


# --- the API server certificate ---

def test_apiserver_certificate_names_and_issuer(host, hv, controller_pki):
    cert = x509.load_pem_x509_certificate(host.file(f"{PKI}/kube-apiserver.pem").content)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = set(san.get_values_for_type(x509.IPAddress))
    first_service_ip = ipaddress.ip_network(hv["kubebin_service_cidr"])[1]
    assert str(first_service_ip) == "10.32.0.1"  # molecule.yml's range, not the default
    for ip in (hv["kubebin_node_ip"], "127.0.0.1", str(first_service_ip)):
        assert ipaddress.ip_address(ip) in ips, (ip, ips)
    dns = set(san.get_values_for_type(x509.DNSName))
    for name in ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local", hv["inventory_hostname"]):
        assert name in dns, (name, dns)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    with open(os.path.join(controller_pki, "ca.pem"), "rb") as handle:
        ca = x509.load_pem_x509_certificate(handle.read())
    cert.verify_directly_issued_by(ca)  # raises when another CA signed it


# --- the API over TLS, from the controller ---

def test_readyz_200_over_tls_verified_by_the_cluster_ca(api, controller_pki):
    status, body = _get(f"{api}/readyz", os.path.join(controller_pki, "ca.pem"))
    assert (status, body) == (200, "ok")


def test_tls_fails_against_another_ca(api, controller_pki):
    # The same request trusting the etcd CA must fail: the check above means something.
    with pytest.raises(urllib.error.URLError) as err:
        _get(f"{api}/readyz", os.path.join(controller_pki, "etcd-ca.pem"))
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)


@pytest.mark.parametrize("path", ["/version", "/api", "/api/v1/namespaces/kube-system/secrets"])
def test_anonymous_request_refused(api, controller_pki, path):
    status = _get(f"{api}{path}", os.path.join(controller_pki, "ca.pem"))[0]
    assert status in (401, 403), status


def test_admin_client_certificate_accepted(api, controller_pki):
    # Positive control of the refusals above: the same path with the admin certificate.
    status, body = _get(f"{api}/api/v1/namespaces/kube-system/secrets", os.path.join(controller_pki, "ca.pem"),
                        cert=os.path.join(controller_pki, "admin"))
    assert status == 200 and json.loads(body)["kind"] == "SecretList"


# --- on the host, with the admin kubeconfig ---

def test_admin_kubeconfig_0600_root(host):
    f = host.file(ADMIN)
    assert (f.mode, f.user, f.group) == (0o600, "root", "root")


def test_kubectl_livez_with_the_admin_kubeconfig(host):
    assert host.check_output(f"{KUBECTL} get --raw /livez") == "ok"


@pytest.mark.parametrize("lease", ["kube-controller-manager", "kube-scheduler"])
def test_components_hold_their_leader_lease(host, hv, lease):
    holder = host.check_output(f"{KUBECTL} -n kube-system get lease {lease} -o jsonpath={{.spec.holderIdentity}}")
    assert holder.startswith(hv["inventory_hostname"] + "_"), holder


def test_controller_manager_works(host):
    # The service-account controller makes `default` in every namespace; the root-CA
    # publisher makes kube-root-ca.crt: both need a working kube-controller-manager.
    assert host.run(f"{KUBECTL} -n default get serviceaccount default").rc == 0
    assert host.run(f"{KUBECTL} -n default get configmap kube-root-ca.crt").rc == 0


def test_apiserver_running_flags(host, hv):
    pid = host.check_output("systemctl show -p MainPID --value kube-apiserver")
    args = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/cmdline").splitlines()
    for flag in (f"--encryption-provider-config={CONFIG}/encryption-config.yaml",
                 f"--audit-log-path={AUDIT_LOG}",
                 f"--authentication-config={CONFIG}/authentication-config.yaml",
                 f"--etcd-servers=https://{hv['kubebin_node_ip']}:2379",
                 "--service-cluster-ip-range=10.32.0.0/16",
                 # masters that are not nodes: no pod network, aggregated APIs by endpoint
                 "--enable-aggregator-routing=true",
                 # restored by the side effect's re-converge
                 "--profiling=false"):
        assert flag in args, (flag, args)
    assert not [a for a in args if a.startswith(("--token-auth-file", "--anonymous-auth"))]


# --- encryption at rest and audit, with one probe Secret and ConfigMap ---

@pytest.fixture(scope="module")
def probe(host):
    name = f"kubebin-molecule-{secrets.token_hex(4)}"
    value = f"plaintext-{secrets.token_hex(16)}"
    lit = shlex.quote(f"--from-literal=probe={value}")
    host.check_output(f"{KUBECTL} -n default create secret generic {name} {lit}")
    host.check_output(f"{KUBECTL} -n default create configmap {name} {lit}")
    yield {"name": name, "value": value}
    host.run(f"{KUBECTL} -n default delete secret/{name} configmap/{name} --ignore-not-found")


def _etcd_value(host, key):
    out = json.loads(host.check_output(f"{ETCDCTL} get {key} -w json"))
    assert out.get("kvs"), f"no key {key} in etcd"
    return base64.b64decode(out["kvs"][0]["value"])


def test_secret_is_stored_encrypted_in_etcd(host, probe):
    raw = _etcd_value(host, f"/registry/secrets/default/{probe['name']}")
    assert raw.startswith(b"k8s:enc:secretbox:v1:key1:"), raw[:40]
    assert probe["value"].encode() not in raw
    # ... and the API still reads it back decrypted
    got = host.check_output(f"{KUBECTL} -n default get secret {probe['name']} -o jsonpath={{.data.probe}}")
    assert base64.b64decode(got).decode() == probe["value"]


def test_configmap_is_stored_in_plaintext(host, probe):
    # Control for the test above: the same read shows an unencrypted resource's value, so
    # a Secret stored in plaintext would have been seen.
    raw = _etcd_value(host, f"/registry/configmaps/default/{probe['name']}")
    assert not raw.startswith(b"k8s:enc:")
    assert probe["value"].encode() in raw


def test_audit_log_records_the_secret_write_without_its_data(host, probe):
    f = host.file(AUDIT_LOG)
    assert (f.mode & 0o077, f.user) == (0, "root")
    lines = host.check_output(f"grep -F -- {shlex.quote(probe['name'])} {AUDIT_LOG}").splitlines()
    events = [json.loads(line) for line in lines]
    created = [e for e in events if e["verb"] == "create" and e.get("objectRef", {}).get("resource") == "secrets"]
    assert created, events
    assert created[-1]["level"] == "Metadata"
    assert created[-1]["user"]["username"] == "kubebin-admin"
    assert created[-1]["responseStatus"]["code"] == 201
    assert not [line for line in lines if probe["value"] in line]
