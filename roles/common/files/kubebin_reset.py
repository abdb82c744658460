# Copyright: kubebin.cluster developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-side helper of reset.yml (run by ansible.builtin.script, never installed).

Takes one JSON argument and does, in this order, only what it names:

  kill_exe        [paths]   SIGKILL the processes whose executable is one of these (by pid)
  unmount_under   [dirs]    unmount every mount point strictly below these dirs, deepest first
  unmount_glob    [globs]   unmount mount points matching these fnmatch patterns
  iptables        {prefixes: [...], comments: [...]}
                            in every table of iptables/ip6tables (and their -legacy variants):
                            drop chains named with a prefix, every rule in or jumping to them,
                            and rules carrying one of the comments; other rules are kept
  nft_tables      [names]   nft tables of these names (any family)
  ipset_prefixes  [prefixes] ipsets named with a prefix
  links           [names]   network links of these names
  routes_in       [cidrs]   IPv4 routes whose destination lies inside one of these networks
  remove          [paths]   files, links and directories (a mount point is emptied, not removed);
                            a path with * ? [ is a glob
  remove_if_empty [dirs]    directories, only when empty
  dry_run         bool      report what would change, change nothing

Prints {"changed": bool, "actions": [...]} on stdout: one line per thing done (or that would be).
"""
import fnmatch
import glob
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys


def _run(argv, stdin=None):
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)


def kill_exe(paths, dry, actions):
    wanted = {os.path.realpath(p) for p in paths}
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            exe = os.readlink('/proc/%s/exe' % pid)
        except OSError:
            continue
        if exe.replace(' (deleted)', '') in wanted:
            actions.append('kill %s (%s)' % (pid, exe))
            if not dry:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _mounts():
    out = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            target = line.split()[4]
            # mountinfo escapes space, tab, newline and backslash as octal.
            out.append(target.encode().decode('unicode_escape'))
    return out


def _unmount(targets, dry, actions):
    for t in sorted(set(targets), key=lambda p: p.count('/'), reverse=True):
        actions.append('umount %s' % t)
        if not dry:
            r = _run(['umount', t])
            if r.returncode != 0:
                r = _run(['umount', '-l', t])
                if r.returncode != 0:
                    raise RuntimeError('umount %s: %s' % (t, r.stderr.strip()))


def unmount_under(dirs, dry, actions):
    mounts = _mounts()
    _unmount([m for m in mounts for d in dirs if m.startswith(d.rstrip('/') + '/')], dry, actions)


def unmount_glob(globs, dry, actions):
    _unmount([m for m in _mounts() for g in globs if fnmatch.fnmatch(m, g)], dry, actions)


def _rule_fields(line):
    toks = shlex.split(line)
    chain = toks[1] if len(toks) > 1 else ''
    target = comment = ''
    for i, tok in enumerate(toks[:-1]):
        if tok in ('-j', '--jump', '-g', '--goto'):
            target = toks[i + 1]
        elif tok == '--comment':
            comment = toks[i + 1]
    return chain, target, comment


def _clean_table(lines, prefixes, comments):
    """lines: one table of iptables-save output without '*name' and 'COMMIT'. Returns (kept, dropped)."""
    ours = {ln[1:].split()[0] for ln in lines if ln.startswith(':') and ln[1:].startswith(prefixes)}
    kept, dropped = [], []
    for ln in lines:
        if ln.startswith(':'):
            (dropped if ln[1:].split()[0] in ours else kept).append(ln)
        elif ln.startswith('-A '):
            chain, target, comment = _rule_fields(ln)
            (dropped if chain in ours or target in ours or (comment and comment in comments) else kept).append(ln)
        else:
            kept.append(ln)
    return kept, dropped


def iptables(spec, dry, actions):
    prefixes = tuple(spec.get('prefixes', []))
    comments = set(spec.get('comments', []))
    seen = set()
    for save, restore in (('iptables-save', 'iptables-restore'), ('ip6tables-save', 'ip6tables-restore'),
                          ('iptables-legacy-save', 'iptables-legacy-restore'),
                          ('ip6tables-legacy-save', 'ip6tables-legacy-restore')):
        save_bin, restore_bin = shutil.which(save), shutil.which(restore)
        if not save_bin or not restore_bin:
            continue
        r = _run([save_bin])
        if r.returncode != 0:
            continue
        dump = r.stdout
        # iptables-save may be the legacy binary itself (alternatives): each rule set once.
        if (dump, save.startswith('ip6')) in seen:
            continue
        seen.add((dump, save.startswith('ip6')))
        table, lines = None, []
        for ln in dump.splitlines():
            if ln.startswith('*'):
                table, lines = ln[1:].strip(), []
            elif ln.strip() == 'COMMIT' and table:
                kept, dropped = _clean_table(lines, prefixes, comments)
                if dropped:
                    actions.append('%s -t %s: remove %d chain(s)/rule(s)' % (restore, table, len(dropped)))
                    if not dry:
                        body = '*%s\n%s\nCOMMIT\n' % (table, '\n'.join(kept))
                        rr = _run([restore_bin, '-w'], stdin=body)
                        if rr.returncode != 0:
                            raise RuntimeError('%s -t %s: %s' % (restore, table, rr.stderr.strip()))
                table = None
            elif table and not ln.startswith('#'):
                lines.append(ln)


def nft_tables(names, dry, actions):
    nft = shutil.which('nft')
    if not nft:
        return
    r = _run([nft, 'list', 'tables'])
    for ln in r.stdout.splitlines():
        parts = ln.split()
        if len(parts) == 3 and parts[0] == 'table' and parts[2] in names:
            actions.append('nft delete table %s %s' % (parts[1], parts[2]))
            if not dry:
                _run([nft, 'delete', 'table', parts[1], parts[2]])


def ipsets(prefixes, dry, actions):
    ipset = shutil.which('ipset')
    if not ipset:
        return
    r = _run([ipset, 'list', '-n'])
    for name in r.stdout.split():
        if name.startswith(tuple(prefixes)):
            actions.append('ipset destroy %s' % name)
            if not dry:
                _run([ipset, 'destroy', name])


def links(names, dry, actions):
    for name in names:
        if os.path.exists('/sys/class/net/%s' % name):
            actions.append('ip link delete %s' % name)
            if not dry:
                _run(['ip', 'link', 'delete', name])


def routes_in(cidrs, dry, actions):
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    r = _run(['ip', '-4', 'route', 'show'])
    for ln in r.stdout.splitlines():
        dest = ln.split()[0] if ln.split() else ''
        try:
            net = ipaddress.ip_network(dest, strict=False)
        except ValueError:
            continue
        if any(net.version == n.version and net.subnet_of(n) for n in nets):
            actions.append('ip route del %s' % ln.strip())
            if not dry:
                _run(['ip', 'route', 'del'] + ln.split())


def remove_if_empty(dirs, dry, actions):
    for d in dirs:
        if os.path.isdir(d) and not os.path.islink(d) and not os.listdir(d):
            actions.append('rmdir %s' % d)
            if not dry:
                os.rmdir(d)


def _expand(paths):
    out = []
    for p in paths:
        out.extend(sorted(glob.glob(p)) if glob.has_magic(p) else [p])
    return out


def remove(paths, dry, actions):
    mounts = set(_mounts())
    for p in _expand(paths):
        if not p or not p.startswith('/') or os.path.realpath(p) == '/':
            raise RuntimeError('refusing to remove %r' % p)
        below = [m for m in mounts if m.startswith(p.rstrip('/') + '/')]
        if below:  # never delete through a mount (a bind-mounted host directory)
            raise RuntimeError('refusing to remove %s: still mounted below it: %s' % (p, ', '.join(sorted(below))))
        if p.rstrip('/') in mounts and os.path.isdir(p):
            entries = os.listdir(p)
            if entries:
                actions.append('empty %s (mount point, %d entries)' % (p, len(entries)))
                if not dry:
                    for e in entries:
                        _rm(os.path.join(p, e))
        elif os.path.lexists(p):
            actions.append('remove %s' % p)
            if not dry:
                _rm(p)


def _rm(p):
    if os.path.isdir(p) and not os.path.islink(p):
        shutil.rmtree(p)
    else:
        os.unlink(p)


def main():
    spec = json.loads(sys.argv[1])
    dry = bool(spec.get('dry_run'))
    actions = []
    kill_exe(spec.get('kill_exe', []), dry, actions)
    unmount_under(spec.get('unmount_under', []), dry, actions)
    unmount_glob(spec.get('unmount_glob', []), dry, actions)
    if spec.get('iptables'):
        iptables(spec['iptables'], dry, actions)
    nft_tables(spec.get('nft_tables', []), dry, actions)
    ipsets(spec.get('ipset_prefixes', []), dry, actions)
    links(spec.get('links', []), dry, actions)
    routes_in(spec.get('routes_in', []), dry, actions)
    remove(spec.get('remove', []), dry, actions)
    remove_if_empty(spec.get('remove_if_empty', []), dry, actions)
    print(json.dumps({'changed': bool(actions), 'actions': actions}))


if __name__ == '__main__':
    try:
        main()
    except Exception as exc:  # reported to Ansible as a failure with the reason
        print(json.dumps({'changed': True, 'failed': True, 'msg': str(exc)}))
        sys.exit(1)
