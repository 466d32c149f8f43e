#!/usr/bin/env bash
# Generates the key material the manifests reference and, with --apply, the
# Secrets in a namespace. For development and for trying production out; a
# real deployment takes its CA from the PKI (cert-manager writes the same
# tls.crt / tls.key / ca.crt keys) and its issuer key from the identity provider.
#
#   bash k8s/secrets.sh [DIR]                      # files only (default var/k8s-secrets)
#   bash k8s/secrets.sh [DIR] --apply NAMESPACE    # and create/replace the Secrets
#
# Existing files are kept: run it again to apply the same keys elsewhere.
# Every key is generated with openssl; nothing is sent anywhere. DIR holds
# secrets: it defaults to var/ (ignored by git), keep it out of any commit.
#
# Written to DIR:
#   data.key, log-signing.key     32 random bytes, hex (registration's data key, log key seed)
#   token-issuer.key              Ed25519 seed, hex: what vrsctl mints tokens with
#                                 (vrsctl --issuer-key DIR/token-issuer.key); dev only
#   issuer-public-key             its public key, hex (VRS_REGISTRATION__AUTH__ISSUER_PUBLIC_KEY)
#   tls/ca.crt, tls/ca.key        a CA (ECDSA P-256, 10 years)
#   tls/<service>.crt/.key        per service, SANs <service>, <service>.<ns>,
#                                 <service>.<ns>.svc, <service>.<ns>.svc.cluster.local, localhost;
#                                 serverAuth + clientAuth; and portal.crt/.key (CN portal)
#   beacon.key                    only if BEACON_BIN names a beacon binary (it
#                                 creates its key file at first start; see k8s/README.md)
#   console-client-secret         the clerks' console's OpenID client secret (32 random
#                                 bytes, hex, no newline). Prod: write the one the police
#                                 identity provider issued here first (printf %s "$S" > ...)
#   idp/accounts.toml             dev: the identity-provider stand-in's accounts (clerk-30,
#                                 clerk-60, clerk-29, supervisor, auditor), random passwords:
#                                 sign in to the console with these
#   idp/idp.toml                  dev: the stand-in's --config file: its [[clients]], the
#                                 console with console-client-secret and the redirect URI
#                                 $CONSOLE_PUBLIC_URL/auth/callback (default
#                                 http://console.localhost, the dev console's PUBLIC_URL)
#
# Not generated, read from DIR when there (prod's backups; see k8s/README.md):
#   backup-s3.env                 the object store's access key for the backup
#                                 bucket (its provider issues it), two lines:
#                                 ACCESS_KEY_ID=... and ACCESS_SECRET_KEY=...
#
# Created with --apply besides the generated ones: vrs-portal-ca (tls/ca.crt,
# the CA of tls/portal.crt), vrs-tls-transparency and vrs-tls-console
# (tls/ca.crt alone: the site and the console check registration's
# certificate and present none), vrs-console-oidc (console-client-secret),
# for the dev namespace vrs-dev (or with IDP_SECRET=yes; never with
# IDP_SECRET=no) vrs-idp (token-issuer.key and idp/*.toml: the stand-in signs
# with the key registration's issuer-public-key belongs to) and, from the
# files above, vrs-backup-s3. Not here: vrs-transparency-ingress-tls and
# vrs-console-ingress-tls, the public certificates (see k8s/README.md,
# "Secrets").
# CloudNativePG writes vrs-db-app and vrs-db-ca itself.
set -euo pipefail

