# Run by roles/common/tasks/preflight.yml with the controller's own Python (the one
# ansible-playbook runs on): which of the Python packages the modules need are missing.
# Prints one JSON object: {"missing": [...], "versions": {...}}.
import importlib
import json

NEEDED = {
    "cryptography": "the PKI (cert_authority, kubeconfig)",
    "kubernetes": "the API modules (bootstrap_token, csr_approve)",
    "yaml": "Ansible itself (PyYAML)",
}
missing, versions = [], {}
for name, why in NEEDED.items():
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # pylint: disable=broad-except  # any import failure is "missing"
        missing.append(f"{name} ({why}): {type(exc).__name__}: {exc}")
    else:
        versions[name] = getattr(mod, "__version__", "?")
print(json.dumps({"missing": missing, "versions": versions}))
