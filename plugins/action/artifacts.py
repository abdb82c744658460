# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of kubebin.cluster.artifacts (documentation: plugins/modules/artifacts.py).

1. Each artifact is made available on the controller, verified: fetched once into the
   cache (under a lock, since every host's fork may ask for it at the same moment) or taken
   from the offline directory, and compared with its published sha256.
2. One module call on the host compares every file by sha256 and, when nothing is to be
   sent, also fixes modes, unpacked files and links: the no-op costs one round trip.
3. Otherwise the missing files are sent and the module is called again to put them in place.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase
from ansible_collections.kubebin.cluster.plugins.module_utils._common import sha256_file

SOURCES = ("kubernetes", "github", "images")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
BUFSIZE = 1024 * 1024


def parse_checksum_file(text: str, name: str) -> str:
    """The sha256 of ``name`` in a checksum file: a bare hash, or ``<hash>  [*]<name>`` lines
    (a path in the name column is matched by its last component)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and len(lines[0].split()) == 1:
        found = lines[0]
    else:
        found = ""
        for line in lines:
            fields = line.split()
            if len(fields) >= 2 and os.path.basename(fields[1].lstrip("*")) == name:
                found = fields[0]
                break
    if not SHA256_RE.match(found):
        return ""
    return found.lower()


def verified_sha256(path: str) -> str:
    """sha256 of a controller file, remembered beside it keyed by size and mtime, so that a
    file is hashed once rather than once per host and run."""
    st = os.stat(path)
    memo = path + ".kubebin-sha256"
    key = f"{st.st_size}:{st.st_mtime_ns}"
    try:
        with open(memo, encoding="utf-8") as handle:
            saved = json.load(handle)
        if saved.get("key") == key and SHA256_RE.match(saved.get("sha256", "")):
            return saved["sha256"]
    except (OSError, ValueError):
        pass
    value = sha256_file(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".kubebin-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"key": key, "sha256": value}, handle)
        os.replace(tmp, memo)
    except OSError:
        pass  # a read-only offline directory: hash again next time
    return value


def fetch(url: str, dest: str, timeout: int, environment: dict) -> None:
    """Download ``url`` to ``dest`` atomically (3 attempts)."""
    saved = {k: os.environ.get(k) for k in environment}
    os.environ.update({k: str(v) for k, v in environment.items()})
    try:
        error = None
        for attempt in range(3):
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".kubebin-dl-")
            try:
                with os.fdopen(fd, "wb") as out:
                    response = open_url(url, timeout=timeout, follow_redirects="all")
                    for block in iter(lambda: response.read(BUFSIZE), b""):
                        out.write(block)
                os.chmod(tmp, 0o644)
                os.replace(tmp, dest)
                return
            except Exception as exc:  # pylint: disable=broad-except
                error = exc
                if os.path.exists(tmp):
                    os.unlink(tmp)
                if attempt < 2:
                    time.sleep(5)
        raise AnsibleActionFail(f"download of {url} failed: {error}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _requires_connection = True

    def _resolve(self, item: dict, settings: dict) -> dict:
        """The verified controller file of one artifact: {name, local, sha256, ...}."""
        source, path = item.get("source"), str(item.get("path") or "")
        name = os.path.basename(path)
        if source not in SOURCES:
            raise AnsibleActionFail(f"artifact '{path}': source must be one of {', '.join(SOURCES)} (got {source!r})")
        if not path or path.startswith("/") or path.endswith("/") or ".." in path.split("/"):
            raise AnsibleActionFail(f"artifact path {path!r}: a relative path below the '{source}' base, without '..'")
        if bool(item.get("dest")) == bool(item.get("unpack")):
            raise AnsibleActionFail(f"artifact '{path}': set exactly one of dest (a binary) and unpack (an archive's directory)")
        for key in ("dest", "unpack"):
            if item.get(key) and not str(item[key]).startswith("/"):
                raise AnsibleActionFail(f"artifact '{path}': {key} must be an absolute path (got {item[key]!r})")
        if item.get("unpack") and not re.search(r"\.(tar\.gz|tgz)$", name):
            raise AnsibleActionFail(f"artifact '{path}': only .tar.gz/.tgz archives can be unpacked")
        if item.get("dest") and not re.match(r"^0?[0-7]{3,4}$", str(item.get("mode") or "0755")):
            raise AnsibleActionFail(f"artifact '{path}': mode must be octal such as '0755' (got {item.get('mode')!r})")
        given = str(item.get("sha256") or "")
        checksum_path = str(item.get("checksum_path") or "")
        if given and not SHA256_RE.match(given):
            raise AnsibleActionFail(f"artifact '{path}': sha256 must be 64 hex digits (got {given!r})")
        if not given and not checksum_path:
            raise AnsibleActionFail(f"artifact '{path}': a checksum is required: set checksum_path or sha256")

        offline = str(settings.get("offline_dir") or "")
        if offline:
            local = os.path.join(offline, source, path)
            if not given:
                sums = os.path.join(offline, source, checksum_path)
                try:
                    with open(sums, encoding="utf-8") as handle:
                        given = parse_checksum_file(handle.read(), name)
                except OSError as exc:
                    raise AnsibleActionFail(f"{sums}: cannot read the checksum file of {name}: {exc}") from exc
                if not given:
                    raise AnsibleActionFail(f"{sums}: no sha256 of {name} in it")
            if not os.path.isfile(local):
                raise AnsibleActionFail(f"{local}: missing from kubebin_offline_dir")
            got = verified_sha256(local)
            if got != given.lower():
                raise AnsibleActionFail(f"{local}: sha256 {got} does not match {given.lower()}. Refusing an unverified file:"
                                        " re-copy the file and its checksum file into kubebin_offline_dir.")
        else:
            base = str(settings.get(source) or "").rstrip("/")
            if not base:
                raise AnsibleActionFail(f"artifact '{path}': no base URL for source '{source}' (set kubebin_download_mirror, "
                                        "kubebin_images_base or kubebin_offline_dir)")
            cache = str(settings.get("cache_dir") or "")
            if not cache.startswith("/"):
                raise AnsibleActionFail(f"settings.cache_dir must be an absolute controller path (got {cache!r})")
            local = os.path.join(cache, source, path)
            os.makedirs(os.path.dirname(local), 0o755, exist_ok=True)
            timeout, env = int(settings.get("timeout") or 60), dict(settings.get("environment") or {})
            with open(local + ".kubebin-lock", "a", encoding="utf-8") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not given:
                    sums = os.path.join(cache, source, checksum_path)
                    if checksum_path == "SHA256SUMS" or not os.path.isfile(sums):
                        # a release's checksum file never changes; a mirror-wide list may
                        os.makedirs(os.path.dirname(sums), 0o755, exist_ok=True)
                        fetch(f"{base}/{checksum_path}", sums, timeout, env)
                    with open(sums, encoding="utf-8") as handle:
                        given = parse_checksum_file(handle.read(), name)
                    if not given:
                        raise AnsibleActionFail(f"{base}/{checksum_path}: no sha256 of {name} in it")
                given = given.lower()
                if not os.path.isfile(local) or verified_sha256(local) != given:
                    fetch(f"{base}/{path}", local, timeout, env)
                    got = verified_sha256(local)
                    if got != given:
                        os.unlink(local)
                        raise AnsibleActionFail(f"{base}/{path}: sha256 {got} does not match {given}; the download was removed")
        return {"name": name, "local": local, "sha256": given.lower(), "dest": item.get("dest") or "",
                "mode": str(item.get("mode") or "0755").zfill(4), "unpack": item.get("unpack") or ""}

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        settings = args.get("settings")
        if not isinstance(settings, dict):
            raise AnsibleActionFail("settings is required: pass kubebin_download_settings of kubebin.cluster.common")
        artifacts = args.get("artifacts")
        if not isinstance(artifacts, list) or not all(isinstance(a, dict) for a in artifacts):
            raise AnsibleActionFail("artifacts must be a list of dicts (source, path, checksum_path or sha256, dest or unpack)")
        resolved = [self._resolve(a, settings) for a in artifacts]
        locals_by_path = {}
        module_resolved = []
        archive_dir = args.get("archive_dir") or "/var/cache/kubebin"
        for r in resolved:
            host = r["dest"] or os.path.join(archive_dir, r["name"])
            locals_by_path[host] = r["local"]
            module_resolved.append({k: v for k, v in r.items() if k != "local"})
        module_args = dict(args, _resolved=module_resolved, _sources={})
        ret = self._execute_module(module_name="kubebin.cluster.artifacts", module_args=module_args, task_vars=task_vars)
        if ret.get("failed") or not ret.get("missing"):
            ret.pop("missing", None)
            result.update(ret)
            return result

        # Send what the host lacks, then put it in place.
        tmpdir = self._make_tmp_path()
        try:
            sources = {}
            for i, host_path in enumerate(ret["missing"]):
                remote = self._connection._shell.join_path(tmpdir, f"artifact-{i}")
                self._transfer_file(locals_by_path[host_path], remote)
                sources[host_path] = remote
            self._fixup_perms2([tmpdir] + list(sources.values()))
            module_args["_sources"] = sources
            ret = self._execute_module(module_name="kubebin.cluster.artifacts", module_args=module_args, task_vars=task_vars)
        finally:
            self._remove_tmp_path(tmpdir)
        ret.pop("missing", None)
        result.update(ret)
        return result
