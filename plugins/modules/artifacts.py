#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifacts
short_description: Install sha256-verified release binaries and archives on a host in one task
version_added: 0.1.0
description:
  - Installs a component's release artifacts (single binaries, and C(.tar.gz)/C(.tgz)
    archives unpacked into a directory) and the symbolic links to them, in one task that
    reports exactly which paths it changed (RV(changed_paths)), so that the caller restarts
    only the services whose files changed.
  - On the controller (the action plugin), each artifact is fetched once into the controller
    cache O(settings.cache_dir) and verified against its published checksum file (or
    O(artifacts[].sha256)), or, with O(settings.offline_dir), taken from that directory and
    verified the same way. No unverified file is ever used. The checksum file of a release is
    fetched once and kept in the cache beside the artifact.
  - On the host, a file is compared by sha256 with the verified one and sent only when it
    differs or is missing; an archive is kept under O(archive_dir) and its unpacked files are
    recorded in a manifest beside it (path, sha256, mode). Every run re-checks every recorded
    file by sha256 and mode, so a removed, edited or re-moded file is put back, from the
    archive already on the host.
  - Files are written atomically (a temporary file in the same directory, its mode set
    first, then a rename), owned by root.
  - Use it for release artifacts only; configuration files and units are templates.
author:
  - kubebin.cluster contributors (@kubebin)
attributes:
  check_mode:
    support: full
    description: Reports what would change; nothing is sent to or written on the host. The controller cache is still filled.
  diff_mode:
    support: none
    description: Not supported; RV(changed_paths) lists the paths that change.
  action:
    support: full
    description: An action plugin resolves and verifies the artifacts on the controller.
options:
  artifacts:
    description:
      - The artifacts to install.
    type: list
    elements: dict
    required: true
    suboptions:
      source:
        description:
          - Which base URL (or O(settings.offline_dir) sub-directory) O(artifacts[].path) is relative to.
        type: str
        choices: [kubernetes, github, images]
        required: true
      path:
        description:
          - Path of the artifact below its base, in the upstream layout, for example
            V(release/v1.37.1/bin/linux/amd64/kubelet).
        type: str
        required: true
      checksum_path:
        description:
          - Path, below the same base, of the checksum file that lists the artifact's sha256
            (a bare hash, or C(<hash>  <name>) lines).
          - One of O(artifacts[].checksum_path) and O(artifacts[].sha256) is required.
        type: str
      sha256:
        description:
          - The artifact's sha256, instead of a checksum file.
        type: str
      dest:
        description:
          - A single binary's absolute path on the host. Exactly one of O(artifacts[].dest)
            and O(artifacts[].unpack) is required.
        type: path
      mode:
        description:
          - Mode of O(artifacts[].dest).
        type: str
        default: "0755"
      unpack:
        description:
          - Absolute directory on the host to unpack the archive into (it must be a
            C(.tar.gz) or C(.tgz); members with absolute paths or C(..) are refused). Member
            modes come from the archive.
        type: path
  links:
    description:
      - Symbolic links to create or correct, after the artifacts are in place.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: What the link points to.
        type: path
        required: true
      dest:
        description: The link.
        type: path
        required: true
  archive_dir:
    description:
      - Host directory keeping the archives and their manifests (created C(0755)).
    type: path
    default: /var/cache/kubebin
  settings:
    description:
      - Where artifacts come from; the roles pass C(kubebin_download_settings) of
        kubebin.cluster.common.
    type: dict
    required: true
    suboptions:
      kubernetes:
        description: Base URL of Kubernetes release binaries.
        type: str
        default: ""
      github:
        description: Base URL of GitHub release downloads.
        type: str
        default: ""
      images:
        description: Base URL of offline image archives.
        type: str
        default: ""
      cache_dir:
        description: Controller directory caching verified downloads.
        type: path
        required: true
      offline_dir:
        description: Controller directory with the mirror layout; when set, nothing is downloaded.
        type: path
        default: ""
      environment:
        description: Proxy variables for the downloads on the controller (for example C(https_proxy)).
        type: dict
        default: {}
      timeout:
        description: Seconds before a download attempt gives up (3 attempts).
        type: int
        default: 60
  _resolved:
    description:
      - Internal, filled by the action plugin (the verified artifacts); do not set.
    type: list
    elements: dict
  _sources:
    description:
      - Internal, filled by the action plugin (the host paths of the files it sent); do not set.
    type: dict
notes:
  - The artifacts are read on the controller by the action plugin; the module alone, without
    it, cannot fetch anything.
