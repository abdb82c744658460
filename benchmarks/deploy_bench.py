"""Deploy benchmark of kubebin.cluster on the local lab: prints figures, asserts only drift.

For each topology asked for (default: small), on a fresh lab of its own:

  small  1 master (with etcd) + 2 nodes: first site.yml, no-op site.yml, site.yml --check
         on the converged cluster, then the drift test (below)
  wide   1 master + 5 nodes: first site.yml, no-op, then one node added with add_node.yml
  ha     3 masters (etcd on each) + 2 nodes: first site.yml, no-op, --check

Each run goes the way users run it: ansible-playbook from this checkout (its ansible.cfg:
pipelining, ControlPersist), hosts reached over SSH as the lab's sudo account `kubebin` with
ansible_become. A callback (benchmarks/callback_plugins/kubebin_bench.py) records every
task's wall time and role and each host's results; the script prints, per run, the wall
time, changed per host, tasks per host (ok + changed + skipped) and the time per role, and
the CPU it cost: the whole machine's busy CPU seconds during the run (controller and lab
hosts alike: /proc/stat), the controller's share (ansible-playbook and its SSH clients:
the children's rusage), and the cores kept busy on average (CPU / wall). On a machine whose
cores are all busy the wall time grows with the CPU, whatever runs in parallel.

The drift test (small) breaks eighteen things by hand on the converged cluster (DRIFTS: the
issue's seven — a kubelet config value, a kube-proxy unit line, a removed crictl binary, a
key made 0644, a stopped kube-scheduler, an edited kube-apiserver flag, a deleted CA file —
and what the roles' one-read probes decide on), runs site.yml once and checks that each was
put back and its service restarted. A speed-up that skips work by trusting a
marker must not lose that; the script exits 1 when a drift stays.

    python3 benchmarks/deploy_bench.py [--topology small,wide,ha] [--keep]
    make bench-deploy                      # the same, small only (BENCH_TOPOLOGY=...)

Figures are recorded in docs/performance.md. Needs the lab (make lab-build, root, podman).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = [sys.executable, os.path.join(ROOT, "hack", "lab", "lab.py")]
TOPOLOGIES = {
    "small": {"masters": 1, "nodes": 2},
    "wide": {"masters": 1, "nodes": 5},
    "ha": {"masters": 3, "nodes": 2},
}


def log(msg: str) -> None:
    print(msg, flush=True)


def sh(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kw)


class Lab:
    def __init__(self, name: str, workdir: str):
        self.name = name
        self.workdir = workdir
        self.inv_dir = os.path.join(workdir, "inventory")

    def lab(self, *args: str) -> str:
        return sh(LAB + ["--name", self.name, *args]).stdout

    def up(self, masters: int, nodes: int) -> None:
        self.lab("up", "--masters", str(masters), "--nodes", str(nodes), "--etcd-on-masters")
        self.inventory = self.lab("inventory", "--out", self.inv_dir, "--ssh-user", "kubebin").strip()

    def hosts(self, group: str) -> list[str]:
        out = sh(["ansible-inventory", "-i", self.inventory, "--list"], env=ansible_env()).stdout
        return json.loads(out).get(group, {}).get("hosts", [])

    def container(self, host: str) -> str:
        # inventory names are the containers' names (<lab>-master1, ...)
        return host if host.startswith(f"{self.name}-") else f"{self.name}-{host}"

    def exec(self, host: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", "exec", self.container(host), "sh", "-c", script],
                              check=check, text=True, capture_output=True)


def ansible_env() -> dict:
    # The checkout's ansible.cfg decides (as for a user of a plain clone): no ANSIBLE_*
    # variables from the Makefile's environment (its collection copy, its interpreter).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    venv_bin = os.path.join(ROOT, ".venv", "bin")
    if os.path.isdir(venv_bin):
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def busy_cpu_seconds() -> float:
    """The machine's busy CPU time so far (all cores; /proc/stat, without idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is counted in user)
    busy = sum(fields[:3]) + sum(fields[5:8])
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of this script's finished children (ansible-playbook, its workers, ssh)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Run:
    def __init__(self, label: str, wall: float, data: dict, rc: int, log_path: str,
                 cpu: float, controller_cpu: float):
        self.label = label
        self.wall = wall
        self.data = data
        self.rc = rc
        self.log_path = log_path
        self.cpu = cpu                        # busy CPU seconds of the whole machine
        self.controller_cpu = controller_cpu  # of ansible-playbook and its children

    def changed(self) -> dict:
        return {h: c.get("changed", 0) for h, c in self.data.get("hosts", {}).items()}

    def tasks(self) -> dict:
        return {h: sum(c.get(k, 0) for k in ("ok", "changed", "skipped")) for h, c in self.data.get("hosts", {}).items()}

    def skipped(self) -> dict:
        return {h: c.get("skipped", 0) for h, c in self.data.get("hosts", {}).items()}

    def roles(self) -> dict:
        per = defaultdict(float)
        for t in self.data.get("tasks", []):
            per[t["role"] or "(play)"] += t["end"] - t["start"]
        return dict(sorted(per.items(), key=lambda kv: -kv[1]))