DIR="var/k8s-secrets"
if [ $# -gt 0 ] && [ "$1" != "--apply" ]; then DIR="$1"; shift; fi
APPLY_NS=""
if [ $# -gt 0 ]; then
  if [ "$1" != "--apply" ] || [ $# -ne 2 ]; then echo "usage: $0 [DIR] [--apply NAMESPACE]" >&2; exit 2; fi
  APPLY_NS="$2"
fi
# The namespace in the certificates' DNS names (default: the one applied to, else vrs).
CERT_NS="${CERT_NS:-${APPLY_NS:-vrs}}"
SERVICES=(registration identity tax customs register beacon)

umask 077
mkdir -p "$DIR/tls"
hex32() { openssl rand -hex 32; }

for f in data.key log-signing.key token-issuer.key; do
  [ -s "$DIR/$f" ] || { hex32 | tr -d '\n' > "$DIR/$f"; echo "generated $DIR/$f"; }
done
if [ ! -s "$DIR/issuer-public-key" ]; then
  # PKCS#8 wrapping of the raw Ed25519 seed, then the raw 32-byte public key.
  der_hex="302e020100300506032b657004220420$(tr -d ' \n' < "$DIR/token-issuer.key")"
  # shellcheck disable=SC2001,SC2059 # the format is the bytes, as \xHH escapes
  printf "$(sed 's/../\\x&/g' <<<"$der_hex")" \
    | openssl pkey -inform DER -pubout -outform DER \
    | tail -c 32 | od -An -v -tx1 | tr -d ' \n' > "$DIR/issuer-public-key"
  [ "$(wc -c < "$DIR/issuer-public-key")" -eq 64 ] || { echo "deriving the issuer public key failed" >&2; exit 1; }
  echo "generated $DIR/issuer-public-key"
fi

if [ ! -s "$DIR/tls/ca.crt" ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DIR/tls/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$DIR/tls/ca.key" -sha256 -days 3650 -subj "/CN=VRS CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$DIR/tls/ca.crt"
  echo "generated $DIR/tls/ca.crt"
fi
for svc in "${SERVICES[@]}" portal; do
  [ -s "$DIR/tls/$svc.crt" ] && continue
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DIR/tls/$svc.key" 2>/dev/null
  san="DNS:$svc,DNS:$svc.$CERT_NS,DNS:$svc.$CERT_NS.svc,DNS:$svc.$CERT_NS.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
  openssl req -new -key "$DIR/tls/$svc.key" -subj "/CN=$svc" -out "$DIR/tls/$svc.csr"
  openssl x509 -req -in "$DIR/tls/$svc.csr" -CA "$DIR/tls/ca.crt" -CAkey "$DIR/tls/ca.key" \
    -CAcreateserial -days 825 -sha256 -out "$DIR/tls/$svc.crt" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' "$san") \
    2>/dev/null
  rm -f "$DIR/tls/$svc.csr"
  echo "generated $DIR/tls/$svc.crt ($san)"
done

# The console's OpenID client secret (kept if there: prod puts the provider's in).
if [ ! -s "$DIR/console-client-secret" ]; then
  hex32 | tr -d '\n' > "$DIR/console-client-secret"
  echo "generated $DIR/console-client-secret"
fi
# The identity-provider stand-in (dev): accounts with random passwords, and
# its client list (a list of tables: only a --config file can give it).
mkdir -p "$DIR/idp"
if [ ! -s "$DIR/idp/accounts.toml" ]; then
  {
    echo "# Sign-in accounts of the identity-provider stand-in (vrs-idp), made by k8s/secrets.sh."
    echo "# Private: never commit it."
    while IFS='|' read -r user name role office; do
      printf '\n[[accounts]]\nusername = "%s"\npassword = "%s"\nname = "%s"\nroles = ["%s"]\n' \
        "$user" "$(openssl rand -hex 16)" "$name" "$role"
      [ -z "$office" ] || printf 'office = "%s"\n' "$office"
    done <<'ACCOUNTS'
clerk-30|Nguyễn Văn An|clerk|PC-30
clerk-60|Trần Thị Bình|clerk|PC-60
clerk-29|Lê Minh Châu|clerk|PC-29
supervisor|Phạm Quốc Dũng|supervisor|
auditor|Hoàng Thu Hà|auditor|
ACCOUNTS
  } > "$DIR/idp/accounts.toml"
  echo "generated $DIR/idp/accounts.toml (the passwords to sign in to the console with)"
fi
if [ ! -s "$DIR/idp/idp.toml" ]; then
  redirect="${CONSOLE_PUBLIC_URL:-http://console.localhost}"
  {
    echo "# The identity-provider stand-in's configuration file (vrs-idp --config), made by"
    echo "# k8s/secrets.sh. The rest of its settings are VRS_IDP__* variables (overlays/dev/idp.yaml)."
    echo
    echo "[[clients]]"
    echo 'client_id = "vrs-console"'
    printf 'client_secret = "%s"\n' "$(cat "$DIR/console-client-secret")"
    printf 'redirect_uris = ["%s/auth/callback"]\n' "${redirect%/}"
  } > "$DIR/idp/idp.toml"
  echo "generated $DIR/idp/idp.toml (redirect URI ${redirect%/}/auth/callback)"
fi

if [ ! -s "$DIR/beacon.key" ] && [ -n "${BEACON_BIN:-}" ]; then
  # The beacon writes its key file at first start; stop it once written.
  VRS_BEACON__KEY_FILE="$DIR/beacon.key" VRS_BEACON__LISTEN=127.0.0.1:0 VRS_BEACON__PERIOD_MS="${BEACON_PERIOD_MS:-1000}" \
    timeout 10 "$BEACON_BIN" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do [ -s "$DIR/beacon.key" ] && break; sleep 0.2; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -s "$DIR/beacon.key" ] && echo "generated $DIR/beacon.key"
fi

[ -n "$APPLY_NS" ] || { echo "files in $DIR; add --apply NAMESPACE to create the Secrets"; exit 0; }

apply() { kubectl -n "$APPLY_NS" create secret generic "$@" --dry-run=client -o yaml | kubectl apply -f -; }
apply vrs-registration-keys \
  --from-file=data.key="$DIR/data.key" \
  --from-file=log-signing.key="$DIR/log-signing.key" \
  --from-file=issuer-public-key="$DIR/issuer-public-key"
for svc in "${SERVICES[@]}"; do
  apply "vrs-tls-$svc" \
    --from-file=tls.crt="$DIR/tls/$svc.crt" --from-file=tls.key="$DIR/tls/$svc.key" --from-file=ca.crt="$DIR/tls/ca.crt"
done
# The transparency site and the console: the CA alone, no certificate or key of their own.
apply vrs-tls-transparency --from-file=ca.crt="$DIR/tls/ca.crt"
apply vrs-tls-console --from-file=ca.crt="$DIR/tls/ca.crt"
# The console's OpenID client secret (VRS_CONSOLE__OIDC__CLIENT_SECRET).
apply vrs-console-oidc --from-file=client-secret="$DIR/console-client-secret"
# The identity-provider stand-in, dev only: it signs with token-issuer.key,
# whose public key is vrs-registration-keys' issuer-public-key (above).
case "${IDP_SECRET:-auto}" in
  yes) idp_secret=yes ;;
  no) idp_secret=no ;;
  *) if [ "$APPLY_NS" = vrs-dev ]; then idp_secret=yes; else idp_secret=no; fi ;;
