# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throwaway Kubernetes control plane on 127.0.0.1 for the API integration targets.

    controlplane.py up [--timeout S]     start etcd, kube-apiserver, kube-controller-manager
    controlplane.py env [--format shell|yaml]   where the targets find it
    controlplane.py status               what runs, on which ports
    controlplane.py down                 stop what `up` started and remove the state

It runs the real upstream binaries built by hack/lab/build.py (the lab mirror), as a plain
process tree (no systemd, no root needed beyond reading the cache), every listener on
127.0.0.1 and on free ports, everything in one state directory ($KUBEBIN_CP_DIR,
default /tmp/kubebin-cp):

- etcd: one member, TLS on the client and peer ports, client certificates required;
- kube-apiserver: --authorization-mode=Node,RBAC, --enable-bootstrap-token-auth,
  --anonymous-auth=false, x509 client certificates, a service-account key pair;
- kube-controller-manager with only the csrsigning controller (so approved kubelet CSRs get
  their certificate; approval itself is left to kubebin.cluster.csr_approve).

The PKI and the kubeconfig files are made by this collection's own modules
(kubebin.cluster.cert_authority and kubebin.cluster.kubeconfig) through a small playbook,
which makes every `up` an end-to-end use of them.

Binaries, first match wins: $KUBEBIN_CP_<NAME> (KUBEBIN_CP_KUBE_APISERVER,
KUBEBIN_CP_KUBE_CONTROLLER_MANAGER, KUBEBIN_CP_ETCD: a file), $KUBEBIN_CP_BIN_DIR/<name>,
then the lab mirror and artifact cache ($KUBEBIN_LAB_CACHE, default /var/cache/kubebin-lab)
at the versions of hack/lab/versions.env ($KUBERNETES_VERSION / $ETCD_VERSION override).
A binary that has a .sha256 (or SHA256SUMS) file next to it is verified against it.

Python standard library only; run it with the interpreter of the test venv, whose
ansible-playbook and python (with cryptography) run the PKI playbook.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))  # <root>/tests/integration/controlplane.py
ARCH = "amd64"
MARKER = ".kubebin-controlplane"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICE_CIDR = "10.254.0.0/16"
SERVICE_IP = "10.254.0.1"

PKI_PLAYBOOK = """\
---
# Written by tests/integration/controlplane.py: the control plane's PKI and kubeconfig
# files, made by the collection's own modules.
- name: PKI and kubeconfig files of the test control plane
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: CAs, certificates and the service-account key pair
      kubebin.cluster.cert_authority:
        path: "{{ cp_pki }}"
        cas:
          - {name: ca, common_name: kubebin-test-ca}
          - {name: etcd-ca, common_name: kubebin-test-etcd-ca}
        ca_key_type: ecdsa-p256
        key_type: ecdsa-p256
        service_account_key_type: ecdsa-p256
        ca_validity_days: 30
        validity_days: 7
        renew_before_days: 1
        certificates:
          - {name: etcd-server, ca: etcd-ca, common_name: etcd-cp, usages: [peer],
             dns_names: [localhost], ip_addresses: [127.0.0.1]}
          - {name: apiserver-etcd-client, ca: etcd-ca, common_name: kube-apiserver-etcd-client,
             usages: [client]}
          - name: kubernetes
            common_name: kube-apiserver
            usages: [server]
            dns_names: [localhost, kubernetes, kubernetes.default, kubernetes.default.svc,
                        kubernetes.default.svc.cluster.local]
            ip_addresses: [127.0.0.1, "{{ cp_service_ip }}"]
          - {name: admin, common_name: kubebin-test-admin, organization: [system:masters]}
          - {name: kube-controller-manager, common_name: system:kube-controller-manager}

    - name: Kubeconfig files
      kubebin.cluster.kubeconfig:
        path: "{{ cp_dir }}/{{ item.file }}"
        cluster: kubebin-test
        server: "{{ cp_server }}"
        ca_cert: "{{ cp_pki }}/ca.pem"
        user: "{{ item.user }}"
        client_cert: "{{ cp_pki }}/{{ item.cert }}.pem"
        client_key: "{{ cp_pki }}/{{ item.cert }}-key.pem"
      loop:
        - {file: admin.kubeconfig, user: admin, cert: admin}
        - {file: kube-controller-manager.kubeconfig, user: system:kube-controller-manager,
           cert: kube-controller-manager}
"""