def playbook(lab: Lab, label: str, playbook_name: str, *args: str) -> Run:
    out = os.path.join(lab.workdir, f"{label}.json")
    log_path = os.path.join(lab.workdir, f"{label}.log")
    env = ansible_env()
    env.update({
        "KUBEBIN_BENCH_OUT": out,
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(ROOT, "benchmarks", "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "kubebin_bench",
    })
    argv = ["ansible-playbook", "-i", lab.inventory, playbook_name, *args]
    log(f"  {label}: {' '.join(shlex.quote(a) for a in argv)}")
    start, cpu0, ctl0 = time.time(), busy_cpu_seconds(), children_cpu_seconds()
    with open(log_path, "w", encoding="utf-8") as f:
        rc = subprocess.run(argv, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            check=False).returncode
    wall = time.time() - start
    cpu, ctl = busy_cpu_seconds() - cpu0, children_cpu_seconds() - ctl0
    data = {}
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
    run = Run(label, wall, data, rc, log_path, cpu, ctl)
    log(f"  {label}: rc={rc} {wall:.0f}s changed={sum(run.changed().values())} cpu={cpu:.0f}s controller={ctl:.0f}s")
    if rc != 0:
        with open(log_path, encoding="utf-8") as f:
            log("".join(f.readlines()[-30:]))
    return run


# --- drift -------------------------------------------------------------------------------
# (description, host group, break, is it repaired?, unit that must have been restarted) —
# shell run in the host.
DRIFTS = [
    ("kubelet config value (maxPods 7)", "nodes",
     "sed -i 's/^maxPods: .*/maxPods: 7/' /etc/kubernetes/kubelet-config.yaml; grep -q '^maxPods: 7' /etc/kubernetes/kubelet-config.yaml",
     "! grep -q '^maxPods: 7' /etc/kubernetes/kubelet-config.yaml", "kubelet"),
    ("kube-proxy unit line (--v=9)", "nodes",
     "sed -i 's#^ExecStart=\\(.*\\)#ExecStart=\\1 --v=9#' /etc/systemd/system/kube-proxy.service; grep -q -- '--v=9' /etc/systemd/system/kube-proxy.service",
     "! grep -q -- '--v=9' /etc/systemd/system/kube-proxy.service"
     " && ! tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value kube-proxy)/cmdline | grep -q -- '--v=9'", "kube-proxy"),
    ("crictl removed", "nodes",
     "rm -f /usr/local/bin/crictl",
     "test -x /usr/local/bin/crictl", None),
    ("apiserver key made 0644", "masters",
     "chmod 0644 /etc/kubernetes/pki/kube-apiserver-key.pem",
     "test \"$(stat -c %a /etc/kubernetes/pki/kube-apiserver-key.pem)\" = 600", None),
    ("kube-scheduler stopped", "masters",
     "systemctl stop kube-scheduler",
     "systemctl is-active -q kube-scheduler", None),
    ("kube-apiserver flag edited (--event-ttl=5m)", "masters",
     "sed -i 's#--event-ttl=[^ ]*#--event-ttl=5m#; t; s#^ExecStart=\\([^ ]*\\)#ExecStart=\\1 --event-ttl=5m#' /etc/systemd/system/kube-apiserver.service;"
     " grep -q -- '--event-ttl=5m' /etc/systemd/system/kube-apiserver.service",
     "! grep -q -- '--event-ttl=5m' /etc/systemd/system/kube-apiserver.service"
     " && ! tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value kube-apiserver)/cmdline | grep -q -- '--event-ttl=5m'",
     "kube-apiserver"),
    ("CA file deleted on a node", "nodes",
     "rm -f /etc/kubernetes/pki/ca.pem",
     "test -s /etc/kubernetes/pki/ca.pem", None),
    # What the roles' one-read probes decide on (a converged host skips the module calls):
    ("kube-proxy stopped", "masters",
     "systemctl stop kube-proxy",
     "systemctl is-active -q kube-proxy", None),
    ("kubelet kubeconfig's API server edited", "masters",
     "sed -i 's#^\\([[:space:]]*server:\\).*#\\1 https://127.0.0.2:6443#' /etc/kubernetes/kubelet.kubeconfig;"
     " grep -q 127.0.0.2 /etc/kubernetes/kubelet.kubeconfig",
     "! grep -q 127.0.0.2 /etc/kubernetes/kubelet.kubeconfig", "kubelet"),
    ("etcd backup timer disabled and stopped", "masters",
     "systemctl disable --now kubebin-etcd-backup.timer",
     "systemctl is-active -q kubebin-etcd-backup.timer && systemctl is-enabled -q kubebin-etcd-backup.timer", None),
    ("CSR approver timer stopped", "masters",
     "systemctl stop kubebin-csr-approver.timer",
     "systemctl is-active -q kubebin-csr-approver.timer", None),
    ("etcd user given a login shell", "masters",
     "usermod -s /bin/sh etcd",
     "getent passwd etcd | grep -q ':/usr/sbin/nologin$'", None),
    # What the probes' file states decide on (kubebin.cluster.files known_state):
    ("etcd.env edited", "masters",
     "echo '# drift' >> /etc/etcd/etcd.env",
     "! grep -q '^# drift' /etc/etcd/etcd.env", "etcd"),
    ("etcd peer key made 0644", "masters",
     "chmod 0644 /etc/etcd/pki/peer-key.pem",
     "test \"$(stat -c %a /etc/etcd/pki/peer-key.pem)\" = 600", None),
    ("legacy token.csv planted on a master", "masters",
     "echo 'tok,kubelet-bootstrap,10001' > /etc/kubernetes/token.csv",
     "test ! -e /etc/kubernetes/token.csv", None),
    ("CSR approver program edited", "masters",
     "echo '# drift' >> /usr/local/lib/kubebin-csr-approver/kubebin-csr-approver.py",
     "! grep -q '^# drift' /usr/local/lib/kubebin-csr-approver/kubebin-csr-approver.py", None),
    ("CSR approver config.json made 0644", "masters",
     "chmod 0644 /etc/kubernetes/csr-approver/config.json",
     "test \"$(stat -c %a /etc/kubernetes/csr-approver/config.json)\" = 640", None),
    ("node PKI directory made 0755", "nodes",
     "chmod 0755 /etc/kubernetes/pki",
     "test \"$(stat -c %a /etc/kubernetes/pki)\" = 700", None),
]


def main_pid(lab: "Lab", host: str, unit: str) -> str:
    return lab.exec(host, f"systemctl show -p MainPID --value {unit}", check=False).stdout.strip()


def drift_test(lab: Lab) -> tuple[Run, list[tuple[str, str, bool]]]:
    masters, nodes = lab.hosts("masters"), lab.hosts("nodes")
    targets = {"masters": masters[0], "nodes": nodes[-1]}
    pids = {}
    for desc, group, brk, _ok, unit in DRIFTS:
        host = targets[group]
        if unit:
            pids[desc] = main_pid(lab, host, unit)
        r = lab.exec(host, brk, check=False)
        if r.returncode != 0:
            raise SystemExit(f"drift '{desc}' could not be made on {host}: {r.stdout}{r.stderr}")
    run = playbook(lab, "small-drift", "site.yml")
    results = []
    for desc, group, _brk, ok, unit in DRIFTS:
        host = targets[group]
        good = lab.exec(host, ok, check=False).returncode == 0
        if unit:
            after = main_pid(lab, host, unit)
            restarted = after not in ("", "0", pids[desc])
            good = good and restarted
            desc = f"{desc}, {unit} {'restarted' if restarted else 'NOT restarted'}"
        results.append((desc, host, good))
    return run, results


# --- topologies ----------------------------------------------------------------------------
def bench(topology: str, args) -> dict:
    spec = TOPOLOGIES[topology]
    name = f"{args.lab_prefix}{topology[0]}"
    workdir = os.path.join(ROOT, "build", "bench", topology)
    os.makedirs(workdir, exist_ok=True)
    lab = Lab(name, workdir)
    log(f"== {topology}: {spec['masters']} master(s) + {spec['nodes']} nodes on lab '{name}'")
    if args.reuse:
        # the lab of an earlier run (--keep), already deployed: only the steps after the first run
        lab.up(spec["masters"], spec["nodes"])
        runs = []
    else:
        lab.lab("down")
        for f in os.listdir(workdir):
            if f.endswith((".json", ".log")):
                os.remove(os.path.join(workdir, f))
        subprocess.run(["rm", "-rf", lab.inv_dir], check=True)
        t = time.time()
        lab.up(spec["masters"], spec["nodes"])
        log(f"  lab up {time.time() - t:.0f}s")
        runs = [playbook(lab, f"{topology}-first", "site.yml")]
    out = {"topology": topology, "runs": runs, "drift": None}
    if runs and runs[0].rc != 0:
        return out
    runs.append(playbook(lab, f"{topology}-noop", "site.yml"))
    if topology in ("small", "ha"):
        runs.append(playbook(lab, f"{topology}-check", "site.yml", "--check"))
    if topology == "wide":
        before = set(lab.hosts("nodes"))
        lab.up(spec["masters"], spec["nodes"] + 1)
        new = sorted(set(lab.hosts("nodes")) - before)
        runs.append(playbook(lab, f"{topology}-add_node", "add_node.yml", "-e", f"add_nodes={','.join(new)}"))
    if topology == "small" and not args.no_drift:
        run, results = drift_test(lab)
        runs.append(run)
        out["drift"] = results
    if not args.keep:
        lab.lab("down")
    return out


def report(results: list[dict]) -> int:
    rc = 0
    load = open("/proc/loadavg").read().split()[:3]
    log("")
    log(f"=== deploy benchmark {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, load {' '.join(load)}")
    log(f"{'run':<18} {'rc':>3} {'wall':>6}  {'changed per host':<34} tasks per host (skipped)")
    for res in results:
        for r in res["runs"]:
            ch = " ".join(f"{h}={c}" for h, c in sorted(r.changed().items()))
            sk = r.skipped()
            tk = " ".join(f"{h}={n}({sk[h]})" for h, n in sorted(r.tasks().items()))
            log(f"{r.label:<18} {r.rc:>3} {r.wall:>5.0f}s  {ch:<34} {tk}")
            rc |= r.rc != 0
    log("")
    log(f"CPU of each run (machine: all {os.cpu_count()} cores, controller: ansible-playbook and its children):")
    log(f"{'run':<18} {'wall':>6} {'machine':>8} {'controller':>11} {'hosts+other':>12} {'cores busy':>11} {'per host':>9}")
    for res in results:
        for r in res["runs"]:
            n = max(len(r.changed()), 1)
            log(f"{r.label:<18} {r.wall:>5.0f}s {r.cpu:>7.0f}s {r.controller_cpu:>10.0f}s "
                f"{r.cpu - r.controller_cpu:>11.0f}s {r.cpu / max(r.wall, 1):>11.2f} {r.cpu / n:>8.1f}s")
    log("")
    log("time per role (s), wall clock of the linear strategy:")
    for res in results:
        for r in res["runs"]:
            log(f"  {r.label:<18} " + ", ".join(f"{k} {v:.0f}" for k, v in r.roles().items() if v >= 0.5))
    for res in results:
        if res["drift"] is not None:
            log("")
            log("drift repaired by one site.yml run:")
            for desc, host, ok in res["drift"]:
                log(f"  {'yes' if ok else 'NO ':<4} {desc} on {host}")
                rc |= not ok
    return 1 if rc else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--topology", default="small", help="comma-separated: small, wide, ha (default small)")
    p.add_argument("--lab-prefix", default="bn", help="lab names are <prefix><s|w|h> (default bn)")
    p.add_argument("--keep", action="store_true", help="leave the labs up afterwards")
    p.add_argument("--no-drift", action="store_true", help="skip the drift test of 'small'")
    p.add_argument("--reuse", action="store_true", help="reuse the deployed lab of an earlier --keep run (no first run)")
    args = p.parse_args()
    wanted = [t.strip() for t in args.topology.split(",") if t.strip()]
    bad = [t for t in wanted if t not in TOPOLOGIES]
    if bad or not wanted:
        p.error(f"unknown topology {bad or wanted}: choose from {', '.join(TOPOLOGIES)}")
    results = [bench(t, args) for t in wanted]
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