esac
if [ "$idp_secret" = yes ]; then
  apply vrs-idp \
    --from-file=token-issuer.key="$DIR/token-issuer.key" \
    --from-file=accounts.toml="$DIR/idp/accounts.toml" \
    --from-file=idp.toml="$DIR/idp/idp.toml"
else
  echo "vrs-idp not created in $APPLY_NS (the dev stand-in's; IDP_SECRET=yes to create it)"
fi
if [ -s "$DIR/beacon.key" ]; then
  apply vrs-beacon-key --from-file=beacon.key="$DIR/beacon.key"
else
  echo "no $DIR/beacon.key: vrs-beacon-key not created (prod needs it; see k8s/README.md)"
fi
# The CA the portal's server certificate chains to (prod trusts it besides the
# public roots: VRS_REGISTRATION__PORTAL__CA_FILE). Here the portal's
# certificate, tls/portal.crt, is from this CA.
apply vrs-portal-ca --from-file=ca.crt="$DIR/tls/ca.crt"
# The backup bucket's access key (prod: the CloudNativePG Cluster archives WAL
# and base backups with it). An env file: the values stay off the command
# line, and no trailing newline creeps into them.
if grep -q '^ACCESS_KEY_ID=.' "$DIR/backup-s3.env" 2>/dev/null && grep -q '^ACCESS_SECRET_KEY=.' "$DIR/backup-s3.env"; then
  apply vrs-backup-s3 --from-env-file="$DIR/backup-s3.env"
else
  echo "no $DIR/backup-s3.env with ACCESS_KEY_ID= and ACCESS_SECRET_KEY=: vrs-backup-s3 not created (prod needs it; see k8s/README.md)"
fi
