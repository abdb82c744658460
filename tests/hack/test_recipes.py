"""The Go build recipes (hack/lab/kubebin_lab/recipes.py): the table and its helpers.

The table must agree with versions.env (its versions), with itself (templates, binaries)
and with the roles: what a row publishes in the mirror is exactly what the roles download.
"""
from __future__ import annotations

import re

import jinja2
import pytest
import yaml
from kubebin_lab import recipes
from kubebin_lab.archives import ARCH
from kubebin_lab.recipes import RECIPES, Check, GoBuild, Publish, Recipe
from kubebin_lab.versions import load_versions
from test_pins import PINS, role_defaults

IDS = [r.name for r in RECIPES]


@pytest.fixture(name="versions")
def fixture_versions(root):
    return load_versions(root / "hack" / "lab" / "versions.env")


def _row(**kw) -> Recipe:
    base = {"name": "x", "version_key": "X_VERSION", "modules": ("example.com/x",),
            "builds": (GoBuild(("{module}",), output="x"),), "checks": (Check("x"),)}
    return Recipe(**{**base, **kw})


def go_binary_name(package: str) -> str:
    """The file `go build` names a main package (a /vN major-version suffix skipped)."""
    parts = package.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1 else parts[-1]


# --------------------------------------------------------------------------- the table

def test_names_are_unique():
    assert len(IDS) == len(set(IDS))


@pytest.mark.parametrize("row", RECIPES, ids=IDS)
def test_version_keys_are_in_versions_env(row, versions):
    for key in filter(None, (row.version_key, row.module_version_key)):
        assert key in versions, f"{row.name}: {key} is not in hack/lab/versions.env"


@pytest.mark.parametrize("row", RECIPES, ids=IDS)
def test_templates_resolve(row, versions):
    fields = {**row.fields(versions, ARCH), "commit": "0123456789abcdef", "file": "f.tar.gz"}
    for where, template, allowed in recipes.templates(row):
        unknown = recipes.template_fields(template) - set(allowed)
        assert not unknown, f"{row.name} {where}: {template!r} uses {sorted(unknown)}"
        assert "{" not in template.format(**fields), f"{row.name} {where}: {template!r}"


@pytest.mark.parametrize("row", RECIPES, ids=IDS)
def test_checked_binaries_are_built(row, versions):
    """Every checked (and required) binary is an output of the row's builds, and a row that
    publishes a bare binary builds exactly one."""
    fields = row.fields(versions, ARCH)
    named, wildcard = set(), False
    for b in row.builds:
        if b.output:
            assert len(b.packages) == 1, f"{row.name}: output {b.output!r} names one package"
            named.add(b.output.format(**fields))
        for p in b.packages:
            wildcard |= p.endswith("/*")
            if not b.output and not p.endswith("/*"):
                named.add(go_binary_name(p.format(**fields)))
    produced = named | set(row.required)
    assert set(row.required) <= named or wildcard, f"{row.name}: required binaries are never built"
    for c in row.checks:
        assert c.binary.format(**fields) in produced, f"{row.name}: checks {c.binary}, not built"
    if row.publish and row.publish.archive_root is None:
        assert len(named) == 1 and not wildcard, f"{row.name}: publishes one binary, builds {sorted(named)}"


@pytest.mark.parametrize("row", [r for r in RECIPES if r.publish], ids=[r.name for r in RECIPES if r.publish])
def test_published_versions_are_the_roles_pins(row):
    """What the mirror serves, the roles deploy: the row's version is one test_pins checks."""
    assert row.version_key in PINS, f"{row.name}: {row.version_key} is not pinned by a role (test_pins.PINS)"


# --------------------------------------------------------------------------- the roles' downloads

def _render(value: str, context: dict) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for _ in range(5):
        if "{{" not in value:
            return value
        value = env.from_string(value).render(context)
    raise AssertionError(f"unresolved: {value}")


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


@pytest.fixture(name="role_release_files")
def fixture_role_release_files(root):
    """Every GitHub release file (path under kubebin_github_base) the roles' vars name,
    rendered with roles/common's defaults."""
    common = {k: v for k, v in role_defaults(root, "common").items() if isinstance(v, str) and "{{" not in v}
    out = set()
    for path in sorted(root.glob("roles/*/vars/main.yml")):
        variables = yaml.safe_load(path.read_text()) or {}
        context = {**common, **variables}
        for text in _strings(variables):
            try:
                rendered = _render(text, context)
            except (jinja2.TemplateError, TypeError, AttributeError, ValueError, AssertionError):
                continue  # facts, filters of the collection, Ansible-only data: not a download path
            if re.search(r"/releases/download/[^/]+/[^/]+$", rendered):  # a file, not the dir
                out.add(rendered)
    return out