class CPError(Exception):
    """A failure with a message a user can act on."""


def say(text: str) -> None:
    print(f"controlplane: {text}", flush=True)


def state_dir() -> str:
    return os.path.abspath(os.environ.get("KUBEBIN_CP_DIR") or "/tmp/kubebin-cp")


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join("    " + line for line in handle.readlines()[-lines:])
    except OSError:
        return "    (no log)\n"


# --------------------------------------------------------------------------- binaries

def _lab_build():
    """hack/lab/build.py, the one reader of versions.env and the builder's checksum helper."""
    sys.path.insert(0, os.path.join(COLLECTION_ROOT, "hack", "lab"))
    try:
        import build  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    return build


def read_versions() -> dict[str, str]:
    path = os.environ.get("KUBEBIN_LAB_VERSIONS") or os.path.join(COLLECTION_ROOT, "hack", "lab", "versions.env")
    versions = dict(_lab_build().load_versions(Path(path))) if os.path.exists(path) else {}
    for key in ("KUBERNETES_VERSION", "ETCD_VERSION"):
        if os.environ.get(key):
            versions[key] = os.environ[key]
    return versions


def sha256_file(path: str) -> str:
    return _lab_build().sha256_file(Path(path))


def verify_checksum(path: str) -> str:
    """Check ``path`` against <path>.sha256 or SHA256SUMS next to it; say which was used."""
    single = path + ".sha256"
    sums = os.path.join(os.path.dirname(path), "SHA256SUMS")
    want = None
    if os.path.isfile(single):
        with open(single, encoding="utf-8") as handle:
            want = handle.read().split()[0]
    elif os.path.isfile(sums):
        with open(sums, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) == 2 and parts[1].lstrip("*") == os.path.basename(path):
                    want = parts[0]
    if want is None:
        return "no checksum file"
    got = sha256_file(path)
    if got != want.lower():
        raise CPError(f"{path}: sha256 {got} does not match its checksum file ({want})")
    return "sha256 ok"


def k8s_candidates(name: str, versions: dict[str, str], cache: str) -> list[str]:
    env_name = "KUBEBIN_CP_" + name.upper().replace("-", "_")
    out = []
    if os.environ.get(env_name):
        return [os.environ[env_name]]
    if os.environ.get("KUBEBIN_CP_BIN_DIR"):
        out.append(os.path.join(os.environ["KUBEBIN_CP_BIN_DIR"], name))
    version = versions.get("KUBERNETES_VERSION")
    if version:
        rel = os.path.join("kubernetes", "release", f"v{version}", "bin", "linux", ARCH, name)
        out.append(os.path.join(cache, "mirror", rel))
        out.append(os.path.join(cache, "artifacts", "kubernetes", version, "mirror", rel))
    return out


def find_k8s_binary(name: str, versions: dict[str, str], cache: str) -> tuple[str, str]:
    tried = k8s_candidates(name, versions, cache)
    for path in tried:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, verify_checksum(path)
    raise CPError(f"{name} not found; tried: {', '.join(tried) or '(nothing: no KUBERNETES_VERSION)'}. "
                  "Build it with `python3 hack/lab/build.py kubernetes`, or point KUBEBIN_CP_BIN_DIR "
                  f"or KUBEBIN_CP_{name.upper().replace('-', '_')} at it.")


def find_etcd(versions: dict[str, str], cache: str, bindir: str) -> tuple[str, str]:
    if os.environ.get("KUBEBIN_CP_ETCD"):
        return os.environ["KUBEBIN_CP_ETCD"], "given by KUBEBIN_CP_ETCD"
    tried = []
    if os.environ.get("KUBEBIN_CP_BIN_DIR"):
        path = os.path.join(os.environ["KUBEBIN_CP_BIN_DIR"], "etcd")
        if os.path.isfile(path):
            return path, verify_checksum(path)
        tried.append(path)
    version = versions.get("ETCD_VERSION")
    if version:
        name = f"etcd-v{version}-linux-{ARCH}"
        rel = os.path.join("github", "etcd-io", "etcd", "releases", "download", f"v{version}", name + ".tar.gz")
        for tgz in (os.path.join(cache, "mirror", rel), os.path.join(cache, "artifacts", "etcd", version, "mirror", rel)):
            tried.append(tgz)
            if os.path.isfile(tgz):
                note = verify_checksum(tgz)
                with tarfile.open(tgz) as archive:
                    member = archive.getmember(f"{name}/etcd")
                    source = archive.extractfile(member)
                    if source is None:
                        raise CPError(f"{tgz}: {name}/etcd is not a file")
                    target = os.path.join(bindir, "etcd")
                    with source, open(target, "wb") as sink:
                        shutil.copyfileobj(source, sink)
                    os.chmod(target, 0o755)
                return target, f"from {os.path.basename(tgz)}, {note}"
    raise CPError(f"etcd not found; tried: {', '.join(tried) or '(nothing: no ETCD_VERSION)'}. "
                  "Build it with `python3 hack/lab/build.py etcd`, or set KUBEBIN_CP_ETCD or KUBEBIN_CP_BIN_DIR.")