"""

EXAMPLES = r"""
- name: Install kubelet and kube-proxy
  kubebin.cluster.artifacts:
    settings: "{{ kubebin_download_settings }}"
    artifacts:
      - source: kubernetes
        path: release/v1.37.1/bin/linux/amd64/kubelet
        checksum_path: release/v1.37.1/bin/linux/amd64/kubelet.sha256
        dest: /usr/local/bin/kubelet
      - source: github
        path: containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz
        checksum_path: containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz.sha256sum
        unpack: /usr/local
  register: installed

- name: Restart the kubelet when its binary changed
  ansible.builtin.debug:
    msg: kubelet replaced
  changed_when: true
  when: "'/usr/local/bin/kubelet' in installed.changed_paths"
  notify: restart kubelet
"""

RETURN = r"""
changed_paths:
  description:
    - Every path written or corrected (a binary, an unpacked file, an archive, a link, a
      directory created). In check mode, those that would be.
  returned: always
  type: list
  elements: str
  sample: [/usr/local/bin/kubelet]
artifacts:
  description: Per artifact, its file name, verified sha256 and where it went.
  returned: always
  type: list
  elements: dict
  sample: [{name: kubelet, sha256: 0f1e..., dest: /usr/local/bin/kubelet}]
"""

import hashlib
import json
import os
import stat
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubebin.cluster.plugins.module_utils._common import sha256_file, write_atomic

BUFSIZE = 1024 * 1024
MANIFEST_SUFFIX = ".kubebin-manifest.json"


def file_state(path):
    """(sha256, mode) of a regular file, or None when it is missing or not a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return sha256_file(path), stat.S_IMODE(st.st_mode)


def write_from(reader, dest, mode):
    """Copy the stream ``reader`` to ``dest`` atomically, ``mode`` set first, root-owned when run as root."""
    write_atomic(dest, reader, mode, prepare=(lambda tmp: os.chown(tmp, 0, 0)) if os.geteuid() == 0 else None)


def ensure_dir(path, changed, check_mode):
    if os.path.isdir(path):
        return
    changed.append(path)
    if not check_mode:
        os.makedirs(path, 0o755)


def archive_members(archive):
    """The regular files of a tar archive: [(member name, TarInfo)]; refuses unsafe names."""
    members = []
    with tarfile.open(archive, "r:*") as tar:
        for info in tar.getmembers():
            name = info.name
            while name.startswith("./"):
                name = name[2:]
            if not name or info.isdir():
                continue
            if name.startswith("/") or ".." in name.split("/"):
                raise ValueError(f"{archive}: member {info.name!r} is outside the directory")
            if not info.isreg():
                raise ValueError(f"{archive}: member {info.name!r} is not a regular file (links are not supported)")
            members.append((name, info))
    return members


