#!/usr/bin/env python3
"""kubebin.cluster local lab: multi-host test bed of podman containers running systemd.

Each lab host is a privileged rootful podman container running systemd, with its own
hostname, fixed IP on the `kubebin-lab` podman network and sshd; Ansible reaches it
over SSH exactly as it would reach a real server. A mirror container serves the
upstream-binary mirror laid out by hack/lab/build.py over HTTP on the same network.

    python3 hack/lab/lab.py setup        # install podman & co, /etc/containers/containers.conf
    python3 hack/lab/lab.py image [--suite S]   # build a host image (Debian 12 bookworm or
                                                # 13 trixie; cached; --force)
    python3 hack/lab/lab.py up [--masters N] [--nodes N] [--etcd N | --etcd-on-masters]
                               [--suite S] [--node-suite S]
    python3 hack/lab/lab.py status | inventory | ssh HOST [CMD...] | down

Python 3.11 standard library only: it runs with the system python3 before any venv.
See docs/lab.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import glob
import hashlib
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import debpkg  # hack/lab/debpkg.py, beside this script
# The pure parts (hack/lab/kubebin_lab/, unit-tested by tests/hack/).
from kubebin_lab import inventory as _inventory
from kubebin_lab import suites as _suites
from kubebin_lab.apt import (MIRROR_ENV, apt_files, host_codename,
                             host_debian_mirror as _host_debian_mirror, retarget_sources)
from kubebin_lab.inventory import (DEFAULT_INSTANCE, MIRROR_PORT, gateway_ip, instance_names,
                                   mirror_ip, parse_images_txt)

HERE = os.path.dirname(os.path.abspath(__file__))

CACHE_DIR = os.environ.get("KUBEBIN_LAB_CACHE", "/var/cache/kubebin-lab")

LABEL = "kubebin-lab"          # every object we create carries LABEL=1
LABEL_ARG = f"{LABEL}=1"
INSTANCE_LABEL = f"{LABEL}.lab"   # and LABEL.lab=<instance name>

# Several labs can run side by side (e.g. a 1-master lab and a 3-master HA lab): each
# named instance (--name / KUBEBIN_LAB_NAME) has its own network, subnet, mirror container,
# hosts, volumes and state dir (kubebin_lab.inventory.instance_names).
INSTANCE = DEFAULT_INSTANCE
STATE_DIR = NETWORK = PREFIX = MIRROR_NAME = DEFAULT_SUBNET = ""


def configure_instance(name: str | None) -> None:
    """Set the per-instance names (module globals) for lab instance `name`."""
    global INSTANCE, STATE_DIR, NETWORK, PREFIX, MIRROR_NAME, DEFAULT_SUBNET
    name = name or os.environ.get("KUBEBIN_LAB_NAME") or DEFAULT_INSTANCE
    try:
        names = instance_names(name, os.environ.get("KUBEBIN_LAB_STATE"),
                               os.environ.get("KUBEBIN_LAB_SUBNET"))
    except ValueError as e:
        raise LabError("lab name", str(e)) from None
    INSTANCE, STATE_DIR, NETWORK = names["instance"], names["state_dir"], names["network"]
    PREFIX, MIRROR_NAME = names["prefix"], names["mirror_name"]
    DEFAULT_SUBNET = names["default_subnet"]


def ours(labels: dict | None) -> bool:
    """Does an object with these labels belong to this lab instance? (Objects made before
    instances existed carry no instance label: they belong to the default instance.)"""
    labels = labels or {}
    return (labels.get(LABEL) == "1"
            and labels.get(INSTANCE_LABEL, DEFAULT_INSTANCE) == INSTANCE)

# One host image per Debian suite (localhost/kubebin-lab-host:<suite>); the suites, their
# packages and PID 1 arguments are in kubebin_lab/suites.py. Hosts of one lab may run
# different suites (`up --suite bookworm --node-suite trixie`).
DEFAULT_SUITE = _suites.DEFAULT_SUITE
image_ref = _suites.image_ref
IMAGE_RECIPE_VERSION = "3"
# Non-root accounts of every lab host (image recipe 3): SSH with the lab key as LAB_USERS[0]
# and sudo to root, as production hosts are reached; LAB_USERS[1] has no sudo.
LAB_USERS = ["kubebin", "kubebin-nosudo"]     # bump when the image build steps below change
# NB: the image must not carry the LABEL=1 label: containers inherit image labels, and
# `down` removes everything labelled LABEL=1 (e.g. Molecule hosts made from this image).
HOST_RUN_VERSION = "3"         # bump when the `podman run` recipe of hosts changes

# Per-host named volumes: overlayfs-backed paths that must live on a real filesystem.
HOST_VOLUMES = {
    "containerd": "/var/lib/containerd",   # containerd's overlayfs snapshotter can't nest on overlay
    "kubelet": "/var/lib/kubelet",         # kubelet nodefs stats/eviction, emptyDir, pod volumes
}

SETUP_PACKAGES = ["podman", "runc", "netavark", "aardvark-dns", "iptables",
                  "debootstrap", "openssh-client"]
CONTAINERS_CONF = "/etc/containers/containers.conf"
SYSCTL_CONF = "/etc/sysctl.d/90-kubebin-lab.conf"
SYSCTL = {"fs.inotify.max_user_instances": 1024, "fs.inotify.max_user_watches": 524288}

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]


# --------------------------------------------------------------------------- helpers

class LabError(Exception):
    def __init__(self, step: str, msg: str, cmd: list[str] | None = None, stderr: str = ""):
        self.step, self.msg, self.cmd, self.stderr = step, msg, cmd, stderr
        super().__init__(msg)

    def __str__(self) -> str:
        out = f"ERROR in step '{self.step}': {self.msg}"
        if self.cmd:
            out += f"\n  command: {shlex.join(self.cmd)}"
        if self.stderr.strip():
            out += "\n  stderr:\n    " + "\n    ".join(self.stderr.strip().splitlines()[-30:])
        return out


_STEP = ["main"]
T0 = time.monotonic()


@contextlib.contextmanager
def step(name: str):
    _STEP.append(name)
    t = time.monotonic()
    print(f"==> {name}", flush=True)
    try:
        yield
    finally:
        _STEP.pop()
        print(f"    {name}: {time.monotonic() - t:.1f}s", flush=True)


def info(msg: str) -> None:
    print(f"    {msg}", flush=True)


def run(cmd: list[str], *, check: bool = True, input: str | bytes | None = None,
        timeout: float | None = 600, env: dict | None = None, capture: bool = True
        ) -> subprocess.CompletedProcess:
    text = not isinstance(input, bytes)
    try:
        p = subprocess.run(cmd, input=input, text=text, timeout=timeout, env=env,
                           stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError as e:
        raise LabError(_STEP[-1], f"command not found: {cmd[0]} (run `lab.py setup`?)", cmd) from e
    except subprocess.TimeoutExpired as e:
        raise LabError(_STEP[-1], f"command timed out after {timeout}s", cmd,
                       (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or "")) from e
    if check and p.returncode != 0:
        err = p.stderr if capture else ""
        if isinstance(err, bytes):
            err = err.decode(errors="replace")
        raise LabError(_STEP[-1], f"command failed (exit {p.returncode})", cmd, err or "")
    return p


def podman(*args: str, check: bool = True, timeout: float | None = 300, input=None
           ) -> subprocess.CompletedProcess:
    return run(["podman", *args], check=check, timeout=timeout, input=input)


def podman_json(*args: str) -> list | dict:
    out = podman(*args).stdout.strip()
    return json.loads(out) if out else []


def sha256_bytes(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big"))
        h.update(p)
    return h.hexdigest()


def write_if_changed(path: str, content: str, mode: int = 0o644) -> bool:
    try:
        with open(path) as f:
            if f.read() == content:
                os.chmod(path, mode)
                return False
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def need_root() -> None:
    if os.geteuid() != 0:
        raise LabError(_STEP[-1], "the lab uses rootful podman: run as root")


# --------------------------------------------------------------------------- paths

def mirror_dir() -> str:
    """The upstream mirror laid out by hack/lab/build.py (its `path` subcommand)."""
    env = os.environ.get("KUBEBIN_LAB_MIRROR")
    if env:
        return os.path.abspath(env)
    build = os.path.join(HERE, "build.py")
    if os.path.exists(build):
        p = subprocess.run([sys.executable, build, "path"], capture_output=True, text=True,
                           timeout=60)
        if p.returncode == 0 and p.stdout.strip():
            return os.path.abspath(p.stdout.strip().splitlines()[-1])
        info(f"warning: `build.py path` failed (exit {p.returncode}); using the default path")
    return os.path.join(CACHE_DIR, "mirror")


def key_path() -> str:
    return os.path.join(STATE_DIR, "ssh", "id_ed25519")


def inventory_path() -> str:
    return os.path.join(STATE_DIR, "inventory", "hosts.yml")


def topology_path() -> str:
    return os.path.join(STATE_DIR, "lab.json")


# --------------------------------------------------------------------------- setup

def cmd_setup(args) -> None:
    need_root()
    with step("setup: packages"):
        missing = debpkg.missing(SETUP_PACKAGES)
        if missing:
            info("installing: " + " ".join(missing))
            try:
                debpkg.install(missing)
            except debpkg.DebPkgError as e:
                raise LabError("setup: packages", str(e), debpkg.install_command(missing)) from e
        else:
            info("all present: " + " ".join(SETUP_PACKAGES))
    with step("setup: " + CONTAINERS_CONF):
        with open(os.path.join(HERE, "containers.conf")) as f:
            want = f.read()
        try:
            with open(CONTAINERS_CONF) as f:
                have = f.read()
        except FileNotFoundError:
            have = None
        if have == want:
            info("unchanged")
        else:
            if have is not None:
                bak = f"{CONTAINERS_CONF}.kubebin-lab-backup.{time.strftime('%Y%m%d%H%M%S')}"
                shutil.copy2(CONTAINERS_CONF, bak)
                info(f"backed up the previous file to {bak}")
            write_if_changed(CONTAINERS_CONF, want)
            info("installed")
    with step("setup: " + SYSCTL_CONF):
        # Every lab host's kubelet, containerd and systemd take inotify instances from the
        # ONE kernel of this machine, counted per user (root): with several labs up, the
        # default 128 runs out and kubelets die with "inotify_init: too many open files".
        changed = write_if_changed(SYSCTL_CONF, "".join(f"{k} = {v}\n" for k, v in SYSCTL.items()))
        for key, want_v in SYSCTL.items():
            path = "/proc/sys/" + key.replace(".", "/")
            with open(path) as f:
                have_v = int(f.read().split()[0])
            if have_v < want_v:
                with open(path, "w") as f:
                    f.write(str(want_v))
                info(f"{key}: {have_v} -> {want_v}")
        info("written" if changed else "unchanged")


def setup_ok() -> bool:
    try:
        with open(os.path.join(HERE, "containers.conf")) as f, open(CONTAINERS_CONF) as g:
            same = f.read() == g.read()
    except FileNotFoundError:
        return False
    return same and os.path.exists(SYSCTL_CONF) and not debpkg.missing(SETUP_PACKAGES)


# --------------------------------------------------------------------------- image

def host_debian_mirror(suite: str) -> str:
    """The Debian mirror URL of this host's own apt sources (never hard-coded); one base
    URL serves every suite."""
    mirror = _host_debian_mirror(suite)
    if not mirror:
        raise LabError(_STEP[-1], f"no 'deb ... {suite} main' entry (nor one of the host's own "
                                  f"suite) in the host's apt sources; set {MIRROR_ENV}")
    return mirror


def image_apt_files(suite: str) -> list[tuple[str, bytes]]:
    """(path, content) of the apt settings baked into the image of `suite`: the host's
    sources and apt.conf.d files; for another release than the host's, the sources name
    `suite` (and its -updates, -security) instead of the host's suite, same mirrors."""
    sources, confs = apt_files()
    own = host_codename()
    out = []
    for p in sources + confs:
        with open(p, "rb") as fh:
            data = fh.read()
        if p in sources and own and own != suite:
            data = retarget_sources(p, data.decode(errors="replace"), own, suite).encode()
        out.append((p, data))
    return out


