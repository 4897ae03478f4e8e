#!/usr/bin/env bash
# make demo: the whole gateway on loopback, from a fresh clone.
#   development PKI → agency-mock serving EUROPOL, FRONTEX, EUROJUST, CEPOL, OLAF →
#   gatewayd with a demo config → a sample of every message type from two units plus a
#   bad one → wait for the outcome → show it → stop everything cleanly.
# Everything stays under .demo/ (git-ignored) for a look around afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/.demo
BIN=$(swift build --show-bin-path)
CTL="$BIN/gatewayctl --config $DEMO/gateway.yml"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
    [ -n "${GW_PID:-}" ] && kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null || true
    [ -n "${MOCK_PID:-}" ] && kill -TERM "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$DEMO"
mkdir -p "$DEMO/spool" "$DEMO/queue"
say "development PKI (certs/make-dev-pki.sh)"
bash certs/make-dev-pki.sh "$DEMO/pki" >/dev/null
echo "root CA, gateway signing + TLS client, five agencies' TLS server + receipt keys: $DEMO/pki"

say "agency-mock: EU-EUROPOL, EU-FRONTEX, EU-EUROJUST, EU-CEPOL, EU-OLAF on 127.0.0.1"
{
    echo "control: { port: 0 }"
    echo "clientCA: pki/trust/gateway-tls-clients.pem"
    echo "gatewaySigningAnchors: pki/trust/gateway-signing.pem"
    echo "schemas: $ROOT/schemas"
    echo "agencies:"
    for a in europol frontex eurojust cepol olaf; do
        id="EU-$(echo $a | tr a-z A-Z)"
        echo "  - { id: $id, port: 0, tlsCertificate: pki/agencies/$a/tls-server-chain.pem, tlsKey: pki/agencies/$a/tls-server.key, receiptKey: pki/agencies/$a/receipt.key, receiptChain: pki/agencies/$a/receipt-chain.pem }"
    done
} > "$DEMO/agency-mock.yml"
"$BIN/agency-mock" --config "$DEMO/agency-mock.yml" --ports-file "$DEMO/ports.json" > "$DEMO/agency-mock.out" 2> "$DEMO/agency-mock.log" &
MOCK_PID=$!
for _ in $(seq 1 300); do grep -q "READY control=" "$DEMO/agency-mock.out" 2>/dev/null && break; sleep 0.1; done
grep READY "$DEMO/agency-mock.out"
port() { python3 -c "import json,sys; print(json.load(open('$DEMO/ports.json'))['agencies']['$1'])"; }

say "gatewayd with the demo configuration ($DEMO/gateway.yml)"
{
    cat <<YAML
gateway:
  id: PL-GW
  units: [PL-KGP, PL-CBA]
spool:
  directory: spool
  rescanInterval: 5s
queue:
  path: queue/queue.sqlite
  checkpointInterval: 5s
signing:
  key: pki/gateway/signing.key
  chain: pki/gateway/signing-chain.pem
  trustAnchors: pki/trust/gateway-signing.pem
tls:
  clientKey: pki/gateway/tls-client.key
  clientCertificate: pki/gateway/tls-client-chain.pem
retry:
  initialBackoff: 1s
  maxBackoff: 30s
endpoints:
YAML
    for a in europol frontex eurojust cepol olaf; do
        id="EU-$(echo $a | tr a-z A-Z)"
        cat <<YAML
  $a:
    url: https://127.0.0.1:$(port $id)/messages
    ca: pki/trust/agencies/$a-tls.pem
    receiptTrustAnchors: pki/trust/agencies/$a-receipts.pem
    classificationCeiling: SECRET UE/EU SECRET
    concurrency: 4
YAML
    done
    echo "routes:"
    for a in EUROPOL FRONTEX EUROJUST CEPOL OLAF; do echo "  EU-$a: $(echo $a | tr A-Z a-z)"; done
} > "$DEMO/gateway.yml"
$CTL config check
"$BIN/gatewayd" --config "$DEMO/gateway.yml" 2> "$DEMO/gatewayd.log" &
GW_PID=$!
for _ in $(seq 1 300); do grep -q 'msg="gatewayd started"' "$DEMO/gatewayd.log" 2>/dev/null && break; sleep 0.1; done

