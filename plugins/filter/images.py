# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline-image filters of kubebin.cluster. Documentation: the YAML file of the same name as each filter.

``docker_offline_images`` entries are ``{ref, path, sha256?}`` (an archive under the images
mirror or ``kubebin_offline_dir/images``) or ``{ref, src, sha256?}`` (a controller file). The
docker role lists containerd's images once, keeps the entries whose ref is not there
(``images_missing``), sends the ``path`` ones with one ``kubebin.cluster.artifacts`` task
(``image_artifacts``) and imports them all with one command.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def image_ref_full(ref):
    """A reference in the form containerd lists it: busybox:1 -> docker.io/library/busybox:1,
    a/b:1 -> docker.io/a/b:1; a first component with a dot or a colon, or localhost, is a registry."""
    ref = str(ref)
    if "/" not in ref:
        return "docker.io/library/" + ref
    first = ref.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return ref
    return "docker.io/" + ref


def _checked(images, name):
    if not isinstance(images, list):
        raise AnsibleFilterError(f"{name}: docker_offline_images must be a list, got {type(images).__name__}")
    for i, image in enumerate(images):
        if not isinstance(image, Mapping) or not image.get("ref"):
            raise AnsibleFilterError(f"{name}: docker_offline_images[{i}] needs a ref, got {image!r}")
        if bool(image.get("path")) == bool(image.get("src")):
            raise AnsibleFilterError(f"{name}: docker_offline_images[{i}] ({image['ref']}): set exactly one of path "
                                     "(under the images mirror or kubebin_offline_dir/images) and src (a controller file)")
        if image.get("sha256") and not _SHA256.match(str(image["sha256"])):
            raise AnsibleFilterError(f"{name}: docker_offline_images[{i}] ({image['ref']}): sha256 must be 64 hex digits, "
                                     f"got {image['sha256']!r}")
    return images


def images_missing(images, present, directory=None):
    """The entries of ``images`` whose ref (in its full form) is not in ``present`` (the
    lines of ``ctr images ls -q``), in their order; with ``directory``, each with ``archive``:
    the host path its archive is copied to."""
    have = {str(p).strip() for p in (present or [])}
    out = []
    for image in _checked(images, "images_missing"):
        if image_ref_full(image["ref"]) not in have:
            out.append(dict(image, archive=image_archive(image, directory)) if directory else dict(image))
    return out


def image_archive(image, directory):
    """The host path an entry's archive is copied to: ``directory``/<the archive's file name>."""
    return posixpath.join(str(directory), posixpath.basename(str(image.get("path") or image.get("src"))))


def image_artifacts(images, directory):
    """The ``artifacts`` argument of a kubebin.cluster.artifacts task that puts the ``path``
    entries' archives in ``directory`` (0644), each checked against its own sha256 or the
    mirror's images/SHA256SUMS."""
    out = []
    for image in _checked(images, "image_artifacts"):
        if not image.get("path"):
            continue
        item = {"source": "images", "path": str(image["path"]), "dest": image_archive(image, directory), "mode": "0644"}
        if image.get("sha256"):
            item["sha256"] = str(image["sha256"]).lower()
        else:
            item["checksum_path"] = "SHA256SUMS"
        out.append(item)
    return out


class FilterModule:
    """kubebin.cluster offline-image filters."""

    def filters(self):
        return {"images_missing": images_missing, "image_artifacts": image_artifacts}