def image_recipe(suite: str) -> str:
    parts = [IMAGE_RECIPE_VERSION.encode(), suite.encode(),
             " ".join(sorted(_suites.packages(suite))).encode()]
    if _suites.masked_units(suite):      # (none on bookworm: its recipe stays as it was)
        parts.append(" ".join(_suites.masked_units(suite)).encode())
    for root, _dirs, files in sorted(os.walk(os.path.join(HERE, "host"))):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            with open(p, "rb") as fh:
                parts += [os.path.relpath(p, HERE).encode(), fh.read()]
    for p, data in image_apt_files(suite):    # apt settings baked into the image
        parts += [p.encode(), data]
    return sha256_bytes(*parts)[:16]


def image_info(suite: str) -> dict | None:
    p = podman("image", "inspect", image_ref(suite), check=False)
    if p.returncode != 0:
        return None
    data = json.loads(p.stdout)
    return data[0] if data else None


def image_current(suite: str) -> bool:
    i = image_info(suite)
    labels = (i or {}).get("Labels") or (i or {}).get("Config", {}).get("Labels") or {}
    return bool(i) and labels.get(f"{LABEL}.recipe") == image_recipe(suite)


def _copy_host_apt_config(rootfs: str, suite: str) -> None:
    for f in glob.glob(os.path.join(rootfs, "etc/apt/sources.list.d/*")):
        os.remove(f)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(rootfs, "etc/apt/sources.list"))   # debootstrap's own
    for f, data in image_apt_files(suite):
        dst = os.path.join(rootfs, f.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as out:
            out.write(data)
        shutil.copymode(f, dst)
        # keyrings named by Signed-By must exist in the image too
        with open(f) as fh:
            for line in fh:
                for tok in line.replace("=", " ").replace("]", " ").split():
                    if tok.startswith("/") and tok.endswith((".gpg", ".asc")) and os.path.isfile(tok):
                        kdst = os.path.join(rootfs, tok.lstrip("/"))
                        if not os.path.exists(kdst):
                            os.makedirs(os.path.dirname(kdst), exist_ok=True)
                            shutil.copy2(tok, kdst)
    for f in glob.glob("/etc/apt/auth.conf.d/*"):          # mirror credentials, if any
        dst = os.path.join(rootfs, f.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(f, dst)
        os.chmod(dst, 0o600)


def build_image(suite: str, force: bool = False) -> None:
    need_root()
    image, packages = image_ref(suite), _suites.packages(suite)
    recipe = image_recipe(suite)
    if not force and image_current(suite):
        info(f"{image} is current (recipe {recipe}); --force rebuilds")
        return
    mirror = host_debian_mirror(suite)
    os.makedirs(CACHE_DIR, exist_ok=True)
    work = tempfile.mkdtemp(prefix="host-rootfs.", dir=CACHE_DIR)
    rootfs = os.path.join(work, "rootfs")
    try:
        with step("image: debootstrap"):
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            # the host's apt proxy, if any, for debootstrap's own downloads
            p = run(["apt-config", "shell", "P", "Acquire::http::Proxy"], check=False)
            if p.returncode == 0 and "P=" in p.stdout:
                proxy = shlex.split(p.stdout.strip().partition("=")[2])
                if proxy and proxy[0] and proxy[0] != "DIRECT":
                    env["http_proxy"] = proxy[0]
            debs = os.path.join(CACHE_DIR, "debootstrap-debs")
            os.makedirs(debs, exist_ok=True)
            info(f"{suite}, mirror from the host's apt sources; packages: {','.join(packages)}")
            run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
                 "--components=main", f"--cache-dir={debs}", suite, rootfs, mirror],
                env=env, timeout=1800)
        with step("image: configure rootfs"):
            _copy_host_apt_config(rootfs, suite)
            # our files (sshd drop-in, host-key unit)
            src = os.path.join(HERE, "host", "rootfs")
            shutil.copytree(src, rootfs, dirs_exist_ok=True, symlinks=True)
            # no shared SSH host keys: each host makes its own on first boot
            for k in glob.glob(os.path.join(rootfs, "etc/ssh/ssh_host_*")):
                os.remove(k)
            run(["chroot", rootfs, "systemctl", "enable", "kubebin-lab-hostkeys.service",
                 "ssh.service"])
            # units that cannot work in a container
            run(["chroot", rootfs, "systemctl", "mask", "getty@tty1.service",
                 "serial-getty@.service", "getty.target", "console-getty.service",
                 "systemd-remount-fs.service", "sys-kernel-config.mount",
                 "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
                 "systemd-firstboot.service", "apt-daily.timer", "apt-daily-upgrade.timer",
                 "e2scrub_reap.service", "e2scrub_all.timer",
                 # binfmt_misc is the host kernel's, not the lab host's: leave it alone
                 "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
                 "proc-sys-fs-binfmt_misc.mount", *_suites.masked_units(suite)])
            run(["chroot", rootfs, "systemctl", "set-default", "multi-user.target"])
            # operator accounts (sudoers.d/kubebin-lab): `kubebin` with sudo, `kubebin-nosudo`
            # without; both log in with the lab key (AuthorizedKeysFile in sshd_config.d)
            os.chmod(os.path.join(rootfs, "etc/sudoers.d/kubebin-lab"), 0o440)
            for user in LAB_USERS:
                run(["chroot", rootfs, "useradd", "--create-home", "--shell", "/bin/bash", user])
            # unique machine-id per host (generated at boot)
            with open(os.path.join(rootfs, "etc/machine-id"), "w"):
                pass
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(rootfs, "var/lib/dbus/machine-id"))
            os.makedirs(os.path.join(rootfs, "root/.ssh"), mode=0o700, exist_ok=True)
            # apt lists emptied; the lists dir dated 1970 and no update stamp, so that
            # `apt: update_cache: true, cache_valid_time: N` does update on first use
            lists = os.path.join(rootfs, "var/lib/apt/lists")
            for f in glob.glob(os.path.join(lists, "*")):
                if os.path.isfile(f) and not f.endswith("/lock"):
                    os.remove(f)
            for f in glob.glob(os.path.join(rootfs, "var/cache/apt/*.bin")) + \
                    glob.glob(os.path.join(rootfs, "var/cache/apt/archives/*.deb")):
                os.remove(f)
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(rootfs, "var/lib/apt/periodic/update-success-stamp"))
            for f in glob.glob(os.path.join(rootfs, "var/log/*.log")):
                os.truncate(f, 0)
            os.utime(lists, (0, 0))
        with step("image: podman import"):
            old = image_info(suite)
            tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "-C", rootfs, "-c", "."],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            cmd = ["podman", "import",
                   "--change", f"LABEL {LABEL}.recipe={recipe}",
                   "--change", 'CMD ["/sbin/init"]',
                   "--change", "STOPSIGNAL SIGRTMIN+3",
                   "-", image]
            imp = subprocess.run(cmd, stdin=tar.stdout, capture_output=True, text=True)
            tar.stdout.close()
            terr = tar.stderr.read().decode(errors="replace")
            if tar.wait() != 0:
                raise LabError(_STEP[-1], "tar of the rootfs failed", ["tar", "-C", rootfs, "-c", "."], terr)
            if imp.returncode != 0:
                raise LabError(_STEP[-1], "podman import failed", cmd, imp.stderr)
            if old and old.get("Id") and not old["Id"].startswith(imp.stdout.strip()[:12]):
                # the previous image lost its tag; drop it unless hosts still use it
                podman("rmi", old["Id"], check=False)
            info(f"{image} recipe {recipe}")
    finally:
        if os.path.isdir(work):
            subprocess.run(["rm", "-rf", "--one-file-system", work])


