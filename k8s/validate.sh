#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests: no cluster, no network.
#
#   bash k8s/validate.sh
#
# For every overlay under k8s/overlays/:
#   1. render it with `kubectl kustomize` (kustomize v5, built into kubectl);
#   2. validate every resource with `kubernetes-validate --strict` against the
#      oldest Kubernetes we support and the newest schema bundled; custom
#      resources have no schema there: only the kinds in ALLOWED_CRDS may be
#      skipped (any other "Couldn't find schema", e.g. a mistyped apiVersion of
#      a built-in kind, fails), and check_config.py checks them instead;
#   3. run k8s/check_config.py: ports, probes, Services, NetworkPolicies
#      (and what they let through: URL settings, DNS, telemetry, the public
#      site's isolation), Ingresses, registration's shutdown timing and every
#      VRS_* variable against the configuration structs in services/, OTEL_* against what the telemetry
#      code reads, PG* against what sqlx reads; in prod TLS to the database
#      (verify-full, the Cluster's CA) and to the portal (https://); the
#      CloudNativePG Cluster (synchronous replication, WAL archive) and its
#      ScheduledBackup; Secrets made by hand documented in k8s/README.md.
# Then it breaks a few things on purpose in a copy of the prod rendering and
# makes sure check_config.py notices each one.
#
# Needs kubectl (client only, kustomize v5) and kubernetes-validate
# (pip install kubernetes-validate==1.37.0); see k8s/README.md.
# Rendered files stay in $K8S_RENDER_DIR (default target/k8s) for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."

MIN_K8S="${MIN_K8S:-1.30.0}"
# CloudNativePG's: the database Cluster and its ScheduledBackup (prod).
ALLOWED_CRDS=("postgresql.cnpg.io/v1 Cluster" "postgresql.cnpg.io/v1 ScheduledBackup")
OUT="${K8S_RENDER_DIR:-target/k8s}"