def _published(versions) -> dict[str, str]:
    """Mirror path (under github/) -> the row publishing it, for paths and checksum files."""
    out = {}
    for row in RECIPES:
        if row.publish:
            fields = row.fields(versions, ARCH)
            path = row.publish.path.format(**fields)
            checksum = row.publish.checksum_path().format(**fields, file=path.rsplit("/", 1)[1])
            for p in (path, checksum):
                assert p.startswith("github/"), f"{row.name}: {p} is not under the mirror's github/"
                out[p.removeprefix("github/")] = row.name
    return out


def test_roles_release_files_are_found(role_release_files):
    """The scan below sees the etcd and docker roles' downloads (else it proves nothing)."""
    assert any("etcd-io/etcd/" in f for f in role_release_files)
    assert any("containerd/containerd/" in f for f in role_release_files)


def test_published_files_are_what_the_roles_download(root, role_release_files):
    """Each file a row publishes is one the roles fetch (path or checksum file), and each
    GitHub release file the roles fetch is published by a row: the same versions (the
    roles' defaults = versions.env, test_pins) and the same layout."""
    published = _published(load_versions(root / "hack" / "lab" / "versions.env"))
    assert set(published) - role_release_files == set(), "published, but no role downloads it"
    assert role_release_files - set(published) == set(), "a role downloads it, no recipe publishes it"


def test_kubernetes_release_path_is_the_roles(root, versions):
    node_vars = yaml.safe_load((root / "roles" / "node" / "vars" / "main.yml").read_text())
    context = {**role_defaults(root, "common"), **node_vars}
    rendered = _render(node_vars["_node_release_path"], context)
    ours = recipes.KUBERNETES_RELEASE.format(version=versions["KUBERNETES_VERSION"], arch=ARCH)
    assert "kubernetes/" + rendered == ours


# --------------------------------------------------------------------------- helpers

def test_ldflags_add_the_commit_only_when_known():
    b = GoBuild(("{module}",), "-s -w -X {module}/v.V=v{version}", "-X {module}/v.C={commit:.9}")
    fields = {"module": "m", "version": "1.2.3"}
    assert recipes.ldflags(b, fields, "0123456789abcdef") == "-s -w -X m/v.V=v1.2.3 -X m/v.C=012345678"
    assert recipes.ldflags(b, fields, "") == "-s -w -X m/v.V=v1.2.3"
    assert recipes.ldflags(GoBuild(("m",)), fields, "abc") == "-s -w"


def test_expand_packages(tmp_path):
    for name, go in (("b", True), ("a", True), ("windows", True), ("docs", False)):
        (tmp_path / "plugins" / name).mkdir(parents=True)
        if go:
            (tmp_path / "plugins" / name / "main.go").write_text("package main\n")
    (tmp_path / "plugins" / "file.go").write_text("package x\n")
    b = GoBuild(("{module}/plugins/*", "{module}/cmd/x"), exclude=("windows",))
    assert recipes.expand_packages(b, {"module": "ex.com/m"}, tmp_path) == [
        "ex.com/m/plugins/a", "ex.com/m/plugins/b", "ex.com/m/cmd/x"]
    with pytest.raises(ValueError, match="not below the first module"):
        recipes.expand_packages(GoBuild(("other.com/p/*",)), {"module": "ex.com/m"}, tmp_path)


def test_archive_entries(tmp_path):
    bins = [tmp_path / "zz", tmp_path / "aa"]
    (tmp_path / "LICENSE").write_text("l")
    pub = Publish("d/x-{version}.tgz", "{file}.sha256", archive_root="x-{version}/", docs=("LICENSE", "README.md"))
    assert recipes.archive_entries(pub, {"version": "1"}, bins, tmp_path) == [
        ("x-1/", None, 0o755), ("x-1/aa", bins[1], 0o755), ("x-1/zz", bins[0], 0o755),
        ("x-1/LICENSE", tmp_path / "LICENSE", 0o644)]
    flat = Publish("d/x.tgz", "{file}.sha256", archive_root="")
    assert recipes.archive_entries(flat, {}, bins[:1], tmp_path) == [("zz", bins[0], 0o755)]


