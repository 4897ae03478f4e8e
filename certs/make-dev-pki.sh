#!/usr/bin/env bash
# make-dev-pki.sh OUTDIR: a development PKI for the gateway, its five agencies and the tests.
#
# DEVELOPMENT ONLY. Everything here is throw-away: keys are unencrypted (mode 600) and the CA
# keys sit beside the certificates. OUTDIR must be outside git or git-ignored (certs/dev/
# is ignored). Layout: see certs/README.md.
#
# Idempotent: a finished OUTDIR (marked by OUTDIR/.complete) is left untouched; an
# unfinished one is rebuilt. Concurrent runs on the same OUTDIR are serialised with flock.
# EC P-256 keys throughout, so a full run takes a second or two.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 64
fi
OUT=$1
umask 077                         # every file created here, keys included, is 600 / dirs 700
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec 9>"$OUT/.lock"
flock 9
if [[ -f "$OUT/.complete" ]]; then
    exit 0
fi
rm -rf "$OUT/ca" "$OUT/trust" "$OUT/gateway" "$OUT/agencies" "$OUT/bad"
mkdir -p "$OUT/ca/db" "$OUT/trust/agencies" "$OUT/gateway" "$OUT/agencies" "$OUT/bad"

AGENCIES=(europol frontex eurojust cepol olaf)
NOW_MINUS_DAY=$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)
IN_TWO_YEARS=$(date -u -d '+730 days' +%Y%m%d%H%M%SZ)
IN_TEN_YEARS=$(date -u -d '+3650 days' +%Y%m%d%H%M%SZ)
CNF="$OUT/ca/openssl.cnf"

cat >"$CNF" <<CONF
[ ca ]
default_ca = issuing

[ issuing ]
dir             = $OUT/ca
database        = \$dir/db/issuing.index
serial          = \$dir/db/issuing.serial
crlnumber       = \$dir/db/issuing.crlnumber
new_certs_dir   = \$dir/db
certificate     = \$dir/issuing-ca.pem
private_key     = \$dir/issuing-ca.key
default_md      = sha256
policy          = anything
unique_subject  = no
email_in_dn     = no
crl_extensions  = crl_ext

[ root ]
dir             = $OUT/ca
database        = \$dir/db/root.index
serial          = \$dir/db/root.serial
crlnumber       = \$dir/db/root.crlnumber
new_certs_dir   = \$dir/db
certificate     = \$dir/root-ca.pem
private_key     = \$dir/root-ca.key
default_md      = sha256
policy          = anything
unique_subject  = no
crl_extensions  = crl_ext

[ wrong ]
dir             = $OUT/ca
database        = \$dir/db/wrong.index
serial          = \$dir/db/wrong.serial
new_certs_dir   = \$dir/db
certificate     = \$dir/wrong-root-ca.pem
private_key     = \$dir/wrong-root-ca.key
default_md      = sha256
policy          = anything
unique_subject  = no

[ anything ]
countryName            = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ root_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ issuing_ca ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ signing ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ tls_client ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ tls_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ wrong_usage ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, keyEncipherment
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
CONF
touch "$OUT/ca/db/issuing.index" "$OUT/ca/db/wrong.index" "$OUT/ca/db/root.index"
echo 1000 >"$OUT/ca/db/issuing.serial"
echo 5000 >"$OUT/ca/db/wrong.serial"
echo 9000 >"$OUT/ca/db/root.serial"
echo 01 >"$OUT/ca/db/issuing.crlnumber"
echo 01 >"$OUT/ca/db/root.crlnumber"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# self_signed NAME SUBJECT: a root CA valid for ten years.
self_signed() {
    key "$OUT/ca/$1.key"
    openssl req -new -x509 -key "$OUT/ca/$1.key" -subj "$2" -days 3650 -sha256 \
        -config "$CNF" -extensions root_ca -out "$OUT/ca/$1.pem"
}

# issue CA SECTION SUBJECT BASE [START END]: key BASE.key, certificate BASE.pem, chain BASE-chain.pem.
issue() {
    local ca=$1 section=$2 subject=$3 base=$4 start=${5:-$NOW_MINUS_DAY} end=${6:-$IN_TWO_YEARS}
    key "$base.key"
    openssl req -new -key "$base.key" -subj "$subject" -out "$base.csr"
    openssl ca -batch -notext -config "$CNF" -name "$ca" -extensions "$section" \
        -startdate "$start" -enddate "$end" -in "$base.csr" -out "$base.pem" 2>/dev/null
    rm -f "$base.csr"
    if [[ $ca == issuing ]]; then
        cat "$base.pem" "$OUT/ca/issuing-ca.pem" >"$base-chain.pem"
    else
        cp "$base.pem" "$base-chain.pem"
    fi
}

