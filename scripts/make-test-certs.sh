#!/usr/bin/env bash
# Generates the throw-away PKI the ToolboxTransport tests use, into the directory given as $1:
#   ca.pem/ca.key            a test CA
#   server.pem/server.key    localhost + 127.0.0.1 + ::1, issued by the CA
#   expired.pem/expired.key  same names, issued by the CA, validity entirely in the past
#   future.pem/future.key    same names, issued by the CA, not valid before 2099
#   client.pem/client.key    a client certificate issued by the CA (mutual TLS)
#   other-ca.pem             an unrelated CA (for "untrusted issuer" tests)
# Needs only the openssl command line tool.
set -euo pipefail
dir=${1:?usage: make-test-certs.sh OUTPUT_DIR}
mkdir -p "$dir"
cd "$dir"
curve=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

openssl req -x509 "${curve[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=Toolbox Test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -x509 "${curve[@]}" -keyout other-ca.key -out other-ca.pem -days 2 -subj "/CN=Unrelated CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

cat > server.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
cat > client.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT

openssl req "${curve[@]}" -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
    -out server.pem 2>/dev/null

openssl req "${curve[@]}" -keyout client.key -out client.csr -subj "/CN=toolbox-test-client" 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext \
    -out client.pem 2>/dev/null

# `openssl x509 -req` cannot back-date, so the expired certificate goes through a minimal `openssl ca`.
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca.cnf <<EOF2
[ ca ]
default_ca = test
[ test ]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
EOF2
openssl req "${curve[@]}" -keyout expired.key -out expired.csr -subj "/CN=localhost" 2>/dev/null
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate 20200101000000Z -enddate 20200102000000Z -extfile server.ext -notext 2>/dev/null
openssl req "${curve[@]}" -keyout future.key -out future.csr -subj "/CN=localhost" 2>/dev/null
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in future.csr -out future.pem \
    -startdate 20990101000000Z -enddate 20990102000000Z -extfile server.ext -notext 2>/dev/null
echo "$dir"