def cmd_image(args) -> None:
    with step("image"):
        ensure_setup()
        build_image(args.suite, force=args.force)


# --------------------------------------------------------------------------- topology

def ensure_setup() -> None:
    need_root()
    if not setup_ok():
        cmd_setup(None)


def load_topology() -> dict:
    try:
        with open(topology_path()) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def desired_topology(args) -> dict:
    try:
        return _inventory.topology(load_topology(), DEFAULT_SUBNET, masters=args.masters,
                                   nodes=args.nodes, etcd=args.etcd,
                                   etcd_on_masters=args.etcd_on_masters, subnet=args.subnet,
                                   suite=args.suite, node_suite=args.node_suite)
    except ValueError as e:
        raise LabError("up", str(e)) from None


def lab_hosts(topo: dict) -> list[dict]:
    return _inventory.lab_hosts(topo, PREFIX)


def lab_suites(topo: dict, hosts: list[dict]) -> list[str]:
    """The suites whose images the lab needs: the hosts' and the mirror's."""
    return _suites.needed(topo.get("suite", DEFAULT_SUITE), [h["suite"] for h in hosts])


# --------------------------------------------------------------------------- podman state

def lab_containers() -> dict[str, dict]:
    """name -> inspect data, for every container of this lab instance."""
    names = podman("ps", "-a", "--filter", f"label={LABEL_ARG}", "--format", "{{.Names}}"
                   ).stdout.split()
    if not names:
        return {}
    data = podman_json("container", "inspect", *names)
    return {c["Name"].lstrip("/"): c for c in data if ours(c.get("Config", {}).get("Labels"))}