def binary_version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CPError(f"{path} --version: {exc}") from None
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


# --------------------------------------------------------------------------- ports, processes

def free_ports(count: int) -> list[int]:
    """Ports below the kernel's ephemeral range that 127.0.0.1 can bind now."""
    ports: list[int] = []
    rng = random.Random()
    while len(ports) < count:
        port = rng.randrange(20000, 32000)
        if port in ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pid_is(pid: int, binary: str) -> bool:
    """Whether ``pid`` still runs ``binary`` (so a recycled pid is never signalled)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv0 = handle.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return False
    return argv0 == binary


def spawn(state: str, name: str, argv: list[str]) -> int:
    log_path = os.path.join(state, "logs", f"{name}.log")
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(argv, stdin=devnull, stdout=log, stderr=subprocess.STDOUT,
                                cwd=state, start_new_session=True, close_fds=True)
    with open(os.path.join(state, "run", f"{name}.pid"), "w", encoding="utf-8") as handle:
        handle.write(f"{proc.pid}\n")
    with open(os.path.join(state, "run", f"{name}.cmd"), "w", encoding="utf-8") as handle:
        handle.write(shlex.join(argv) + "\n")
    return proc.pid


def https_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    if ca is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=ca)
    if cert and key:
        ctx.load_cert_chain(cert, key)
    return ctx


def probe(url: str, ctx: ssl.SSLContext) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:  # nosec - loopback only
            body = resp.read(4096).decode(errors="replace")
            return resp.status == 200, body.strip()
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read(2048).decode(errors='replace').strip()}"
    except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
        return False, str(getattr(exc, "reason", exc))


def wait_ready(state: str, name: str, pid: int, url: str, ctx: ssl.SSLContext, timeout: float,
               ok=lambda body: True) -> float:
    start = time.monotonic()
    last = "no answer yet"
    while True:
        good, body = probe(url, ctx)
        if good and ok(body):
            return time.monotonic() - start
        last = body or last
        if not pid_alive(pid):
            raise CPError(f"{name} exited before it was ready ({url}: {last})\n"
                          f"  last lines of {state}/logs/{name}.log:\n{tail(os.path.join(state, 'logs', f'{name}.log'))}")
        if time.monotonic() - start > timeout:
            raise CPError(f"{name} not ready after {timeout:.0f}s ({url}: {last[-600:]})\n"
                          f"  last lines of {state}/logs/{name}.log:\n{tail(os.path.join(state, 'logs', f'{name}.log'))}")
        time.sleep(0.5)


# --------------------------------------------------------------------------- state

def load_state(state: str) -> dict | None:
    try:
        with open(os.path.join(state, "state.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def save_state(state: str, data: dict) -> None:
    tmp = os.path.join(state, ".state.json.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(state, "state.json"))


def running(state: str, data: dict) -> dict[str, int]:
    out = {}
    for name in COMPONENTS:
        try:
            with open(os.path.join(state, "run", f"{name}.pid"), encoding="utf-8") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        binary = data.get("binaries", {}).get(name, {}).get("path")
        if pid_alive(pid) and binary and pid_is(pid, binary):
            out[name] = pid
    return out


def stop(state: str, quiet: bool = False) -> list[str]:
    """Stop the components recorded in ``state`` (newest first); the names stopped."""
    data = load_state(state) or {}
    alive = running(state, data)
    stopped = []
    for name in reversed(COMPONENTS):
        pid = alive.get(name)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.1)
        try:  # reap it when it is our own child (a failed `up`)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        stopped.append(name)
        if not quiet:
            say(f"stopped {name} (pid {pid})")
    return stopped


def check_state_dir(state: str) -> None:
    """Refuse to reuse or delete a directory this script did not create."""
    if os.path.isdir(state) and os.listdir(state) and not os.path.exists(os.path.join(state, MARKER)):
        raise CPError(f"{state} exists, is not empty and was not made by controlplane.py; "
                      "set KUBEBIN_CP_DIR to another directory")


# --------------------------------------------------------------------------- commands

def cmd_down(_args) -> int:
    state = state_dir()
    if not os.path.exists(state):
        say(f"nothing to do ({state} does not exist)")
        return 0
    check_state_dir(state)
    stopped = stop(state)
    shutil.rmtree(state)
    say(f"down: stopped {', '.join(stopped) or 'nothing (nothing was running)'}; removed {state}")
    return 0


def is_up(state: str) -> dict | None:
    data = load_state(state)
    if not data or not data.get("ready"):
        return None
    if set(running(state, data)) != set(data.get("binaries", {})):
        return None
    pki = data["pki"]
    ctx = https_context(f"{pki}/ca.pem", f"{pki}/admin.pem", f"{pki}/admin-key.pem")
    good, body = probe(f"{data['server']}/readyz", ctx)
    return data if good and body == "ok" else None


def run_pki_playbook(state: str, server: str, timeout: float) -> None:
    collections = os.path.join(state, "collections")
    link = os.path.join(collections, "ansible_collections", "kubebin", "cluster")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(COLLECTION_ROOT, link)
    playbook = os.path.join(state, "pki-playbook.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(PKI_PLAYBOOK)
    extra = {"cp_dir": state, "cp_pki": os.path.join(state, "pki"), "cp_server": server,
             "cp_service_ip": SERVICE_IP}
    with open(os.path.join(state, "pki-vars.json"), "w", encoding="utf-8") as handle:
        json.dump(extra, handle)
    bindir = os.path.dirname(sys.executable)
    ansible_playbook = shutil.which("ansible-playbook", path=bindir + os.pathsep + os.environ.get("PATH", ""))
    if not ansible_playbook:
        raise CPError("ansible-playbook not found next to this python nor on PATH; run with the test venv's python")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_HOME=os.path.join(state, "ansible-home"),
               PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    log = os.path.join(state, "logs", "pki-playbook.log")
    with open(log, "wb") as handle:
        try:
            result = subprocess.run([ansible_playbook, "-i", "localhost,", playbook, "-e", f"@{state}/pki-vars.json"],
                                    stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=state, timeout=timeout,
                                    check=False)
        except subprocess.TimeoutExpired:
            raise CPError(f"the PKI playbook did not finish in {timeout:.0f}s\n{tail(log)}") from None
    if result.returncode != 0:
        raise CPError(f"the PKI playbook failed (rc {result.returncode}); {log}:\n{tail(log, 40)}")


def cmd_up(args) -> int:
    state = state_dir()
    check_state_dir(state)
    data = is_up(state) if os.path.exists(state) else None
    if data:
        say(f"already up: {data['server']} (state {state})")
        return 0
    if os.path.exists(state):
        say(f"{state} holds a stale or partial control plane: cleaning it")
        stop(state)
        shutil.rmtree(state)
    t_all = time.monotonic()
    timings: dict[str, float] = {}
    for sub in ("", "run", "logs", "bin", "pki", "etcd-data", "apiserver", "controller-manager"):
        os.makedirs(os.path.join(state, sub), mode=0o700, exist_ok=True)
    with open(os.path.join(state, MARKER), "w", encoding="utf-8") as handle:
        handle.write("made by tests/integration/controlplane.py; `controlplane.py down` removes this directory\n")
    try:
        data = start(state, args, timings)
    except BaseException:
        stop(state, quiet=True)
        say(f"up failed; what it started is stopped, logs kept in {state}/logs (`controlplane.py down` removes them)")
        raise
    timings["total"] = time.monotonic() - t_all
    data["timings"] = {k: round(v, 1) for k, v in timings.items()}
    data["ready"] = True
    save_state(state, data)
    say("up in {total:.1f}s (binaries {binaries:.1f}s, PKI playbook {pki:.1f}s, etcd {etcd:.1f}s, "
        "kube-apiserver {kube-apiserver:.1f}s, kube-controller-manager {kube-controller-manager:.1f}s)"
        .format(**timings))
    say(f"kubeconfig: {data['kubeconfig']}  server: {data['server']}")
    return 0


def start(state: str, args, timings: dict[str, float]) -> dict:
    t0 = time.monotonic()
    versions = read_versions()
    cache = os.environ.get("KUBEBIN_LAB_CACHE") or "/var/cache/kubebin-lab"
    signing = not args.no_signing
    binaries = {}
    for name in ("kube-apiserver", "kube-controller-manager") if signing else ("kube-apiserver",):
        path, note = find_k8s_binary(name, versions, cache)
        binaries[name] = {"path": os.path.abspath(path), "check": note}
    path, note = find_etcd(versions, cache, os.path.join(state, "bin"))
    binaries["etcd"] = {"path": os.path.abspath(path), "check": note}
    for name, info in binaries.items():
        info["version"] = binary_version(info["path"])
        say(f"{name}: {info['path']} ({info['version']}; {info['check']})")
    timings["binaries"] = time.monotonic() - t0

    etcd_client, etcd_peer, apiserver_port, kcm_port = free_ports(4)
    server = f"https://127.0.0.1:{apiserver_port}"
    pki = os.path.join(state, "pki")
    data = {"dir": state, "server": server, "pki": pki, "kubeconfig": os.path.join(state, "admin.kubeconfig"),
            "ports": {"etcd-client": etcd_client, "etcd-peer": etcd_peer, "kube-apiserver": apiserver_port,
                      "kube-controller-manager": kcm_port},
            "binaries": binaries, "signing": signing, "ready": False}
    save_state(state, data)

    t0 = time.monotonic()
    run_pki_playbook(state, server, args.timeout)
    timings["pki"] = time.monotonic() - t0
    say(f"PKI and kubeconfig files written by kubebin.cluster.cert_authority/kubeconfig in {timings['pki']:.1f}s")

    t0 = time.monotonic()
    etcd_url = f"https://127.0.0.1:{etcd_client}"
    peer_url = f"https://127.0.0.1:{etcd_peer}"
    pid = spawn(state, "etcd", [
        binaries["etcd"]["path"], "--name=cp", f"--data-dir={state}/etcd-data",
        f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=cp={peer_url}", "--initial-cluster-state=new",
        "--initial-cluster-token=kubebin-test",
        f"--cert-file={pki}/etcd-server.pem", f"--key-file={pki}/etcd-server-key.pem",
        f"--trusted-ca-file={pki}/etcd-ca.pem", "--client-cert-auth",
        f"--peer-cert-file={pki}/etcd-server.pem", f"--peer-key-file={pki}/etcd-server-key.pem",
        f"--peer-trusted-ca-file={pki}/etcd-ca.pem", "--peer-client-cert-auth",
        # a throwaway test store: skipping fsync keeps it fast on a loaded disk
        "--unsafe-no-fsync", "--log-level=warn",
    ])
    etcd_ctx = https_context(f"{pki}/etcd-ca.pem", f"{pki}/apiserver-etcd-client.pem", f"{pki}/apiserver-etcd-client-key.pem")
    wait_ready(state, "etcd", pid, f"{etcd_url}/health", etcd_ctx, args.timeout,
               ok=lambda body: '"health":"true"' in body.replace(" ", ""))
    timings["etcd"] = time.monotonic() - t0
    say(f"etcd ready on {etcd_url} in {timings['etcd']:.1f}s")

    t0 = time.monotonic()
    pid = spawn(state, "kube-apiserver", [
        binaries["kube-apiserver"]["path"],
        "--advertise-address=127.0.0.1", "--bind-address=127.0.0.1", f"--secure-port={apiserver_port}",
        # the lease reconciler refuses a loopback advertise address; nothing here needs the endpoints
        "--endpoint-reconciler-type=none",
        f"--cert-dir={state}/apiserver",
        f"--etcd-servers={etcd_url}", f"--etcd-cafile={pki}/etcd-ca.pem",
        f"--etcd-certfile={pki}/apiserver-etcd-client.pem", f"--etcd-keyfile={pki}/apiserver-etcd-client-key.pem",
        f"--tls-cert-file={pki}/kubernetes.pem", f"--tls-private-key-file={pki}/kubernetes-key.pem",
        f"--client-ca-file={pki}/ca.pem",
        "--anonymous-auth=false", "--enable-bootstrap-token-auth",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
        f"--service-account-key-file={pki}/sa.pub", f"--service-account-signing-key-file={pki}/sa-key.pem",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--profiling=false", "--v=1",
    ])
    admin_ctx = https_context(f"{pki}/ca.pem", f"{pki}/admin.pem", f"{pki}/admin-key.pem")
    wait_ready(state, "kube-apiserver", pid, f"{server}/readyz", admin_ctx, args.timeout, ok=lambda body: body == "ok")
    timings["kube-apiserver"] = time.monotonic() - t0
    say(f"kube-apiserver ready on {server} in {timings['kube-apiserver']:.1f}s")

    if not signing:
        timings["kube-controller-manager"] = 0.0
        say("kube-controller-manager not started (--no-signing): approved CSRs stay without a certificate")
        return data
    t0 = time.monotonic()
    pid = spawn(state, "kube-controller-manager", [
        binaries["kube-controller-manager"]["path"],
        f"--kubeconfig={state}/kube-controller-manager.kubeconfig",
        "--bind-address=127.0.0.1", f"--secure-port={kcm_port}", f"--cert-dir={state}/controller-manager",
        # only the signer: approval is csr_approve's job, so csrapproving stays off
        "--controllers=csrsigning", "--use-service-account-credentials=true", "--leader-elect=false",
        f"--cluster-signing-cert-file={pki}/ca.pem", f"--cluster-signing-key-file={pki}/ca-key.pem",
        "--profiling=false", "--v=1",
    ])
    wait_ready(state, "kube-controller-manager", pid, f"https://127.0.0.1:{kcm_port}/healthz",
               https_context(None, None, None), args.timeout, ok=lambda body: body == "ok")
    timings["kube-controller-manager"] = time.monotonic() - t0
    say(f"kube-controller-manager (csrsigning) healthy in {timings['kube-controller-manager']:.1f}s")
    return data


def env_values(data: dict) -> dict[str, str | bool]:
    return {"KUBEBIN_TEST_KUBECONFIG": data["kubeconfig"], "KUBEBIN_TEST_PKI": data["pki"],
            "KUBEBIN_TEST_SERVER": data["server"], "KUBEBIN_TEST_SIGNING": bool(data.get("signing"))}


def cmd_env(args) -> int:
    state = state_dir()
    data = load_state(state)
    if not data or not data.get("ready"):
        raise CPError(f"no control plane in {state}: run `controlplane.py up` first")
    values = env_values(data)
    for key, value in values.items():
        if args.format == "yaml":
            # JSON strings are valid YAML scalars: ansible-test's integration_config.yml
            print(f"{key.lower()}: {json.dumps(value)}")
        else:
            text = ("true" if value else "false") if isinstance(value, bool) else value
            print(f"{key}={shlex.quote(text)}")
    return 0


def cmd_status(_args) -> int:
    state = state_dir()
    data = load_state(state)
    if not data:
        say(f"down (no state in {state})")
        return 3
    alive = running(state, data)
    for name in (c for c in COMPONENTS if c in data.get("binaries", {})):
        port = data["ports"].get(name if name != "etcd" else "etcd-client")
        say(f"{name:<24} {'running pid ' + str(alive[name]) if name in alive else 'NOT running':<18} "
            f"127.0.0.1:{port}")
    up = is_up(state) is not None
    say(f"{'up' if up else 'NOT ready'}: {data['server']}  kubeconfig {data['kubeconfig']}  "
        f"start-up {data.get('timings', {}).get('total', '?')}s")
    return 0 if up else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start etcd, kube-apiserver and kube-controller-manager on 127.0.0.1")
    up.add_argument("--timeout", type=float, default=float(os.environ.get("KUBEBIN_CP_TIMEOUT") or 300),
                    help="seconds each component may take to become ready (default 300, $KUBEBIN_CP_TIMEOUT)")
    up.add_argument("--no-signing", action="store_true", default=os.environ.get("KUBEBIN_CP_SIGNING") == "0",
                    help="do not start kube-controller-manager (no CSR signing; $KUBEBIN_CP_SIGNING=0)")
    sub.add_parser("down", help="stop what `up` started and remove the state directory")
    env = sub.add_parser("env", help="print where the tests find the control plane")
    env.add_argument("--format", choices=["shell", "yaml"], default="shell",
                     help="shell: KEY=value lines; yaml: ansible-test integration_config.yml variables")
    sub.add_parser("status", help="what runs; exit 0 when ready")
    args = parser.parse_args(argv)
    handler = {"up": cmd_up, "down": cmd_down, "env": cmd_env, "status": cmd_status}[args.command]
    try:
        return handler(args)
    except CPError as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
