#!/usr/bin/env bash
# Development certificates for the streamshare partner listener (HTTPS/WSS + mTLS).
#
#   certs/generate.sh [--force] [out-dir]     (default out-dir: certs/out, git-ignored)
#
# Makes, with EC P-256 keys:
#   ca.crt / ca.key          a development CA
#   server.crt / server.key  the listener's certificate (SAN localhost, 127.0.0.1), signed by the CA
#   client.crt / client.key  a partner client certificate (CN=demo-partner), signed by the CA
# Existing files are reused; --force regenerates everything. NOT for production.
set -euo pipefail

force=0
out=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) out="$arg" ;;
  esac
done
out="${out:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
umask 077   # keys (and the temp config files) are created private
days_ca=1825
days_leaf=825   # the longest validity Apple/Chrome accept for TLS server certificates

# Everything is regenerated together: a new CA invalidates the old leafs.
if [[ $force -eq 1 ]]; then
  rm -f "$out"/{ca,server,client}.{crt,key} "$out/ca.srl"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

newkey() { # <file>: EC P-256 private key (PKCS#8 PEM), mode 0600
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

# <name> <subject> <extensions>: key + CSR + certificate signed by the CA
leaf() {
  local name="$1" subject="$2" ext="$3"
  [[ -s "$out/$name.crt" && -s "$out/$name.key" ]] && { echo "reusing $out/$name.crt"; return; }
  newkey "$out/$name.key"
  openssl req -new -key "$out/$name.key" -subj "$subject" -out "$tmp/$name.csr"
  printf '%s\n' "$ext" > "$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -CAserial "$out/ca.srl" -days "$days_leaf" -sha256 \
    -extfile "$tmp/$name.ext" -out "$out/$name.crt" 2>/dev/null
  chmod 644 "$out/$name.crt"
  echo "created $out/$name.crt"
}

# 1. The CA (self-signed, may only sign leaf certificates).
if [[ -s "$out/ca.crt" && -s "$out/ca.key" ]]; then
  echo "reusing $out/ca.crt"
else
  rm -f "$out"/{server,client}.{crt,key}   # leafs of an older CA would no longer verify
  newkey "$out/ca.key"
  openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$days_ca" \
    -subj "/CN=streamshare development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$out/ca.crt"
  chmod 644 "$out/ca.crt"
  echo "created $out/ca.crt"
fi

# 2. The partner listener's server certificate.
leaf server "/CN=localhost" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

# 3. A partner's client certificate (for mTLS).
leaf client "/CN=demo-partner" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

openssl verify -CAfile "$out/ca.crt" "$out/server.crt" "$out/client.crt" >/dev/null

cat <<MSG

Development certificates in $out. For HTTPS/WSS on the partner listener:

  export STREAMSHARE_TLS_CERT=$out/server.crt
  export STREAMSHARE_TLS_KEY=$out/server.key
  # optional, turns on mutual TLS (clients must present a certificate signed by this CA):
  export STREAMSHARE_TLS_CLIENT_CA=$out/ca.crt

Then, with a token in \$TOKEN:

  curl -N --cacert $out/ca.crt --cert $out/client.crt --key $out/client.key \\
    -H "Authorization: Bearer \$TOKEN" https://localhost:8080/v1/streams/orders
MSG