def lab_volumes() -> list[str]:
    return list(lab_volume_hosts())


def lab_volume_hosts() -> dict[str, str]:
    """volume name -> the lab host it belongs to (label LABEL.host), this instance only."""
    out = podman("volume", "ls", "--filter", f"label={LABEL_ARG}", "--format", "json").stdout
    return {v["Name"]: (v.get("Labels") or {}).get(f"{LABEL}.host", "")
            for v in (json.loads(out) if out.strip() else []) if ours(v.get("Labels"))}


def lab_networks() -> list[str]:
    names = podman("network", "ls", "--filter", f"label={LABEL_ARG}", "--format", "{{.Name}}"
                   ).stdout.split()
    if not names:
        return []
    return [n["name"] for n in podman_json("network", "inspect", *names)
            if ours(n.get("labels"))]


def container_ip(c: dict) -> str:
    nets = (c.get("NetworkSettings") or {}).get("Networks") or {}
    return (nets.get(NETWORK) or {}).get("IPAddress", "")


def remove_containers(names: list[str]) -> None:
    if names:
        podman("rm", "-f", "-t", "0", *names, timeout=300)


def remove_host_volumes(name: str, existing: list[str]) -> None:
    vols = [v for v in (f"{name}-{k}" for k in HOST_VOLUMES) if v in existing]
    if vols:
        podman("volume", "rm", "-f", *vols)


