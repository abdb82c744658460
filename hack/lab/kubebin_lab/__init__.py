"""The pure parts of the lab tooling (hack/lab/build.py and hack/lab/lab.py).

Standard library only, no podman and no go: unit-tested by tests/hack/ (`make unit`).

    versions    versions.env parsing, version sorting, the mirror's stable*.txt
    checksums   sha256 of files, sha256sum-format text, a wheel's RECORD digests
    gomod       go.mod parsing and the build wrapper module's go.mod
    archives    reproducible tar.gz, OCI image layers and image-layout archives
    apt         the host's apt sources and its Debian mirror
    inventory   lab instance names, topology, host addresses and the Ansible inventory
    recipes     the Go build recipes as data (one row per component) and their helpers
"""
