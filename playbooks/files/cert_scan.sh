#!/bin/sh
# kubebin.cluster cert_report.yml: list the certificates under the given paths, read-only.
# One line per certificate: path|subject|issuer|notAfter|serial (openssl x509 fields only;
# PEM blocks other than CERTIFICATE, such as the key in kubelet-client-current.pem, are
# skipped by openssl and never printed). Kubeconfigs: their embedded client certificate.
# Usage: sh cert_scan.sh PATH...   (missing paths are skipped)
set -u
command -v openssl >/dev/null 2>&1 || { echo "ERROR|openssl is not installed on $(hostname)"; exit 3; }

show() {  # $1 = label, stdin = PEM
  openssl x509 -noout -nameopt RFC2253 -subject -issuer -enddate -serial 2>/dev/null | awk -v f="$1" '
    /^subject=/ {s = substr($0, 9)} /^issuer=/ {i = substr($0, 8)}
    /^notAfter=/ {e = substr($0, 10)} /^serial=/ {n = substr($0, 8)}
    END {if (e != "") print f "|" s "|" i "|" e "|" n}'
}

for root in "$@"; do
  [ -e "$root" ] || continue
  find -L "$root" -type f \( -name '*.pem' -o -name '*.crt' -o -name '*.kubeconfig' -o -name 'kubeconfig' \) 2>/dev/null | sort |
  while IFS= read -r f; do
    case "$f" in
      *-key.pem|*.key|*/sa.pub) continue ;;
      # kubelet keeps every rotated certificate; the *-current.pem link names the one in use
      */kubelet-client-[0-9][0-9][0-9][0-9]-*.pem|*/kubelet-server-[0-9][0-9][0-9][0-9]-*.pem) continue ;;
      *.kubeconfig|*/kubeconfig)
        awk '$1 == "client-certificate-data:" {print $2}' "$f" | while IFS= read -r data; do
          printf '%s' "$data" | base64 -d 2>/dev/null | show "$f"
        done ;;
      *) show "$f" < "$f" ;;
    esac
  done
done
exit 0