def ensure_network(topo: dict, containers: dict) -> bool:
    """Returns True when the network was (re)created (so every container must be too)."""
    subnet, gw = topo["subnet"], gateway_ip(topo)
    p = podman("network", "inspect", NETWORK, check=False)
    if p.returncode == 0:
        n = json.loads(p.stdout)[0]
        subnets = [s.get("subnet") for s in n.get("subnets") or []]
        labels = n.get("labels") or {}
        if not ours(labels):
            raise LabError(_STEP[-1], f"network '{NETWORK}' exists but was not created by "
                                      f"lab '{INSTANCE}'; remove or rename it")
        if subnets == [subnet]:
            info(f"network {NETWORK} {subnet}: present")
            return False
        info(f"network {NETWORK} has subnet {subnets}, want {subnet}: recreating")
        remove_containers([n for n, c in containers.items() if NETWORK in
                           ((c.get("NetworkSettings") or {}).get("Networks") or {})])
        podman("network", "rm", NETWORK)
    podman("network", "create", "--label", LABEL_ARG, "--label", f"{INSTANCE_LABEL}={INSTANCE}",
           "--subnet", subnet, "--gateway", gw, NETWORK)
    info(f"network {NETWORK} {subnet}: created")
    return True


def host_spec(h: dict, pubkey: str) -> str:
    # The image name carries the suite. PID 1's arguments enter only when the suite has
    # some, so that the spec of hosts made before suites existed stays the same.
    spec = {"name": h["name"], "ip": h["ip"], "net": NETWORK, "image": image_ref(h["suite"]),
            "vols": HOST_VOLUMES, "key": hashlib.sha256(pubkey.encode()).hexdigest()}
    if _suites.init_args(h["suite"]):
        spec["init_args"] = _suites.init_args(h["suite"])
    return sha256_bytes(HOST_RUN_VERSION.encode(), json.dumps(spec, sort_keys=True).encode())[:16]


def mirror_spec(topo: dict, mdir: str) -> str:
    st = os.stat(mdir)   # a re-created mirror dir (new inode) needs a new bind mount
    return sha256_bytes(HOST_RUN_VERSION.encode(), json.dumps(
        {"ip": mirror_ip(topo), "dir": mdir, "ino": st.st_ino, "dev": st.st_dev,
         "image": mirror_image(topo), "port": MIRROR_PORT}, sort_keys=True).encode())[:16]


def mirror_image(topo: dict) -> str:
    """The mirror container runs python3's http.server from the image of the lab's suite."""
    return image_ref(topo.get("suite", DEFAULT_SUITE))


def run_host(h: dict, spec: str, pubfile: str, existing_vols: list[str]) -> None:
    name = h["name"]
    remove_host_volumes(name, existing_vols)     # a new host starts with empty volumes
    args = ["run", "-d", "--name", name, "--hostname", name,
            "--label", LABEL_ARG, "--label", f"{INSTANCE_LABEL}={INSTANCE}",
            "--label", f"{LABEL}.role={h['role']}",
            "--label", f"{LABEL}.suite={h['suite']}",
            "--label", f"{LABEL}.spec={spec}",
            "--network", NETWORK, "--ip", h["ip"],
            "--privileged", "--systemd=always",
            # a private cgroup namespace: on these cgroup-v1 hybrid VMs the kubelet inside a
            # host exits on a missing kubepods.slice with the host's cgroup namespace
            "--cgroupns=private",
            "-v", f"{pubfile}:/etc/ssh/kubebin-lab/authorized_keys:ro"]
    if os.path.isdir("/lib/modules"):            # lets roles modprobe overlay/br_netfilter
        args += ["-v", "/lib/modules:/lib/modules:ro"]
    for key, path in HOST_VOLUMES.items():
        vol = f"{name}-{key}"
        podman("volume", "create", "--label", LABEL_ARG, "--label", f"{INSTANCE_LABEL}={INSTANCE}",
               "--label", f"{LABEL}.host={name}", vol)
        # podman mounts volumes nosuid,nodev by default; containerd's snapshots need both
        args += ["-v", f"{vol}:{path}:rw,dev,suid,exec"]
    podman(*args, image_ref(h["suite"]), "/sbin/init", *_suites.init_args(h["suite"]))


def run_mirror(topo: dict, spec: str, mdir: str) -> None:
    podman("run", "-d", "--name", MIRROR_NAME, "--hostname", MIRROR_NAME,
           "--label", LABEL_ARG, "--label", f"{INSTANCE_LABEL}={INSTANCE}",
           "--label", f"{LABEL}.role=mirror",
           "--label", f"{LABEL}.suite={topo.get('suite', DEFAULT_SUITE)}",
           "--label", f"{LABEL}.spec={spec}",
           "--network", NETWORK, "--ip", mirror_ip(topo),
           "--stop-signal", "SIGINT", "--systemd=false",
           "-v", f"{mdir}:/srv/mirror:ro", "-w", "/srv/mirror",
           mirror_image(topo), "python3", "-m", "http.server", "--bind", "0.0.0.0",
           "--directory", "/srv/mirror", str(MIRROR_PORT))


# --------------------------------------------------------------------------- readiness

