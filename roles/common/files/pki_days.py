# Run by roles/common/tasks/summary.yml with the controller's Python: the days left of
# every certificate under a PKI directory. Prints one JSON object:
# {"certificates": N, "soonest": [{"name": "...", "days": D}, ...]} (the three soonest).
import datetime
import json
import pathlib
import sys

from cryptography import x509

root = pathlib.Path(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc)
found = []
for path in sorted(root.rglob("*.pem")) if root.is_dir() else []:
    data = path.read_bytes()
    if b"BEGIN CERTIFICATE" not in data:
        continue
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        continue
    left = (cert.not_valid_after_utc - now).total_seconds() / 86400
    found.append({"name": str(path.relative_to(root)), "days": int(left)})
found.sort(key=lambda c: c["days"])
print(json.dumps({"certificates": len(found), "soonest": found[:3]}))
