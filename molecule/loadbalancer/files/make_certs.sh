#!/bin/sh
# Certificates of the loadbalancer scenario, made with openssl (not with this collection's
# cert_authority), on the controller:
#   PKI_DIR/ca.pem, ca-key.pem          the cluster CA; the role finds it and keeps it
#   CERT_DIR/<host>.pem, <host>-key.pem  each stand-in apiserver: DNS kubernetes + its IP
#   CERT_DIR/foreign.pem, foreign-key.pem      another CA's certificate, same names
#   CERT_DIR/wrongname.pem, wrongname-key.pem  the cluster CA's, without "kubernetes"
# Usage: make_certs.sh PKI_DIR CERT_DIR HOST=IP...
set -eu
pki=$1 out=$2
shift 2
mkdir -p "$pki" "$out"
chmod 700 "$pki" "$out"
cd "$out"

cat > ext.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = $ENV::SAN
CNF

key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2> /dev/null; chmod 600 "$1"; }

# ca NAME DIR CN: a self-signed CA DIR/NAME.pem, DIR/NAME-key.pem
ca() {
  key "$2/$1-key.pem"
  openssl req -new -key "$2/$1-key.pem" -subj "/CN=$3" -out "$1.csr"
  SAN=none openssl x509 -req -in "$1.csr" -signkey "$2/$1-key.pem" -days 365 \
    -extfile ext.cnf -extensions ca -out "$2/$1.pem" 2> /dev/null
  chmod 644 "$2/$1.pem"
}

# server NAME CA_PEM CA_KEY SAN: a server certificate NAME.pem, NAME-key.pem
server() {
  key "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "/CN=kube-apiserver" -out "$1.csr"
  SAN=$4 openssl x509 -req -in "$1.csr" -CA "$2" -CAkey "$3" -days 365 \
    -extfile ext.cnf -extensions server -out "$1.pem" 2> /dev/null
}

ca ca "$pki" "molecule-lb test CA (openssl)"
ca foreign-ca . "molecule-lb foreign CA (openssl)"
ips=""
for hostip in "$@"; do
  host=${hostip%%=*} ip=${hostip#*=}
  server "$host" "$pki/ca.pem" "$pki/ca-key.pem" "DNS:kubernetes,DNS:kubernetes.default,IP:$ip"
  ips="$ips,IP:$ip"
done
server foreign foreign-ca.pem foreign-ca-key.pem "DNS:kubernetes,DNS:kubernetes.default$ips"
server wrongname "$pki/ca.pem" "$pki/ca-key.pem" "DNS:apiserver.invalid$ips"
rm -f ./*.csr