def wait_host(h: dict, key: str, timeout: float = 180) -> str:
    """Wait until sshd accepts the lab key and systemd reports running/degraded.

    One ssh per poll does both checks (cheaper than `podman exec` + ssh); `podman exec`
    is used only to explain a timeout.
    """
    name, deadline = h["name"], time.monotonic() + timeout
    cmd = ["ssh", "-i", key, *SSH_OPTS, "-o", "ConnectTimeout=5", f"root@{h['ip']}",
           "systemctl is-system-running; systemctl --failed --no-legend --plain"]
    p = None
    while time.monotonic() < deadline:
        p = run(cmd, check=False, timeout=30)
        lines = p.stdout.splitlines()
        state = lines[0].strip() if lines else ""
        if p.returncode != 255 and state in ("running", "degraded"):
            if state == "degraded":
                state += " (failed: " + ", ".join(l.split()[0] for l in lines[1:] if l.strip()) + ")"
            return state
        time.sleep(0.3)
    if p is not None and p.returncode == 255:
        raise LabError("up: wait for hosts", f"{name}: sshd does not accept the lab key after "
                       f"{timeout:.0f}s", cmd, p.stderr)
    st = podman("exec", name, "systemctl", "is-system-running", check=False, timeout=30)
    raise LabError("up: wait for hosts", f"{name}: systemd is '{st.stdout.strip()}' after "
                   f"{timeout:.0f}s", ["podman", "exec", name, "systemctl", "is-system-running"],
                   st.stderr)


def wait_mirror(topo: dict, timeout: float = 60) -> None:
    url = f"http://{mirror_ip(topo)}:{MIRROR_PORT}/"
    deadline, err = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                if r.status == 200:
                    return
        except OSError as e:
            err = e
        time.sleep(0.3)
    raise LabError("up: wait for mirror", f"{url} does not answer: {err}",
                   ["podman", "logs", MIRROR_NAME])


# --------------------------------------------------------------------------- inventory

def lab_images() -> list[tuple[str, str]]:
    """(reference, file) of every image archive in the mirror, from images/images.txt."""
    listing = os.path.join(mirror_dir(), "images", "images.txt")
    try:
        with open(listing, encoding="utf-8") as handle:
            return parse_images_txt(handle.read())
    except FileNotFoundError:
        return []


def render_inventory(topo: dict, hosts: list[dict], user: str = "root",
                     key: str | None = None, become: bool | None = None) -> str:
    """The lab inventory; as `user` with `key`; ansible_become (sudo) when `become`
    (default: when user is not root)."""
    return _inventory.render_inventory(INSTANCE, topo, hosts, lab_images(), key or key_path(),
                                       user=user, become=become)


# --------------------------------------------------------------------------- up / down

