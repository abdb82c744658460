# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the offline-image filters (plugins/filter/images.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubebin.cluster.plugins.filter import images

SHA = "ab" * 32
IMAGES = [
    {"ref": "registry.k8s.io/pause:3.10.2", "path": "pause-3.10.2.oci.tar"},
    {"ref": "busybox:1.35.0", "path": "sub/busybox-1.35.0.oci.tar", "sha256": SHA.upper()},
    {"ref": "flannel/flannel:v1", "src": "/ctl/files/flannel.tar", "sha256": SHA},
    {"ref": "localhost/agnhost:2.5", "src": "/ctl/agnhost.tar"},
]


@pytest.mark.parametrize("ref, full", [
    ("busybox:1", "docker.io/library/busybox:1"),
    ("a/b:1", "docker.io/a/b:1"),
    ("registry.k8s.io/pause:3", "registry.k8s.io/pause:3"),
    ("host:5000/x:1", "host:5000/x:1"),
    ("localhost/x:1", "localhost/x:1"),
])
def test_image_ref_full(ref, full):
    assert images.image_ref_full(ref) == full


def test_missing_compares_full_refs_and_keeps_order():
    present = ["docker.io/library/busybox:1.35.0", "localhost/agnhost:2.5", "docker.io/library/other:1"]
    got = images.images_missing(IMAGES, present, "/var/cache/kubebin/images")
    assert [i["ref"] for i in got] == ["registry.k8s.io/pause:3.10.2", "flannel/flannel:v1"]
    assert [i["archive"] for i in got] == ["/var/cache/kubebin/images/pause-3.10.2.oci.tar",
                                           "/var/cache/kubebin/images/flannel.tar"]
    # the input is not modified
    assert "archive" not in IMAGES[0]


def test_missing_all_when_nothing_listed_and_none_when_all():
    assert len(images.images_missing(IMAGES, [])) == 4
    full = [images.image_ref_full(i["ref"]) for i in IMAGES]
    assert images.images_missing(IMAGES, full, "/d") == []


def test_artifacts_only_mirror_entries_with_their_checksum():
    got = images.image_artifacts(IMAGES, "/var/cache/kubebin/images")
    assert got == [
        {"source": "images", "path": "pause-3.10.2.oci.tar", "dest": "/var/cache/kubebin/images/pause-3.10.2.oci.tar",
         "mode": "0644", "checksum_path": "SHA256SUMS"},
        {"source": "images", "path": "sub/busybox-1.35.0.oci.tar", "dest": "/var/cache/kubebin/images/busybox-1.35.0.oci.tar",
         "mode": "0644", "sha256": SHA},
    ]


@pytest.mark.parametrize("bad, words", [
    ([{"path": "x.tar"}], "docker_offline_images[0] needs a ref"),
    (["pause"], "docker_offline_images[0] needs a ref"),
    ([IMAGES[0], {"ref": "a:1"}], "docker_offline_images[1] (a:1): set exactly one of path"),
    ([{"ref": "a:1", "path": "a", "src": "/a"}], "set exactly one of path"),
    ([{"ref": "a:1", "path": "a", "sha256": "abc"}], "sha256 must be 64 hex digits"),
])
def test_bad_entries_are_named(bad, words):
    for call in (lambda: images.images_missing(bad, []), lambda: images.image_artifacts(bad, "/d")):
        with pytest.raises(AnsibleFilterError, match=__import__("re").escape(words)):
            call()


def test_not_a_list():
    with pytest.raises(AnsibleFilterError, match="must be a list, got dict"):
        images.images_missing({"ref": "a"}, [])