say "units submit a message of every type (gatewayctl submit), plus one bad message"
mkdir -p "$DEMO/samples"
python3 - "$ROOT/schemas/examples/valid" "$DEMO/samples" <<'PY'
import json, os, sys, uuid
src, dst = sys.argv[1], sys.argv[2]
agencies = {"EU-EUROPOL", "EU-FRONTEX", "EU-EUROJUST", "EU-CEPOL", "EU-OLAF"}
seen = {}
for name in sorted(os.listdir(src)):
    doc = json.load(open(os.path.join(src, name)))
    if "type" not in doc or seen.get(doc["type"], 0) >= 2:
        continue
    seen[doc["type"]] = seen.get(doc["type"], 0) + 1
    unit = "PL-KGP" if seen[doc["type"]] == 1 else "PL-CBA"
    doc["sender"] = unit
    doc["recipients"] = [r for r in doc["recipients"] if r in agencies] or ["EU-EUROPOL"]
    doc["messageId"] = str(uuid.uuid4())
    doc.pop("expiresAt", None)
    json.dump(doc, open(os.path.join(dst, f"{unit}__{name}"), "w"), indent=2)
bad = json.load(open(os.path.join(src, "alert--stolen-firearm.json")))
bad["sender"] = "PL-KGP"; bad["messageId"] = str(uuid.uuid4()); bad["priority"] = "high"
bad["recipients"] = ["EU-INTERPOL"]
json.dump(bad, open(os.path.join(dst, "PL-KGP__bad-alert.json"), "w"), indent=2)
PY
for f in "$DEMO"/samples/*.json; do
    base=$(basename "$f")
    $CTL submit "$f" --unit "${base%%__*}" --name "${base#*__}" >/dev/null
done
ls "$DEMO/samples" | sed 's/^/  /'

say "waiting for the outcome"
for _ in $(seq 1 600); do
    pending=$($CTL queue stats --json | python3 -c "import json,sys; t=json.load(sys.stdin)['totals']; print(t['queued']+t['sending']+t['deferred'])")
    total=$($CTL queue stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['messages'])")
    waiting=$(find "$DEMO/spool/PL-KGP/outbox" "$DEMO/spool/PL-CBA/outbox" -type f | wc -l)
    [ "$pending" = 0 ] && [ "$total" -gt 0 ] && [ "$waiting" = 0 ] && break
    sleep 0.1
done

say "queue stats"
$CTL queue stats
say "queue list"
$CTL queue list --limit 20
say "one message in full: its delivery, the agency's receipt, the audit trail"
first=$($CTL queue list --json --limit 1 --sort oldest | python3 -c "import json,sys; d=json.load(sys.stdin)[0]; print(d['messageId'], d['sender'])")
$CTL queue show ${first% *} --sender ${first#* }
say "a unit's reports (gateway-signed; delivered ones carry the receipt)"
ls "$DEMO/spool/PL-KGP/reports" | head -12 | sed 's/^/  /'
report=$(ls "$DEMO"/spool/PL-KGP/reports/*.delivered.*.json | head -1)
$CTL verify "$report"
say "the refused message: rejected/ and its error file"
ls "$DEMO/spool/PL-KGP/rejected" | sed 's/^/  /'
cat "$DEMO"/spool/PL-KGP/rejected/*.error.json
say "audit log"
$CTL audit verify

say "stopping gatewayd and agency-mock"
kill -TERM "$GW_PID"; wait "$GW_PID" || true; GW_PID=
kill -TERM "$MOCK_PID"; wait "$MOCK_PID" || true; MOCK_PID=
tail -2 "$DEMO/gatewayd.log"
delivered=$($CTL queue stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['totals']['delivered'])")
echo
echo "Demo done: $delivered deliveries with verified receipts, one refusal. Everything is under .demo/; look around with"
echo "  $BIN/gatewayctl --config .demo/gateway.yml queue list"
echo "  $BIN/gatewayctl --config .demo/gateway.yml queue show ID --payload"
echo "  $BIN/gatewayctl --config .demo/gateway.yml audit tail -n 30"
[ "$delivered" -gt 0 ]
