# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File filters of kubebin.cluster. Documentation: the YAML file of the same name as each filter.

A role reads the state of its files with one read-only probe (sha256, owner, group and mode of
each path, in the shape below) and runs its kubebin.cluster.files task only when this filter
returns a path, instead of one module call on every run (a converged host then does one read
that it needs for its other decisions anyway).

Probe states, one string per path:
  "<sha256> <owner> <group> <octal mode>"   a regular file
  "dir <owner> <group> <octal mode>"        a directory
  "absent"                                  nothing there
  anything else                             something else (a symlink, a device): rewritten
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _mode(value, where):
    text = str(value)
    try:
        return format(int(text, 8), "o")
    except ValueError:
        raise AnsibleFilterError(f"paths_to_write: {where}: mode must be octal such as '0644', got {value!r}") from None


def _attrs(spec, default_mode, where):
    return f"{spec.get('owner', 'root')} {spec.get('group', 'root')} {_mode(spec.get('mode', default_mode), where)}"


def paths_to_write(state, files=None, directories=None, absent=None):
    """The paths of a kubebin.cluster.files task whose state on the host (``state``: path ->
    probe string) differs from what the task makes, in the order directories, files, absent."""
    if not isinstance(state, Mapping):
        raise AnsibleFilterError(f"paths_to_write: the input must map paths to probe states, got {type(state).__name__}")
    out = []
    for i, d in enumerate(directories or []):
        if not isinstance(d, Mapping) or not d.get("path"):
            raise AnsibleFilterError(f"paths_to_write: directories[{i}] needs a path, got {d!r}")
        if state.get(d["path"]) != "dir " + _attrs(d, "0755", d["path"]):
            out.append(d["path"])
    for i, f in enumerate(files or []):
        if not isinstance(f, Mapping) or not f.get("dest") or f.get("content") is None:
            raise AnsibleFilterError(f"paths_to_write: files[{i}] needs dest and content, got keys {sorted(f or {})!r}")
        digest = hashlib.sha256(str(f["content"]).encode("utf-8")).hexdigest()
        if state.get(f["dest"]) != digest + " " + _attrs(f, "0644", f["dest"]):
            out.append(f["dest"])
    for path in absent or []:
        if state.get(path, "absent") != "absent":
            out.append(path)
    return out


# The shell function that prints one path's probe state (POSIX sh, coreutils).
_PATH_STATE_SH = """path_state() {
  if [ -L "$1" ]; then printf other
  elif [ -f "$1" ]; then printf '%s %s' "$(sha256sum < "$1" | cut -d' ' -f1)" "$(stat -c '%U %G %a' "$1")"
  elif [ -d "$1" ]; then printf 'dir %s' "$(stat -c '%U %G %a' "$1")"
  elif [ -e "$1" ]; then printf other
  else printf absent; fi
}
"""


def path_states_script(paths, key="paths"):
    """A POSIX shell snippet for a role's read-only probe that prints, as YAML, ``<key>:``
    and one ``"<path>": '<probe state>'`` line per path (the states ``paths_to_write`` and
    kubebin.cluster.files' known_state read). Empty paths are left out."""
    if isinstance(paths, (str, bytes)) or not isinstance(paths, (list, tuple)):
        raise AnsibleFilterError(f"path_states_script: the input must be a list of paths, got {type(paths).__name__}")
    if not isinstance(key, str) or not key.isidentifier():
        raise AnsibleFilterError(f"path_states_script: key must be a plain name, got {key!r}")
    lines = [_PATH_STATE_SH, f"echo '{key}:'"]
    for path in dict.fromkeys(str(p) for p in paths if p):
        if not path.startswith("/"):
            raise AnsibleFilterError(f"path_states_script: {path!r} is not an absolute path")
        # the key is a JSON string (valid YAML), made here; the state has no quote in it
        lines.append(f"printf '  %s: %s\\n' {shlex.quote(json.dumps(path))} \"'$(path_state {shlex.quote(path)})'\"")
    return "\n".join(lines) + "\n"


class FilterModule:
    """kubebin.cluster file filters."""

    def filters(self):
        return {"paths_to_write": paths_to_write, "path_states_script": path_states_script}