# Root and issuing CA.
self_signed root-ca "/C=PL/O=PL Gateway Development/CN=PL-GW Dev Root CA"
key "$OUT/ca/issuing-ca.key"
openssl req -new -key "$OUT/ca/issuing-ca.key" -subj "/C=PL/O=PL Gateway Development/CN=PL-GW Dev Issuing CA" \
    -out "$OUT/ca/issuing-ca.csr"
openssl x509 -req -in "$OUT/ca/issuing-ca.csr" -CA "$OUT/ca/root-ca.pem" -CAkey "$OUT/ca/root-ca.key" \
    -set_serial 2 -days 3650 -sha256 -extfile "$CNF" -extensions issuing_ca -out "$OUT/ca/issuing-ca.pem" 2>/dev/null
rm -f "$OUT/ca/issuing-ca.csr"
# An unrelated CA: nothing trusts it.
self_signed wrong-root-ca "/C=XX/O=Someone Else/CN=Unrelated Root CA"

# The gateway: signing certificate and TLS client certificate.
issue issuing signing "/C=PL/O=PL Gateway Development/CN=PL-GW signing" "$OUT/gateway/signing"
issue issuing tls_client "/C=PL/O=PL Gateway Development/CN=PL-GW" "$OUT/gateway/tls-client"

# Each agency: TLS server certificate for loopback and a receipt-signing certificate.
for agency in "${AGENCIES[@]}"; do
    upper=$(echo "$agency" | tr a-z A-Z)
    mkdir -p "$OUT/agencies/$agency"
    issue issuing tls_server "/C=EU/O=EU-$upper (development)/CN=localhost" "$OUT/agencies/$agency/tls-server"
    issue issuing signing "/C=EU/O=EU-$upper (development)/CN=EU-$upper receipts" "$OUT/agencies/$agency/receipt"
    # In development every endpoint is anchored at the same root; production has one file each.
    cp "$OUT/ca/root-ca.pem" "$OUT/trust/agencies/$agency-tls.pem"
    cp "$OUT/ca/root-ca.pem" "$OUT/trust/agencies/$agency-receipts.pem"
done
cp "$OUT/ca/root-ca.pem" "$OUT/trust/gateway-signing.pem"
cp "$OUT/ca/root-ca.pem" "$OUT/trust/gateway-tls-clients.pem"

# Deliberately bad certificates, each with exactly one fault.
issue issuing signing "/C=PL/O=PL Gateway Development/CN=bad expired" "$OUT/bad/expired" 20200101000000Z 20210101000000Z
issue issuing signing "/C=PL/O=PL Gateway Development/CN=bad not yet valid" "$OUT/bad/not-yet-valid" 20990101000000Z 21000101000000Z
issue wrong signing "/C=PL/O=PL Gateway Development/CN=bad wrong CA" "$OUT/bad/wrong-ca"
issue issuing signing "/C=PL/O=PL Gateway Development/CN=bad revoked" "$OUT/bad/revoked"
issue issuing wrong_usage "/C=PL/O=PL Gateway Development/CN=bad wrong key usage" "$OUT/bad/wrong-usage"
issue issuing tls_server "/C=PL/O=PL Gateway Development/CN=bad revoked TLS server" "$OUT/bad/revoked-tls-server"
openssl ca -batch -config "$CNF" -name issuing -revoke "$OUT/bad/revoked.pem" -crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config "$CNF" -name issuing -revoke "$OUT/bad/revoked-tls-server.pem" -crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config "$CNF" -name issuing -gencrl -crl_lastupdate "$NOW_MINUS_DAY" -crl_nextupdate "$IN_TEN_YEARS" \
    -out "$OUT/ca/issuing-ca.crl.pem" 2>/dev/null
# The root's CRL (nothing revoked): TLS checks every CA of a chain, so it needs one too.
openssl ca -batch -config "$CNF" -name root -gencrl -crl_lastupdate "$NOW_MINUS_DAY" -crl_nextupdate "$IN_TEN_YEARS" \
    -out "$OUT/ca/root-ca.crl.pem" 2>/dev/null
cat "$OUT/ca/issuing-ca.crl.pem" "$OUT/ca/root-ca.crl.pem" >"$OUT/ca/crls.pem"

# Public material is world-readable (the umask made everything 600); keys stay 600.
find "$OUT" -type d -exec chmod 755 {} +
find "$OUT" -type f -name '*.pem' -exec chmod 644 {} +
chmod 700 "$OUT/ca/db"
touch "$OUT/.complete"
echo "development PKI written to $OUT"