def ensure_key() -> str:
    key = key_path()
    if not (os.path.exists(key) and os.path.exists(key + ".pub")):
        os.makedirs(os.path.dirname(key), mode=0o700, exist_ok=True)
        for f in (key, key + ".pub"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubebin-lab", "-f", key])
        info(f"generated the lab key {key}")
    os.chmod(os.path.dirname(key), 0o700)
    os.chmod(key, 0o600)
    return key


def cmd_up(args) -> None:
    need_root()
    topo = desired_topology(args)
    hosts = lab_hosts(topo)
    with step("up: prerequisites"):
        ensure_setup()
        key = ensure_key()
        with open(key + ".pub") as f:
            pubkey = f.read()
        mdir = mirror_dir()
        if not os.path.isdir(mdir):
            os.makedirs(mdir, exist_ok=True)
            info(f"created an empty mirror dir {mdir} (fill it with hack/lab/build.py)")
    with step("up: host image"):
        for suite in lab_suites(topo, hosts):
            build_image(suite, force=False)
    with step("up: network"):
        containers = lab_containers()
        if ensure_network(topo, containers):
            containers = lab_containers()
    with step("up: containers"):
        vols = lab_volumes()
        want = {h["name"]: h for h in hosts}
        extra = [n for n in containers if n not in want and n != MIRROR_NAME]
        if extra:
            info("removing hosts no longer in the topology: " + " ".join(extra))
            remove_containers(extra)
            for n in extra:
                remove_host_volumes(n, vols)
        orphans = [v for v, owner in lab_volume_hosts().items() if owner not in want]
        if orphans:      # e.g. hosts dropped while the network was re-created
            info("removing volumes of hosts no longer in the topology: " + " ".join(orphans))
            podman("volume", "rm", "-f", *orphans)
            vols = lab_volumes()
        image_ids = {s: (image_info(s) or {}).get("Id", "") for s in lab_suites(topo, hosts)}
        todo: list = []
        for h in hosts:
            spec = host_spec(h, pubkey)
            c = containers.get(h["name"])
            if c is not None:
                labels = c.get("Config", {}).get("Labels") or {}
                running = c["State"].get("Running")
                if labels.get(f"{LABEL}.spec") != spec or (running and container_ip(c) != h["ip"]):
                    info(f"{h['name']}: run recipe changed: recreating")
                    remove_containers([h["name"]])
                    c = None
                elif c.get("Image") and image_ids[h["suite"]] and c["Image"] != image_ids[h["suite"]]:
                    info(f"{h['name']}: runs an older host image (`lab.py down && lab.py up` "
                         "to refresh)")
            if c is None:
                todo.append(("create", h, spec))
            elif not c["State"].get("Running"):
                todo.append(("start", h, spec))
        spec = mirror_spec(topo, mdir)
        c = containers.get(MIRROR_NAME)
        if c is not None and ((c.get("Config", {}).get("Labels") or {}).get(f"{LABEL}.spec") != spec
                              or (c["State"].get("Running") and container_ip(c) != mirror_ip(topo))):
            info(f"{MIRROR_NAME}: recipe or mirror dir changed: recreating")
            remove_containers([MIRROR_NAME])
            c = None
        if c is None:
            todo.append(("create-mirror", None, spec))
        elif not c["State"].get("Running"):
            todo.append(("start", {"name": MIRROR_NAME}, spec))

        pubfile = key + ".pub"

        def do(item):
            action, h, spec = item
            if action == "create":
                run_host(h, spec, pubfile, vols)
            elif action == "create-mirror":
                run_mirror(topo, spec, mdir)
            else:
                p = podman("start", h["name"], check=False)
                if p.returncode != 0:     # cannot start: replace it
                    info(f"{h['name']}: start failed, recreating: {p.stderr.strip()}")
                    remove_containers([h["name"]])
                    if h["name"] == MIRROR_NAME:
                        run_mirror(topo, spec, mdir)
                    else:
                        run_host(h, spec, pubfile, vols)
            return f"{action} {h['name'] if h else MIRROR_NAME}"

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            for r in ex.map(do, todo):
                info(r)
        if not todo:
            info("all containers present and running")
    with step("up: wait for hosts (systemd + ssh) and mirror"):
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            futs = {ex.submit(wait_host, h, key): h for h in hosts}
            mfut = ex.submit(wait_mirror, topo)
            for f, h in futs.items():
                info(f"{h['name']:<12} {h['ip']:<15} {f.result()}")
            mfut.result()
            info(f"{MIRROR_NAME:<12} {mirror_ip(topo):<15} http://{mirror_ip(topo)}:{MIRROR_PORT} "
                 f"serving {mdir}")
    with step("up: inventory"):
        changed = write_if_changed(inventory_path(), render_inventory(topo, hosts))
        write_if_changed(topology_path(), json.dumps(topo, indent=2, sort_keys=True) + "\n")
        info(f"{inventory_path()} ({'written' if changed else 'unchanged'})")
    print(f"lab up: {topo['masters']} master(s), {topo['etcd'] or 'etcd on masters'}"
          f"{' etcd' if topo['etcd'] else ''}, {topo['nodes']} node(s) "
          f"({_suites.summary(topo['suite'], topo['node_suite'])}) in {time.monotonic() - T0:.1f}s")


def cmd_down(args) -> None:
    need_root()
    if shutil.which("podman") is None:
        # a fresh machine (CI's first run): without podman there is no lab to take down
        info("podman is not installed: no lab containers, volumes or networks to remove")
    else:
        _down_podman()
    with step("down: inventory"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(inventory_path())
            info(f"removed {inventory_path()}")
        if args.purge and os.path.isdir(STATE_DIR):
            shutil.rmtree(STATE_DIR)
            info(f"purged {STATE_DIR}")


def _down_podman() -> None:
    with step("down: containers"):
        names = sorted(lab_containers())
        remove_containers(names)
        info("removed: " + (" ".join(names) or "none"))
    with step("down: volumes"):
        vols = lab_volumes()
        if vols:
            podman("volume", "rm", "-f", *vols)
        info("removed: " + (" ".join(vols) or "none"))
    with step("down: network"):
        nets = lab_networks()
        for n in nets:
            p = podman("network", "rm", n, check=False)   # never -f: others may use it
            if p.returncode != 0:
                raise LabError("down: network", f"network {n} is still in use by containers "
                               "that the lab did not create; remove them first",
                               ["podman", "network", "rm", n], p.stderr)
        info("removed: " + (" ".join(nets) or "none"))
    with step("down: old host images"):
        # untagged leftovers of `image` rebuilds that hosts were still using
        old = podman("images", "-q", "--filter", f"label={LABEL}.recipe",
                     "--filter", "dangling=true").stdout.split()
        if old:
            podman("rmi", *sorted(set(old)), check=False)
        info("removed: " + (" ".join(sorted(set(old))) or "none"))


def cmd_status(args) -> None:
    need_root()
    containers = lab_containers()
    topo = load_topology()
    print(f"{'NAME':<12} {'ROLE':<7} {'IP':<15} {'SUITE':<9} STATE")
    order = {"mirror": 0, "master": 1, "etcd": 2, "node": 3}
    image_ids: dict[str, str] = {}
    for n, c in sorted(containers.items(), key=lambda kv: (
            order.get((kv[1]["Config"].get("Labels") or {}).get(f"{LABEL}.role"), 9), kv[0])):
        labels = c["Config"].get("Labels") or {}
        role = labels.get(f"{LABEL}.role", "?")
        # hosts made before suites existed carry no suite label: they run bookworm; the
        # mirror runs the lab's suite
        suite = labels.get(f"{LABEL}.suite") or (topo.get("suite", DEFAULT_SUITE)
                                                 if role == "mirror" else DEFAULT_SUITE)
        if suite not in image_ids:
            image_ids[suite] = (image_info(suite) or {}).get("Id", "") \
                if suite in _suites.SUITES else ""
        state = c["State"].get("Status", "?")
        if c.get("Image") != image_ids[suite]:
            state += " (older image)"
        print(f"{n:<12} {role:<7} {container_ip(c) or '-':<15} {suite:<9} {state}")
    if not containers:
        print("(no lab containers)")
    nets = lab_networks()
    for n in nets:
        sub = [s.get("subnet") for s in json.loads(podman("network", "inspect", n).stdout)[0]
               .get("subnets") or []]
        print(f"network: {n} {' '.join(sub)}")
    if not nets:
        print("network: none")
    print("volumes: " + (" ".join(lab_volumes()) or "none"))
    if containers and topo:
        print(f"mirror:  http://{mirror_ip(topo)}:{MIRROR_PORT}  ({mirror_dir()})")
    print(f"inventory: {inventory_path()}" + ("" if os.path.exists(inventory_path())
                                             else " (absent)"))


def cmd_inventory(args) -> None:
    if args.out:
        write_user_inventory(args)
        return
    if not os.path.exists(inventory_path()):
        print(f"warning: {inventory_path()} does not exist yet: run `lab.py up`", file=sys.stderr)
    print(inventory_path())


def write_user_inventory(args) -> None:
    """An inventory directory of the sample's shape (hosts.yml) for another controller user.

    `--ssh-user kubebin` reaches the hosts as the non-root sudo account with
    ansible_become, `--ssh-user root` as root. The lab key is copied into OUT/.ssh so that
    OUT can belong to `--owner`, an ordinary controller user who cannot read the state dir.
    """
    need_root()
    topo = load_topology()
    if not topo or not os.path.exists(inventory_path()):
        raise LabError("inventory", "no lab is up: run `lab.py up` first")
    if args.ssh_user not in ("root", *LAB_USERS):
        raise LabError("inventory", f"--ssh-user {args.ssh_user!r}: the lab hosts have root, "
                       + " and ".join(LAB_USERS))
    try:
        pw = pwd.getpwnam(args.owner) if args.owner else None
    except KeyError:
        raise LabError("inventory", f"--owner {args.owner!r}: no such user on this machine") from None
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, ".ssh"), mode=0o700, exist_ok=True)
    key = os.path.join(out, ".ssh", "id_ed25519")
    shutil.copyfile(key_path(), key)
    os.chmod(key, 0o600)
    hosts = lab_hosts(topo)
    write_if_changed(os.path.join(out, "hosts.yml"),
                     render_inventory(topo, hosts, user=args.ssh_user, key=key,
                                      become=False if args.no_become else None))
    if pw:
        for root, dirs, files in os.walk(out):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.lchown(n, pw.pw_uid, pw.pw_gid)
    print(os.path.join(out, "hosts.yml"))