def read_manifest(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def member_sha256(tar, info):
    digest = hashlib.sha256()
    reader = tar.extractfile(info)
    while True:
        block = reader.read(BUFSIZE)
        if not block:
            break
        digest.update(block)
    return digest.hexdigest()


def plan_archive(archive, want_sha, unpack):
    """The archive's files that differ on the host: ({name: (sha256, mode)} of every member,
    [names to write]). A manifest of this archive and directory answers without opening it;
    without one (first unpack, or a host installed otherwise) the members are hashed."""
    manifest = read_manifest(archive + MANIFEST_SUFFIX)
    if manifest and manifest.get("sha256") == want_sha and manifest.get("unpack") == unpack:
        files = {n: (e["sha256"], int(e["mode"], 8)) for n, e in manifest.get("files", {}).items()}
        fresh = False
    else:
        files = {}
        with tarfile.open(archive, "r:*") as tar:
            for name, info in archive_members(archive):
                files[name] = (member_sha256(tar, info), stat.S_IMODE(info.mode) or 0o644)
        fresh = True
    stale = [n for n in sorted(files) if file_state(os.path.join(unpack, n)) != files[n]]
    return files, stale, fresh


def unpack_archive(archive, want_sha, unpack, files, stale):
    """Write the ``stale`` members into ``unpack``, then the manifest of ``files``."""
    if stale:
        with tarfile.open(archive, "r:*") as tar:
            for name, info in archive_members(archive):
                if name in stale:
                    target = os.path.join(unpack, name)
                    os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                    write_from(tar.extractfile(info), target, files[name][1])
                    if file_state(target) != files[name]:
                        raise ValueError(f"{target} does not match the archive after unpacking")
    manifest = {"sha256": want_sha, "unpack": unpack,
                "files": {n: {"sha256": s, "mode": f"{m:04o}"} for n, (s, m) in files.items()}}
    tmp = archive + MANIFEST_SUFFIX + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
    os.replace(tmp, archive + MANIFEST_SUFFIX)
    return [os.path.join(unpack, n) for n in stale]


def host_path(item, archive_dir):
    return item["dest"] if item.get("dest") else os.path.join(archive_dir, item["name"])


def run(module):
    p = module.params
    check = module.check_mode
    resolved = p["_resolved"] or []
    sources = p["_sources"] or {}
    archive_dir = p["archive_dir"]
    changed = []

    # 1. Which host files differ from the verified ones (they must be sent first).
    missing = []
    for item in resolved:
        path = host_path(item, archive_dir)
        state = file_state(path)
        item["_state"] = state
        if state is None or state[0] != item["sha256"]:
            if path not in sources:
                missing.append(path)
    if missing and not check:
        # The action plugin sends these and calls again with _sources.
        return {"changed": False, "missing": missing, "changed_paths": []}

    # 2. Files and archives in place.
    for item in resolved:
        path = host_path(item, archive_dir)
        mode = int(item["mode"], 8) if item.get("dest") else 0o644
        state = item.pop("_state")
        ensure_dir(os.path.dirname(path), changed, check)
        if state is None or state[0] != item["sha256"]:
            changed.append(path)
            if not check:
                with open(sources[path], "rb") as reader:
                    write_from(reader, path, mode)
                got = sha256_file(path)
                if got != item["sha256"]:
                    os.unlink(path)
                    module.fail_json(msg=f"{path}: sha256 {got} after the transfer, {item['sha256']} expected; removed")
        elif state[1] != mode:
            changed.append(path)
            if not check:
                os.chmod(path, mode)
        if item.get("unpack"):
            unpack = item["unpack"]
            if check and path in changed:
                changed.append(unpack)
                continue
            ensure_dir(unpack, changed, check)
            try:
                files, stale, fresh = plan_archive(path, item["sha256"], unpack)
                if check:
                    changed.extend(os.path.join(unpack, n) for n in stale)
                elif stale or fresh:
                    changed.extend(unpack_archive(path, item["sha256"], unpack, files, stale))
            except (ValueError, tarfile.TarError) as exc:
                module.fail_json(msg=f"cannot unpack {item['name']}: {exc}")

    # 3. Links.
    for link in p["links"]:
        dest, src = link["dest"], link["src"]
        if os.path.islink(dest) and os.readlink(dest) == src:
            continue
        if os.path.isdir(dest) and not os.path.islink(dest):
            module.fail_json(msg=f"{dest} is a directory; cannot replace it with a link to {src}")
        changed.append(dest)
        if not check:
            ensure_dir(os.path.dirname(dest), [], False)
            tmp = os.path.join(os.path.dirname(dest), f".kubebin-link-{os.getpid()}")
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(src, tmp)
            os.replace(tmp, dest)

    return {
        "changed": bool(changed),
        "changed_paths": changed,
        "artifacts": [{"name": i["name"], "sha256": i["sha256"], "dest": i.get("dest") or i.get("unpack")} for i in resolved],
    }


def main():
    artifact = dict(
        source=dict(type="str", required=True, choices=["kubernetes", "github", "images"]),
        path=dict(type="str", required=True),
        checksum_path=dict(type="str"),
        sha256=dict(type="str"),
        dest=dict(type="path"),
        mode=dict(type="str", default="0755"),
        unpack=dict(type="path"),
    )
    settings = dict(
        kubernetes=dict(type="str", default=""),
        github=dict(type="str", default=""),
        images=dict(type="str", default=""),
        cache_dir=dict(type="path", required=True),
        offline_dir=dict(type="path", default=""),
        environment=dict(type="dict", default={}),
        timeout=dict(type="int", default=60),
    )
    module = AnsibleModule(
        argument_spec=dict(
            artifacts=dict(type="list", elements="dict", required=True, options=artifact),
            links=dict(type="list", elements="dict", default=[],
                       options=dict(src=dict(type="path", required=True), dest=dict(type="path", required=True))),
            archive_dir=dict(type="path", default="/var/cache/kubebin"),
            settings=dict(type="dict", required=True, options=settings),
            # Filled by the action plugin: the verified artifacts, and the host paths of the
            # files it sent for this run.
            _resolved=dict(type="list", elements="dict"),
            _sources=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    if module.params["_resolved"] is None:
        module.fail_json(msg="kubebin.cluster.artifacts runs through its action plugin (no artifact was resolved on the controller)")
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