step() { printf '\n==> %s\n' "$*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

command -v kubectl >/dev/null || die "kubectl not found (see k8s/README.md, Tools)"
command -v kubernetes-validate >/dev/null || die "kubernetes-validate not found: pip install kubernetes-validate==1.37.0"
kustomize_major="$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p')"
[ "${kustomize_major:-0}" -ge 5 ] \
  || die "kubectl's built-in kustomize is older than v5 (components, labels); use kubectl >= 1.27"

mkdir -p "$OUT"
rendered=()
for dir in k8s/overlays/*/; do
  name="$(basename "$dir")"
  file="$OUT/$name.yaml"

  step "render $name: kubectl kustomize $dir"
  kubectl kustomize "$dir" > "$file"
  echo "$(grep -c '^kind:' "$file") resources -> $file"

  for version in "$MIN_K8S" latest; do
    args=(--strict)
    [ "$version" = latest ] || args+=(-k "$version")
    step "kubernetes-validate ${args[*]} ($name, Kubernetes $version)"
    log="$OUT/$name.validate-$version.log"
    status=0
    kubernetes-validate "${args[@]}" "$file" > "$log" 2>&1 || status=$?
    grep -v '^INFO ' "$log" || true
    passed="$(grep -c '^INFO .* passed for resource' "$log" || true)"
    [ "$status" -eq 0 ] || die "kubernetes-validate rejected $file (exit $status; full log: $log)"
    # Only the expected custom resources may go unvalidated.
    unknown=0
    while IFS= read -r line; do
      kind="$(sed -n 's/.*find schema for kind \([^ ]*\) with api version \([^ ]*\) .*/\2 \1/p' <<<"$line")"
      allowed=no
      for crd in "${ALLOWED_CRDS[@]}"; do [ "$kind" = "$crd" ] && allowed=yes; done
      if [ "$allowed" = yes ]; then
        echo "   (custom resource $kind: no schema here; check_config.py checks it)"
      else
        echo "FAIL: no schema for $kind: not a Kubernetes $version kind and not in ALLOWED_CRDS" >&2
        unknown=1
      fi
    done < <(grep "Couldn't find schema" "$log" || true)
    [ "$unknown" -eq 0 ] || die "unknown kinds in $file"
    echo "ok: $passed resources valid against Kubernetes $version (strict)"
  done
  rendered+=("$file")
done
[ "${#rendered[@]}" -gt 0 ] || die "no overlays under k8s/overlays"

step "check_config.py: the manifests against services/*/src"
python3 k8s/check_config.py "${rendered[@]}"

step "check_config.py notices what it should (mutations of $OUT/prod.yaml)"
mutations=(
  # sed expression | what check_config.py must say
  's/containerPort: 50062/containerPort: 50099/|containerPort 50099'
  's/value: 0.0.0.0:50061/value: 0.0.0.0:50066/|is not the port VRS_IDENTITY__LISTEN listens on'
  's/value: 0.0.0.0:50070/value: 127.0.0.1:50070/|binds 127.0.0.1 only'
  's/name: VRS_REGISTRATION__DRAW__LOG_KEY_FILE/name: VRS_REGISTRATION__DRAW__LOG_KEYFILE/|no key '"'"'log_keyfile'"'"' under DRAW'
  's/name: VRS_TAX__LISTEN/name: VRS_TAX_LISTEN/|VRS_TAX_LISTEN (env) is read by nothing'
  's/VRS_REGISTRATION__WORKFLOW__ORDERING: draw-first/VRS_REGISTRATION__WORKFLOW__ORDERING: draw-last/|is none of check-first, draw-first'
  's/VRS_REGISTRATION__AGENCIES__CUSTOMS_URL: http:\/\/customs:50063/VRS_REGISTRATION__AGENCIES__CUSTOMS_URL: http:\/\/customs:50036/|Service customs has ports [50063], not 50036'
  's/value: \/etc\/vrs\/keys\/data.key/value: \/var\/lib\/vrs\/data.key/|is on no mounted volume'
  's/port: 50064$/port: 50046/|allows port 50046'
  's/secretName: vrs-tls-beacon/secretName: vrs-tls-beacon\n          items:\n          - key: tls.crt\n            path: tls.crt/|projects only'
  # Probes: tax's liveness probe on its mTLS port, identity's probe listener
  # moved without its port, customs' readiness asking "" instead of its service.
  '/VRS_TAX__LISTEN/,/ name: tax$/s/port: 8081$/port: 50062/|livenessProbe.grpc probes port 50062, the service port (VRS_TAX__LISTEN), which wants mutual TLS'
  '/name: VRS_IDENTITY__PROBE_LISTEN/{n;s/0.0.0.0:8081/0.0.0.0:8082/}|containerPort 8081 (probe) is not the port VRS_IDENTITY__PROBE_LISTEN listens on (8082)'
  '/service: vrs.customs.v1.CustomsService/d|readiness must name a service: vrs.customs.v1.CustomsService'
  # The probe port's open rule turned onto an agency's service port.
  's/- port: 8081$/- port: 50061/|lets every source reach port 50061 of Deployment/identity, the identity service port: only registration may call it'
  # Registration's drain (5 s) and grace (20 s) no longer fit.
  's/terminationGracePeriodSeconds: 35/terminationGracePeriodSeconds: 25/|terminationGracePeriodSeconds 25 leaves no margin'
  # Telemetry: a misspelt variable, the OTLP/HTTP port, two workloads under one service name.
  's/name: OTEL_SERVICE_NAME/name: OTEL_SERVICENAME/|OTEL_SERVICENAME (env) is no OpenTelemetry variable'
  's/observability:4317/observability:4318/|4318 is OTLP/HTTP'
  's/value: registration-migrate$/value: registration/|export as service.name '"'"'registration'"'"''
  # TLS to PostgreSQL: a mode that checks no host name, a misspelt mode (sqlx
  # would quietly use prefer), the services' CA instead of the Cluster's, the
  # Cluster's CA key mounted with its certificate.
  's/value: verify-full$/value: require/|connect with PGSSLMODE=verify-full'
  's/value: verify-full$/value: verify_full/|sqlx would fall back to prefer'
  's/secretName: vrs-db-ca$/secretName: vrs-tls-registration/|is signed by the CA in vrs-db-ca'
  '/- name: db-ca$/,/secretName:/s/key: ca.crt/key: ca.key/|mounts ca.key of vrs-db-ca'
  # The portal over plaintext.
  's/VRS_REGISTRATION__PORTAL__URL: https:/VRS_REGISTRATION__PORTAL__URL: http:/|the portal'"'"'s status endpoint must be https://'
  # Backups: a ScheduledBackup of no Cluster, a crontab schedule (read with
  # seconds first), a credentials key the README does not list; more
  # synchronous standbys than the Cluster has.
  's/^    name: vrs-db$/    name: vrs-db-old/|names no CloudNativePG Cluster in namespace vrs'
  's/schedule: 0 0 2 \* \* \*/schedule: 0 2 * * */|CloudNativePG'"'"'s cron takes six'
  's/key: ACCESS_SECRET_KEY/key: SECRET_ACCESS_KEY/|Secrets table lists only'
  's/number: 1$/number: 3/|number 3 needs 3 standbys'
  # The Cluster renamed (a restore) without the Secret names derived from it.
  's/^  name: vrs-db$/  name: vrs-db-r1/|a name left behind when the Cluster was renamed'
  # The transparency site: probes of a path it does not route, a private key
  # instead of the CA alone, its egress rule on the wrong port, its port open
  # to its own namespace rather than the ingress controller's, registration's
  # ingress no longer admitting it, its Ingress certificate in a Secret
  # nobody makes.
  's/path: \/healthz$/path: \/health/|vrs-transparency answers it at /healthz'
  's/name: VRS_TRANSPARENCY__TLS__CA_FILE/name: VRS_TRANSPARENCY__TLS__KEY_FILE/|vrs-transparency presents no certificate'
  '/name: transparency-egress/,/^---/s/port: 50051/port: 50052/|(egress of Deployment/transparency) lets it reach no port 50051 of Deployment/registration'
  's/metadata.name: ingress-nginx/metadata.name: vrs/|lets namespace vrs'"'"'s own pods'
  '/name: registration-ingress/,/^---/{/namespaceSelector: {}/d;s/name: transparency$/name: portal/}|(ingress of Deployment/registration) lets no traffic from Deployment/transparency reach port 50051'
  's/secretName: vrs-transparency-ingress-tls/secretName: minhbach-tls/|Secret minhbach-tls is neither rendered'
)
for m in "${mutations[@]}"; do
  expr="${m%%|*}"
  want="${m#*|}"
  broken="$OUT/prod.broken.yaml"
  sed -e "$expr" "$OUT/prod.yaml" > "$broken"
  ! cmp -s "$broken" "$OUT/prod.yaml" || die "mutation '$expr' changed nothing: update validate.sh"
  if report="$(python3 k8s/check_config.py "$broken")"; then
    die "check_config.py passed a broken manifest ($expr)"
  fi
  grep -qF -- "$want" <<<"$report" || { echo "$report" >&2; die "check_config.py failed on '$expr' but did not say: $want"; }
  echo "caught: $expr"
done
rm -f "$OUT/prod.broken.yaml"

printf '\nPASS: %s rendered, schema-valid (Kubernetes %s and latest, strict) and consistent with the services'"'"' configuration\n' \
  "$(printf '%s ' "${rendered[@]}")" "$MIN_K8S"