def test_publish_paths():
    pub = Publish("github/o/r/releases/download/v1/x.tgz", "{file}.sha256")
    assert (pub.dir(), pub.file(), pub.checksum_path()) == (
        "github/o/r/releases/download/v1", "x.tgz", "github/o/r/releases/download/v1/{file}.sha256")


def test_check_output():
    assert recipes.check_output("etcd Version: 3.6.16\nGit SHA: x", "etcd Version: 3.6.16") is None
    assert "3.6.17" in recipes.check_output("etcd Version: 3.6.16", "etcd Version: 3.6.17")
    listing = "Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n\nOther plugins:\n  dns.cache\n  dns.errors\n"
    assert recipes.check_output(listing, "", ("cache", "errors"), strip="dns.") is None
    assert "['log']" in recipes.check_output(listing, "", ("cache", "log"), strip="dns.")


def test_fields_requires_and_inputs():
    versions = {"TAG": "1.9.1-flannel3", "SRC": "0.9.1"}
    row = _row(version_key="TAG", module_version_key="SRC", modules=("ex.com/p", "ex.com/q"),
               requires=(("ex.com/lib", "v1.3.0"),),
               inputs=(("source", "{module}@v{module_version}"), ("list", ("a", "b")), ("n", 3)))
    fields = row.fields(versions, "amd64")
    assert fields == {"version": "1.9.1-flannel3", "module_version": "0.9.1", "module": "ex.com/p", "arch": "amd64"}
    assert list(row.module_requires(versions).items()) == [
        ("ex.com/p", "v0.9.1"), ("ex.com/q", "v0.9.1"), ("ex.com/lib", "v1.3.0")]
    # stored as in the cache's JSON stamps: a tuple would never equal the stamp's list
    assert row.cache_inputs(fields) == {"source": "ex.com/p@v0.9.1", "list": ["a", "b"], "n": 3}
    # a revision rebuilds the row; revision 0 stays out of the key (the cached stamps have none)
    assert _row(revision=2).cache_inputs(fields) == {"revision": 2}
    assert _row().cache_inputs(fields) == {}


def test_generated_main():
    main = recipes.recipe("coredns").main
    src = main.source({"module": "github.com/coredns/coredns"})
    assert src.startswith("// Generated by hack/lab/build.py: ")
    assert "\npackage main\n" in src and src.endswith("func main() {\n\tcoremain.Run()\n}\n")
    imports = re.findall(r'^\t(_ )?"([^"]+)"$', src, re.M)
    assert [p for blank, p in imports if blank] == [
        f"github.com/coredns/coredns/plugin/{p}" for p in recipes.COREDNS_PLUGINS]
    assert [p for blank, p in imports if not blank] == ["github.com/coredns/coredns/coremain"]


def test_coredns_checks_every_plugin_directive():
    words = {w for c in recipes.recipe("coredns").checks for w in c.words}
    assert words == {recipes.COREDNS_DIRECTIVES.get(p, p) for p in recipes.COREDNS_PLUGINS}


def test_tag_switch(tmp_path):
    (tmp_path / "lib.a").write_text("")
    sw = recipes.TagSwitch("seccomp", "NO_SECCOMP", "seccomp", (str(tmp_path / "*.a"),), "hint")
    assert sw.enabled({}) and sw.enabled({"NO_SECCOMP": "0"}) and not sw.enabled({"NO_SECCOMP": "1"})
    assert sw.satisfied()
    assert not recipes.TagSwitch("t", "E", "t", (str(tmp_path / "*.so"),), "h").satisfied()


def test_unknown_recipe():
    with pytest.raises(KeyError, match="no recipe named 'nope'"):
        recipes.recipe("nope")


def test_build_py_targets_are_the_published_rows(root):
    """build.py's CLI targets: kubernetes, each row the mirror publishes, images."""
    import build  # pylint: disable=import-outside-toplevel
    assert build.COMPONENTS == ["kubernetes", *[r.name for r in RECIPES if r.publish], "images"]
    text = (root / "hack" / "lab" / "build.py").read_text()
    for row in RECIPES:
        assert f'def {row.name.replace("-", "_")}(' not in text, f"{row.name}: a row, and a method too"


def test_recipe_source_is_the_only_place_of_module_paths(root):
    """The Go modules of the rows are named in recipes.py only (not again in build.py)."""
    text = (root / "hack" / "lab" / "build.py").read_text()
    for row in RECIPES:
        for module in row.modules:
            assert f'"{module}' not in text, f"build.py names {module} of the {row.name} row"