def cmd_ssh(args) -> None:
    need_root()
    name = args.host if args.host.startswith(PREFIX) else PREFIX + args.host
    p = podman("container", "inspect", name, check=False)
    if p.returncode != 0:
        raise LabError("ssh", f"no lab host named {name}", ["podman", "container", "inspect", name],
                       p.stderr)
    ip = container_ip(json.loads(p.stdout)[0])
    opts = SSH_OPTS if args.cmd else [o for o in SSH_OPTS if o != "BatchMode=yes"][:-1]
    cmd = ["ssh", "-i", key_path(), *opts, f"root@{ip}"]
    if args.cmd:
        cmd += ["--", *args.cmd]
    sys.stdout.flush()
    os.execvp("ssh", cmd)


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--name")
    try:
        configure_instance(pre.parse_known_args(argv)[0].name)
    except LabError as e:
        print(e, file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="lab.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", help=f"lab instance (default {DEFAULT_INSTANCE!r}, env "
                                   "KUBEBIN_LAB_NAME): its own network, subnet, hosts <name>-*, "
                                   "mirror and state dir /var/lib/kubebin-lab-<name>")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="install podman & co and /etc/containers/containers.conf")
    suites = ", ".join(f"{k} = {v['release']}" for k, v in _suites.SUITES.items())
    p = sub.add_parser("image", help=f"build a host image {image_ref(DEFAULT_SUITE).rsplit(':', 1)[0]}"
                                     ":<suite> (cached)")
    p.add_argument("--suite", default=DEFAULT_SUITE, choices=sorted(_suites.SUITES),
                   help=f"Debian suite of the image ({suites}; default {DEFAULT_SUITE})")
    p.add_argument("--force", action="store_true", help="rebuild even if current")
    p = sub.add_parser("up", help="create or reconcile the lab (default 1 master+etcd, 2 nodes; "
                                  "without flags keeps the last topology)")
    p.add_argument("--masters", type=int, help="master hosts kb-master1..N (default 1)")
    p.add_argument("--nodes", type=int, help="worker hosts kb-node1..N (default 2)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--etcd", type=int, help="N dedicated etcd hosts (0 = etcd on masters)")
    g.add_argument("--etcd-on-masters", action="store_true", help="etcd runs on the masters")
    p.add_argument("--subnet", help=f"lab network subnet (default {DEFAULT_SUBNET}, "
                                    "env KUBEBIN_LAB_SUBNET)")
    p.add_argument("--suite", help=f"Debian suite of every host ({suites}; default "
                                   f"{DEFAULT_SUITE}; without it the last one is kept)")
    p.add_argument("--node-suite", help="Debian suite of the nodes only, after --suite: a mixed "
                                        "cluster (e.g. --suite bookworm --node-suite trixie)")
    p = sub.add_parser("down", help="remove every container, volume and network of the lab")
    p.add_argument("--purge", action="store_true", help=f"also delete {STATE_DIR} (lab key)")
    sub.add_parser("status", help="list the lab's containers, IPs, network and volumes")
    p = sub.add_parser("inventory", help="print the Ansible inventory path (or, with --out, "
                                         "write an inventory for another SSH user)")
    p.add_argument("--out", help="write OUT/hosts.yml (+ OUT/.ssh/ with a copy of the lab key)")
    p.add_argument("--ssh-user", default=LAB_USERS[0],
                   help=f"SSH user of --out (default {LAB_USERS[0]}: sudo with ansible_become; "
                        "or root, or kubebin-nosudo)")
    p.add_argument("--owner", help="controller user who owns OUT (default: root)")
    p.add_argument("--no-become", action="store_true",
                   help="no ansible_become in --out (playbooks that set `become: true` per play)")
    p = sub.add_parser("ssh", help="ssh to a lab host as root (HOST: kb-node1 or node1)")
    p.add_argument("host")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    fn = {"setup": cmd_setup, "image": cmd_image, "up": cmd_up, "down": cmd_down,
          "status": cmd_status, "inventory": cmd_inventory, "ssh": cmd_ssh}[args.command]
    try:
        fn(args)
    except LabError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
