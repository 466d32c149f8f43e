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
#      site's and the console's isolation), Ingresses (each web application
#      on its own host; the console's affinity), the console's OpenID Connect
#      settings against the dev identity-provider stand-in and registration,
#      registration's shutdown timing and every
#      VRS_* variable against the configuration structs in services/, OTEL_* against what the telemetry
#      code reads, PG* against what sqlx reads; in prod TLS to the database
#      (verify-full, the Cluster's CA) and to the portal (https://); the
#      CloudNativePG Cluster (synchronous replication, WAL archive) and its
#      ScheduledBackup; Secrets made by hand documented in k8s/README.md.
# Then it breaks a few things on purpose in copies of the prod rendering (and
# of the dev rendering, for the dev-only identity-provider stand-in) and makes
# sure check_config.py notices each one.
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

# Each mutation: a sed script, then after `|` what check_config.py must say.
prod_mutations=(
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
  # The clerks' console: its OpenID client secret in its ConfigMap rather
  # than from a Secret; its Ingress on the public site's host; its readiness
  # probe on a path it does not route; a misspelt variable; its port open to
  # every address; no affinity on its Service, none on its Ingress (sessions
  # live in the replica's memory); its egress to the identity provider on the
  # wrong port; registration's ingress no longer admitting it; a client
  # certificate it does not present; plain http:// to the browsers and to
  # the provider in production; a public URL no Ingress serves; its source
  # range admitting everyone.
  '/name: VRS_CONSOLE__OIDC__CLIENT_SECRET/,/name: vrs-console-oidc/d;s/^  VRS_CONSOLE__PUBLIC_URL: /  VRS_CONSOLE__OIDC__CLIENT_SECRET: not-so-secret\n&/|VRS_CONSOLE__OIDC__CLIENT_SECRET (ConfigMap console-config-'
  's/- host: console.vrs.example.vn/- host: minhbach.vrs.example.vn/|the public site and the clerks'"'"' console are exposed separately'
  '/bin\/vrs-console$/,/^---/s/path: \/readyz$/path: \/ready/|readinessProbe.httpGet asks '"'"'/ready'"'"': vrs-console answers it at /readyz'
  's/VRS_CONSOLE__OIDC__CLIENT_ID:/VRS_CONSOLE__OIDC__CLIENTID:/|no key '"'"'clientid'"'"' under OIDC'
  '/name: console-ingress$/,/^---/s/^  - from:$/  - from:\n    - ipBlock:\n        cidr: 0.0.0.0\/0/|lets 0.0.0.0/0 (everyone) reach port 8091 of Deployment/console'
  's/sessionAffinity: ClientIP/sessionAffinity: None/|sessionAffinity None: vrs-console keeps sessions in the replica'"'"'s memory'
  '/nginx.ingress.kubernetes.io\/affinity: cookie/d|no cookie affinity (nginx.ingress.kubernetes.io/affinity: cookie) for vrs-console'
  '/name: console-egress$/,/^---/s/port: 443$/port: 8443/|lets it reach no port 443 outside the cluster'
  '/name: registration-ingress/,/^---/{/namespaceSelector: {}/d;s/name: console$/name: portal/}|(ingress of Deployment/registration) lets no traffic from Deployment/console reach port 50051'
  's/name: VRS_CONSOLE__TLS__CA_FILE/name: VRS_CONSOLE__TLS__KEY_FILE/|vrs-console presents no certificate'
  's/VRS_CONSOLE__PUBLIC_URL: https:/VRS_CONSOLE__PUBLIC_URL: http:/|browsers reach vrs-console over https://'
  's/VRS_CONSOLE__OIDC__ISSUER_URL: https:/VRS_CONSOLE__OIDC__ISSUER_URL: http:/|the identity provider is reached over https://'
  's/VRS_CONSOLE__PUBLIC_URL: https:\/\/console.vrs/VRS_CONSOLE__PUBLIC_URL: https:\/\/clerks.vrs/|no Ingress leads host clerks.vrs.example.vn to vrs-console'
  's/whitelist-source-range: 192.0.2.0\/24/whitelist-source-range: 0.0.0.0\/0/|0.0.0.0/0 admits everyone'
)
# The identity-provider stand-in (dev only): its access tokens under another
# issuer than registration accepts; the console dialling a loopback address
# (a port-forward's, from inside the pod); the stand-in naming itself other
# than the console expects; its client list without its --config file, or
# from a variable; the console's egress and the stand-in's ingress no longer
# letting the console through.
dev_mutations=(
  '/name: VRS_IDP__ACCESS_TOKEN_ISSUER/{n;s/value: vrs-local-issuer/value: vn.gov.vrs\/idp/}|but registration (Deployment/registration) accepts tokens of issuer '"'"'vrs-local-issuer'"'"''
  's/VRS_CONSOLE__OIDC__ISSUER_URL: http:\/\/idp.vrs-dev/VRS_CONSOLE__OIDC__ISSUER_URL: http:\/\/127.0.0.1:8092/|127.0.0.1 inside the pod is the pod itself'
  '/name: VRS_IDP__ISSUER_URL/{n;s/value: .*/value: http:\/\/idp/}|the identity provider of the set names itself http://idp'
  '/- --config$/,/idp.toml$/d|no --config FILE: vrs-idp takes VRS_IDP__CLIENTS'
  's/^        - name: VRS_IDP__LISTEN$/        - name: VRS_IDP__CLIENTS\n          value: vrs-console\n&/|CLIENTS is a list of tables'
  '/name: console-egress$/,/^---/s/port: 8092/port: 8093/|(egress of Deployment/console) lets it reach no port 8092 of Deployment/idp'
  '/name: idp-ingress$/,/^---/s/app.kubernetes.io\/name: console/app.kubernetes.io\/name: transparency/|(ingress of Deployment/idp) lets no traffic from Deployment/console reach port 8092'
)

# mutate OVERLAY MUTATION...: each mutation applied alone to a copy of the
# overlay's rendering must make check_config.py fail, saying what it should.
mutate() {
  local name="$1" m expr want report broken
  shift
  broken="$OUT/$name.broken.yaml"
  for m in "$@"; do
    expr="${m%%|*}"
    want="${m#*|}"
    sed -e "$expr" "$OUT/$name.yaml" > "$broken"
    ! cmp -s "$broken" "$OUT/$name.yaml" || die "mutation '$expr' changed nothing in $name.yaml: update validate.sh"
    if report="$(python3 k8s/check_config.py "$broken")"; then
      die "check_config.py passed a broken manifest ($name: $expr)"
    fi
    grep -qF -- "$want" <<<"$report" || { echo "$report" >&2; die "check_config.py failed on '$expr' ($name) but did not say: $want"; }
    echo "caught ($name): $expr"
  done
  rm -f "$broken"
}
[ -f "$OUT/prod.yaml" ] && [ -f "$OUT/dev.yaml" ] || die "the mutations need the prod and dev overlays"
step "check_config.py notices what it should (${#prod_mutations[@]} mutations of $OUT/prod.yaml, ${#dev_mutations[@]} of $OUT/dev.yaml)"
mutate prod "${prod_mutations[@]}"
mutate dev "${dev_mutations[@]}"
echo "all $(( ${#prod_mutations[@]} + ${#dev_mutations[@]} )) breakages caught"

printf '\nPASS: %s rendered, schema-valid (Kubernetes %s and latest, strict) and consistent with the services'"'"' configuration\n' \
  "$(printf '%s ' "${rendered[@]}")" "$MIN_K8S"
