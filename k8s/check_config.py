#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests against what the VRS binaries read.

Usage: check_config.py [--repo DIR] RENDERED.yaml...

RENDERED.yaml is the output of `kubectl kustomize k8s/overlays/<name>`. Needs
only PyYAML, which kubernetes-validate (the step before this one) installs.

What is checked, for every container that runs one of the workspace's binaries
(found by its command, /usr/local/bin/<binary>):

- the binary exists (a cargo bin of a crate under services/);
- every VRS_<SERVICE>__<SECTION>__<KEY> variable names a real configuration
  key: the table is read from the serde structs in services/*/src (field names,
  nested sections, enums with their serde renaming), not written by hand; its
  <SERVICE> is the one this binary reads (lists are comma-separated); literal
  values must parse as the
  field's type (ports, integers, booleans, enum variants);
- other variables are ones the code reads (DATABASE_URL, RUST_LOG, VRS_LOG_FORMAT),
  or standard OpenTelemetry variables (OTEL_*) that the SDK and OTLP exporter
  in use read, in a binary that initialises telemetry; their values are
  checked where the code is particular (exporters otlp/none, OTLP over gRPC,
  no https:// without a TLS feature of opentelemetry-otlp); or libpq's PG*
  variables that sqlx reads, in a binary that connects to PostgreSQL through
  it (PGSSLMODE one of libpq's modes, TLS modes only with a TLS feature of
  sqlx, a verifying mode with its PGSSLROOTCERT on a mounted volume, from the
  `<cluster>-ca` Secret of the CloudNativePG Cluster DATABASE_URL comes from,
  without the CA's private key);
- the listen address and the probe address (the plaintext health port) are
  set and bind all interfaces; the container declares exactly these two ports,
  the probe address's as `probe`; an HTTP server (HTTP_SERVERS: the public
  transparency site, the clerks' console, the dev identity-provider
  stand-in) has no probe address: one port, its listen address's;
- the startup, liveness and readiness probes are the kubelet's native gRPC
  probes of the probe port, never of the service port (mutual TLS there, and
  the kubelet's gRPC client speaks plaintext only); startup and liveness ask
  service "" (the process), readiness one of the gRPC services the binary
  serves (read from proto/ and the crate's `...Server::new` calls); an HTTP
  server's are httpGet probes of its health route (one its router serves);
- registration's drain delay and shutdown grace (or their defaults, read from
  the source) fit in terminationGracePeriodSeconds with a margin, and the drain
  delay is not zero;
- key, certificate and CA files lie on a mounted volume (the root file system
  is read-only), in the Secret's items when it lists them; the TLS triple is
  all-or-nothing and the same on every service;
- agency and beacon URLs (and the site's and the console's registration URL,
  the console's issuer URL when the provider runs in the cluster) name a
  Service and one of its ports, whose pods run the binary the setting is for
  (DIALS), on its service port; none is a loopback address (the pod itself);
  the portal URL is http(s)://, https:// only with a TLS feature of reqwest;
- a TLS client only (CA_ONLY: the site, the console) sets the CA file alone
  and mounts no Secret whole or with a key; the site (NO_SECRETS) holds no
  other secret at all (no variable from a Secret);
- a setting that holds a secret (`..._secret`, `...password`: the console's
  OpenID client secret) comes from a Secret, never a ConfigMap or a literal;
- a list of tables (a Vec of a config struct: the stand-in's clients) never
  comes from a variable (the loader gives comma-separated strings and
  refuses subscripts): a binary that needs one has `--config FILE`
  (CONFIG_FILE_SETTINGS), on a mounted volume, a Secret's when the file holds
  secrets (CONFIG_FILE_SECRET);
- production (mutual TLS between the services, or a CloudNativePG Cluster in
  the set): registration and its migration Job connect with
  PGSSLMODE=verify-full, and the portal URL is https://;
- the pod is hardened (non-root, read-only root, no privilege escalation,
  every capability dropped, RuntimeDefault seccomp).

And for the whole set: every Service selects pods and its targetPorts are
their container ports; PodDisruptionBudgets, HPAs and NetworkPolicies select
existing pods, NetworkPolicy ports are container ports of every pod they
protect; the service ports of the agencies and the beacon are isolated by a
NetworkPolicy and open to registration's pods only (their probe ports may be
open to all); the public site's and the console's ports (PUBLIC) to other,
named namespaces only (the ingress controller's); the NetworkPolicies let
every URL setting in DIALS through (egress of the caller, ingress of the
callee), the console out to its identity provider when that is outside the
cluster (EXTERNAL_DIALS: an ipBlock rule for its port), and a pod under an
egress policy reach DNS and its OpenTelemetry Collector; Ingress backends
are Services and ports of the set, their TLS Secrets are made somewhere, and
every host has TLS in production; each web application (WEB_APPS) has an
Ingress of its own and hosts of its own (no host leads to two, no rule is
without host: the public site apart from the console), and the URL browsers
are sent to (BROWSER_URLS: the console's public URL, the stand-in's issuer)
is a host of its Ingresses, https:// in production; the console (STICKY,
sessions in memory) has ClientIP affinity on its Service and ingress-nginx
cookie affinity (named cookie, not SameSite=Strict) on its Ingress;
source-range annotations are CIDRs, none /0; the console's issuer URL is
https:// in production, and equals the stand-in's when that runs in the set,
whose access tokens' issuer is registration's auth.issuer; the stand-in
(DEV_ONLY) never runs in production; workloads that export telemetry do so under
distinct service names; referenced ConfigMaps exist; Secrets that are neither
rendered nor written by a CloudNativePG Cluster are listed, with the keys
used, in k8s/README.md's "Secrets" table; CloudNativePG Clusters and ScheduledBackups
(no schema in kubernetes-validate) get a structural check: a Cluster's
bootstrap, synchronous replication, WAL archive (object store, credentials,
compression, retention; a restored cluster never archives over its source),
`<name>-app` and `<name>-ca` keys, and a ScheduledBackup of every archiving
Cluster, naming it, with CloudNativePG's six-field schedule.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from pathlib import Path

import yaml

def load_yaml_stream(text: str) -> list:
    """Every document of a YAML stream, empty ones left out."""
    return [d for d in yaml.safe_load_all(text) if d is not None]


# --------------------------------------------------------------------------
# The configuration schema, read from the Rust sources.
# --------------------------------------------------------------------------

INT_TYPES = {"u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize"}
FLOAT_TYPES = {"f32", "f64"}
STRING_TYPES = {"String", "PathBuf", "str"}


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


RENAMERS = {
    "kebab-case": _kebab,
    "snake_case": _snake,
    "lowercase": str.lower,
    "UPPERCASE": str.upper,
    "SCREAMING_SNAKE_CASE": lambda n: _snake(n).upper(),
    "SCREAMING-KEBAB-CASE": lambda n: _kebab(n).upper(),
}


def _body(text: str, open_brace: int) -> str:
    depth = 0
    for i in range(open_brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1 : i]
    raise ValueError("unbalanced braces")


def _attrs_before(text: str, pos: int) -> str:
    """The `#[...]` attributes (and doc comments) right before `pos`."""
    lines = text[:pos].split("\n")[:-1]
    out = []
    for line in reversed(lines):
        s = line.strip()
        if s.startswith("#[") or s.startswith("///") or s.startswith("//") or s.endswith(")]") or s == "":
            if s == "":
                break
            out.append(s)
            continue
        break
    return " ".join(reversed(out))


class Schema:
    """Struct and enum definitions of the workspace's service crates."""

    def __init__(self, repo: Path):
        self.repo = repo
        self.structs: dict[str, list[tuple[Path, list[tuple[str, str, str]]]]] = {}
        self.enums: dict[str, list[tuple[Path, list[str]]]] = {}
        for path in sorted(repo.glob("services/**/src/**/*.rs")):
            text = path.read_text(encoding="utf-8")
            text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
            for m in re.finditer(r"\bstruct\s+(\w+)\s*(<[^{;]*>)?\s*\{", text):
                attrs = _attrs_before(text, m.start())
                fields = []
                body = _body(text, m.end() - 1)
                pending = ""
                for line in body.split("\n"):
                    s = re.sub(r"\s//.*$", "", line).strip()
                    if s.startswith("//") or not s:
                        continue
                    if s.startswith("#["):
                        pending += s
                        continue
                    fm = re.match(r"^(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:\s*(.+?),?$", s)
                    if fm:
                        fields.append((fm.group(1), fm.group(2).strip(), pending))
                    pending = ""
                self.structs.setdefault(m.group(1), []).append((path, fields, attrs))
            for m in re.finditer(r"\benum\s+(\w+)\s*(<[^{;]*>)?\s*\{", text):
                attrs = _attrs_before(text, m.start())
                rename = re.search(r'rename_all\s*=\s*"([^"]+)"', attrs)
                variants = []
                pending = ""
                for line in _body(text, m.end() - 1).split("\n"):
                    s = re.sub(r"\s//.*$", "", line).strip()
                    if s.startswith("//") or not s:
                        continue
                    if s.startswith("#["):
                        pending += s
                        continue
                    vm = re.match(r"^(\w+)\s*(?:=\s*[^,]+)?,?$", s)
                    if vm:
                        own = re.search(r'rename\s*=\s*"([^"]+)"', pending)
                        if own:
                            variants.append(own.group(1))
                        elif rename:
                            variants.append(RENAMERS[rename.group(1)](vm.group(1)))
                        else:
                            variants.append(vm.group(1))
                    else:
                        variants = None  # data-carrying variants: not a plain string enum
                        break
                    pending = ""
                if variants is not None:
                    self.enums.setdefault(m.group(1), []).append((path, variants))
        # gRPC services by short name: {"TaxService": ["vrs.tax.v1.TaxService"]}.
        self.proto_services: dict[str, list[str]] = {}
        for path in sorted(repo.glob("proto/**/*.proto")):
            text = re.sub(r"//.*", "", path.read_text(encoding="utf-8"))
            pkg = re.search(r"^\s*package\s+([\w.]+)\s*;", text, flags=re.M)
            for m in re.finditer(r"^\s*service\s+(\w+)\s*\{", text, flags=re.M):
                self.proto_services.setdefault(m.group(1), []).append(f"{pkg.group(1)}.{m.group(1)}" if pkg else m.group(1))

    def _pick(self, table: dict, name: str, near: Path, what: str):
        found = table.get(name, [])
        if len(found) == 1:
            return found[0]
        crate = _crate_of(near)
        same = [f for f in found if _crate_of(f[0]) == crate]
        if len(same) == 1:
            return same[0]
        if not found:
            return None
        raise SystemExit(
            f"check_config: {what} {name} is defined in several places: "
            + ", ".join(str(f[0].relative_to(self.repo)) for f in found)
        )

    def tree(self, root_file: Path, root: str) -> dict:
        """{key: leaf-kind or subtree} for the struct `root` defined in `root_file`."""
        matches = [s for s in self.structs.get(root, []) if s[0] == root_file]
        if not matches:
            raise SystemExit(f"check_config: struct {root} not found in {root_file.relative_to(self.repo)}")
        return self._struct_tree(matches[0], set())

    def _struct_tree(self, struct, seen: set) -> dict:
        path, fields, attrs = struct
        if re.search(r"rename_all|flatten|deny_unknown_fields", attrs or ""):
            raise SystemExit(f"check_config: serde attributes on a config struct in {path} need support here: {attrs}")
        out = {}
        for name, ty, fattrs in fields:
            if "serde" in fattrs and re.search(r"\b(rename|flatten|alias)\b", fattrs):
                raise SystemExit(f"check_config: field {name} in {path} has {fattrs}; teach check_config.py about it")
            if "serde" in fattrs and re.search(r"\bskip\b|skip_deserializing", fattrs):
                continue
            out[name] = self._kind(ty, path, seen)
        return out

    def _kind(self, ty: str, near: Path, seen: set):
        ty = ty.strip()
        m = re.match(r"^(?:std::option::)?Option<(.+)>$", ty)
        if m:
            return self._kind(m.group(1), near, seen)
        m = re.match(r"^(?:std::vec::)?Vec<(.+)>$", ty)
        if m:
            # A list of a config struct is a list of tables (TOML [[...]]).
            inner = re.sub(r"<.*>$", "", m.group(1).strip()).split("::")[-1]
            if self._pick(self.structs, inner, near, "struct") and not self._pick(self.enums, inner, near, "enum"):
                return ("tables", ty)
            return ("list", ty)
        if re.match(r"^(?:std::collections::)?(?:BTreeMap|HashMap)<.+>$", ty):
            return ("map", ty)
        base = re.sub(r"<.*>$", "", ty).split("::")[-1]
        if base in INT_TYPES:
            return ("int", base)
        if base in FLOAT_TYPES:
            return ("float", base)
        if base == "bool":
            return ("bool", base)
        if base in STRING_TYPES:
            return ("string", base)
        if base == "SocketAddr":
            return ("socket", base)
        enum = self._pick(self.enums, base, near, "enum")
        struct = self._pick(self.structs, base, near, "struct")
        if struct and enum:
            raise SystemExit(f"check_config: {base} is both a struct and an enum")
        if enum:
            return ("enum", tuple(enum[1]))
        if struct:
            key = (str(struct[0]), base)
            if key in seen:
                raise SystemExit(f"check_config: recursive config type {base}")
            return self._struct_tree(struct, seen | {key})
        raise SystemExit(f"check_config: unknown field type {ty!r} (in {near.relative_to(self.repo)}); teach check_config.py about it")


def _crate_of(path: Path) -> str:
    parts = path.parts
    i = len(parts) - 1 - parts[::-1].index("src")
    return "/".join(parts[:i])


# How each binary loads its configuration. Each entry is checked against the
# source: the crate must build a binary of that name, and `marker` (the call
# that loads the configuration with that prefix) must occur in `loader`. The
# prefix is the one the loader passes: its variables are VRS_<PREFIX>__...
# (the binary vrs-transparency reads VRS_TRANSPARENCY__...).
BINARIES = {
    "registration": ("services/registration", "src/config.rs", r'config::load\(\s*"registration"', "services/registration/src/config.rs", "Config", "registration"),
    "identity": ("services/identity", "src/main.rs", r'agency::run\(\s*"identity"', "services/kit/src/agency.rs", "AgencyConfig", "identity"),
    "tax": ("services/tax", "src/main.rs", r'agency::run\(\s*"tax"', "services/kit/src/agency.rs", "AgencyConfig", "tax"),
    "customs": ("services/customs", "src/main.rs", r'agency::run\(\s*"customs"', "services/kit/src/agency.rs", "AgencyConfig", "customs"),
    "register": ("services/register", "src/main.rs", r'agency::run\(\s*"register"', "services/kit/src/agency.rs", "AgencyConfig", "register"),
    "beacon": ("services/beacon", "src/main.rs", r'config::load\(\s*"beacon"', "services/beacon/src/lib.rs", "Config", "beacon"),
    "vrs-transparency": ("services/transparency", "src/main.rs", r'config::load\(\s*"transparency"', "services/transparency/src/lib.rs", "Config", "transparency"),
    "vrs-console": ("services/console", "src/main.rs", r'config::load\(\s*"console"', "services/console/src/lib.rs", "Config", "console"),
    "vrs-idp": ("services/idp", "src/main.rs", r'config::load\(\s*"idp"', "services/idp/src/lib.rs", "Config", "idp"),
}
# Agencies run through vrs_kit::agency::run, which loads AgencyConfig itself.
AGENCY_LOADER = ("services/kit/src/agency.rs", r"let cfg: AgencyConfig<PORT> = crate::config::load\(name")

# Settings a container must give: the defaults (127.0.0.1, relative var/ paths)
# do not work in a pod with a read-only root file system.
REQUIRED = {
    "registration": [("server", "listen"), ("server", "probe_listen"), ("privacy", "data_key_file"), ("draw", "log_key_file"), ("auth", "issuer_public_key")],
    "identity": [("listen",), ("probe_listen",)],
    "tax": [("listen",), ("probe_listen",)],
    "customs": [("listen",), ("probe_listen",)],
    "register": [("listen",), ("probe_listen",)],
    "beacon": [("listen",), ("key_file",), ("probe_listen",)],
    "vrs-transparency": [("listen",), ("registration_url",)],
    # The console: where browsers reach it (the sign-in's redirect URI), the
    # provider, and its client secret (a confidential client: a server-side
    # application keeps a secret, and the police provider expects one).
    "vrs-console": [("listen",), ("public_url",), ("registration_url",), ("oidc", "issuer_url"), ("oidc", "client_id"), ("oidc", "client_secret")],
    # The stand-in: its defaults create a key and an accounts file under var/.
    "vrs-idp": [("listen",), ("issuer_url",), ("signing_key_file",), ("access_token_issuer",), ("accounts_file",)],
}
# The plaintext port serving gRPC health alone (services/kit/src/grpc.rs,
# with_probe_port), for the kubelet's probes: its config key (one per binary)
# and the name its container port must have.
PROBE_KEY = "probe_listen"
PROBE_PORT_NAME = "probe"

# Who may call each server's service port (NetworkPolicies). Not listed: open
# to the cluster (registration's API). Probe ports may be open to anyone.
CALLERS = {name: {"registration"} for name in ("identity", "tax", "customs", "register", "beacon")}

# Servers of plain HTTP rather than gRPC (the public transparency site, the
# clerks' console, the dev identity-provider stand-in): one port, the listen
# address, declared under `port name`; no probe listener; the kubelet probes
# it with httpGet of `health`, a route its router serves (read from the
# crate's `.route("/...", ...)` calls).
HTTP_SERVERS = {
    # `ready`: the readiness route (the site is ready once it has verified a
    # state of the log; the console while registration answers; liveness
    # stays `health`).
    "vrs-transparency": {"health": "/healthz", "ready": "/readyz", "port name": "http"},
    "vrs-console": {"health": "/healthz", "ready": "/readyz", "port name": "http"},
    "vrs-idp": {"health": "/healthz", "port name": "http"},
}
# TLS clients that present no certificate (registration's API asks its
# callers for none: the site reads the public log, the console sends each
# clerk's token): the CA file alone, and Secret volumes that project
# certificates alone.
CA_ONLY = {"vrs-transparency", "vrs-console"}
# ... and of those, the ones that hold no secret at all (no variable from a
# Secret either). The public site faces the Internet: what it does not hold
# cannot leak. (The console holds its OpenID client secret.)
NO_SECRETS = {"vrs-transparency"}
# Reached from outside through the ingress controller only: the service port
# is isolated by a NetworkPolicy whose rules admit pods of named other
# namespaces (the controller's), never every source, every namespace or the
# namespace's own pods (nothing inside needs to call the site or the console).
PUBLIC = {"vrs-transparency", "vrs-console"}
# Web applications exposed by Ingresses: each on a host of its own and an
# Ingress of its own (the issue: the public site apart from the console; no
# path of one reachable on the other's host).
WEB_APPS = set(HTTP_SERVERS)
# Where browsers reach a web application, as its configuration says (the
# console's redirect URI is under public_url; the provider's endpoints under
# issuer_url): an Ingress host leading to that binary, https:// in production.
# Not URLs the binary dials itself (check_urls leaves them out).
BROWSER_URLS = {
    "vrs-console": [("public_url",)],
    "vrs-idp": [("issuer_url",)],
}
# Sessions held in the process's memory (services/console/src/session.rs):
# a browser must come back to the same replica. Its Services have ClientIP
# affinity, its Ingresses ingress-nginx cookie affinity (the controller
# balances over the endpoints, not through the Service).
STICKY = {"vrs-console"}
# OpenID Connect: the relying party's issuer setting, and the provider it
# leads to when the provider runs in the set (the dev stand-in): the same
# issuer URL on both sides (the console compares the discovery document's
# `issuer` exactly), and the provider's access tokens carry the `iss`
# registration accepts.
OIDC_CLIENTS = {"vrs-console": ("oidc", "issuer_url")}
OIDC_PROVIDER = ("vrs-idp", ("issuer_url",), ("access_token_issuer",))
TOKEN_AUDIENCE = ("registration", ("auth", "issuer"))
# For development only: refused in production (the police's own provider
# signs clerks in there).
DEV_ONLY = {"vrs-idp": "a stand-in for the police identity provider, for development: production signs clerks in with the police's own provider"}
# URL settings that may lead outside the cluster (the police identity
# provider): then the caller's egress policies must let it out on that port
# (an ipBlock rule, or one without `to`), and in production it is https://.
EXTERNAL_DIALS = {"vrs-console": [("oidc", "issuer_url")]}
# Settings that are lists of tables (read from the structs: a Vec of a
# config struct) cannot come from VRS_* variables (those give comma-separated
# strings): a binary listed here must get them from its `--config FILE`, and
# the file, holding secrets (the clients' secrets), from a Secret volume.
CONFIG_FILE_SETTINGS = {"vrs-idp": [("clients",)]}
CONFIG_FILE_SECRET = {"vrs-idp"}
# Configuration keys that hold a secret: from a Secret (env[].valueFrom.
# secretKeyRef), never a literal in the manifest or a ConfigMap.
SECRET_KEY = re.compile(r"(^|_)(secret|password)$")
# What a URL setting must lead to: the Service's pods run this binary and the
# Service port leads to its service port (not the probe port). With it,
# NetworkPolicies must let the caller's pods reach those pods on that port
# (egress of the caller, ingress of the callee), and any caller under an
# egress policy must be let through to DNS.
DIALS = {
    "registration": {
        ("agencies", "identity_url"): "identity",
        ("agencies", "tax_url"): "tax",
        ("agencies", "customs_url"): "customs",
        ("agencies", "register_url"): "register",
        ("draw", "beacon_url"): "beacon",
    },
    "vrs-transparency": {("registration_url",): "registration"},
    # The provider: the dev stand-in's Service when in the cluster; the
    # police's provider (outside: EXTERNAL_DIALS) in production.
    "vrs-console": {("registration_url",): "registration", ("oidc", "issuer_url"): "vrs-idp"},
}

# Shutdown settings (ms) of a binary: after SIGTERM it answers NOT_SERVING for
# the drain delay, then lets in-flight calls finish within the grace; both
# must end before terminationGracePeriodSeconds (then SIGKILL), with a margin
# for closing the database pool and flushing telemetry. Defaults are read
# from the struct's `impl Default`.
SHUTDOWN = {
    "registration": (("server", "drain_delay_ms"), ("server", "shutdown_grace_ms"), "services/registration/src/config.rs", "ServerConfig"),
}
SHUTDOWN_MARGIN_S = 5
DEFAULT_TERMINATION_GRACE_S = 30

# OpenTelemetry. A binary that calls vrs_kit::telemetry::init reads these
# standard variables: the ones opentelemetry_sdk and opentelemetry-otlp 0.33
# read for traces and metrics (the binaries export no logs over OTLP), and the
# ones telemetry.rs reads itself (checked below against that file). Anything
# else spelled OTEL_* does nothing, most likely a typo.
TELEMETRY_RS = "services/kit/src/telemetry.rs"
TELEMETRY_INIT = r"telemetry::init\(\s*(?:\"([^\"]+)\"|(\w+))\s*\)"
OTEL_CODE_VARS = {"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_SERVICE_NAME"}
OTEL_SDK_VARS = {
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT", "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_SPAN_EVENT_COUNT_LIMIT", "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
} | {
    f"OTEL_EXPORTER_OTLP_{signal}{key}"
    for signal in ("", "TRACES_", "METRICS_")
    for key in ("ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "PROTOCOL", "INSECURE")
}
OTEL_SAMPLERS = {"always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}
# The Job that only migrates needs the database and nothing else.
MIGRATE_ONLY_FLAG = "--migrate-only"

CNPG_APP_SECRET_KEYS = {"username", "user", "password", "host", "port", "dbname", "uri", "jdbc-uri", "fqdn-uri", "fqdn-jdbc-uri", "pgpass"}
# The other Secrets a CloudNativePG Cluster writes, by suffix, with their keys.
# `-ca` holds the CA's private key too: a client mounts ca.crt alone.
CNPG_SECRET_KEYS = {
    "-app": CNPG_APP_SECRET_KEYS,
    "-ca": {"ca.crt", "ca.key"},
    "-server": {"tls.crt", "tls.key"},
    "-replication": {"tls.crt", "tls.key"},
    "-superuser": CNPG_APP_SECRET_KEYS,
}

# libpq's environment variables as sqlx-postgres 0.9 reads them
# (PgConnectOptions::new_without_pgpass and apply_pgpass): defaults under the
# URL's own parameters. Read by a binary that connects to PostgreSQL through
# sqlx (sea-orm's sqlx-postgres); sqlx reads no other PG* variable
# (PGCONNECT_TIMEOUT, PGTARGETSESSIONATTRS... do nothing there).
LIBPQ_VARS = {
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGDATABASE",
    "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGAPPNAME", "PGOPTIONS",
}
# PGSSLMODE's values. sqlx parses the variable with .ok() and falls back to
# `prefer` (TLS if offered, no certificate checked) on anything else, silently.
LIBPQ_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
LIBPQ_TLS_MODES = {"require", "verify-ca", "verify-full"}
LIBPQ_VERIFYING_MODES = {"verify-ca", "verify-full"}

# Custom resources of CloudNativePG, their fields and enumerations (API v1,
# operator 1.28-1.30).
CNPG_SCHEDULED_BACKUP_FIELDS = {"cluster", "schedule", "backupOwnerReference", "immediate", "suspend", "target", "method", "pluginConfiguration", "online", "onlineConfiguration"}
CNPG_BACKUP_FIELDS = {"barmanObjectStore", "volumeSnapshot", "retentionPolicy", "target"}
CNPG_OBJECT_STORE_FIELDS = {"destinationPath", "endpointURL", "endpointCA", "serverName", "s3Credentials", "azureCredentials", "googleCredentials", "wal", "data", "tags", "historyTags"}
CNPG_SYNCHRONOUS_FIELDS = {"method", "number", "maxStandbyNamesFromCluster", "standbyNamesPre", "standbyNamesPost", "dataDurability", "failoverQuorum", "podFailureDomainKeys", "nodeFailureDomainKeys"}
CNPG_WAL_COMPRESSION = ("bzip2", "gzip", "lz4", "snappy", "xz", "zstd")
CNPG_DATA_COMPRESSION = ("bzip2", "gzip", "lz4", "snappy")
# Object store scheme -> the credentials stanza barman-cloud uses with it.
CNPG_STORE_CREDENTIALS = {"s3": "s3Credentials", "gs": "googleCredentials", "https": "azureCredentials", "http": "azureCredentials"}


class Binary:
    def __init__(self, repo: Path, schema: Schema, name: str):
        crate, loader, marker, root_file, root, prefix = BINARIES[name]
        cargo = (repo / crate / "Cargo.toml").read_text(encoding="utf-8")
        bins = set(re.findall(r'\[\[bin\]\][^\[]*?name\s*=\s*"([^"]+)"', cargo, flags=re.S))
        package = re.search(r'\[package\][^\[]*?name\s*=\s*"([^"]+)"', cargo, flags=re.S)
        if (repo / crate / "src/main.rs").exists() and package:
            bins.add(package.group(1))
        if name not in bins:
            raise SystemExit(f"check_config: {crate} builds no binary {name!r} (it builds {sorted(bins)})")
        if not re.search(marker, (repo / crate / loader).read_text(encoding="utf-8")):
            raise SystemExit(f"check_config: {crate}/{loader} no longer loads its configuration as {marker!r}")
        if root == "AgencyConfig" and not re.search(AGENCY_LOADER[1], (repo / AGENCY_LOADER[0]).read_text(encoding="utf-8")):
            raise SystemExit(f"check_config: {AGENCY_LOADER[0]} no longer loads AgencyConfig")
        self.name = name
        self.prefix = f"VRS_{prefix.upper()}__"
        self.tree = schema.tree(repo / root_file, root)
        # Plain variables the code reads: std::env::var("X") in the crate and
        # in vrs-kit, and RUST_LOG (tracing's EnvFilter::try_from_default_env).
        plain = set()
        for src in list((repo / crate / "src").rglob("*.rs")) + list((repo / "services/kit/src").rglob("*.rs")):
            text = src.read_text(encoding="utf-8")
            plain |= set(re.findall(r'env::var(?:_os)?\(\s*"([A-Z0-9_]+)"\s*\)', text))
            if "try_from_default_env" in text:
                plain.add("RUST_LOG")
        self.plain = plain
        # PostgreSQL through sqlx (sea-orm's sqlx-postgres): libpq's PG*
        # variables apply, and TLS to the database needs a TLS feature.
        orm = " ".join(filter(None, (dependency(repo, crate, d) for d in ("sea-orm", "sqlx"))))
        self.postgres = "postgres" in orm
        self.postgres_tls = bool(re.search(r"rustls|native-tls", orm))
        # https:// to the portal needs a TLS feature of reqwest.
        self.reqwest_tls = reqwest_has_tls(dependency(repo, crate, "reqwest"))
        self.listen = self._find_socket("listen")
        # An HTTP server: no probe listener, no gRPC service; its routes.
        self.http = HTTP_SERVERS.get(name)
        if self.http is not None:
            self.probe_listen = None
            self.services = set()
            self.routes = set()
            for src in (repo / crate / "src").rglob("*.rs"):
                self.routes |= set(re.findall(r'\.route\(\s*"([^"]+)"', src.read_text(encoding="utf-8")))
            for route in {self.http["health"], self.http.get("ready", self.http["health"])}:
                if route not in self.routes:
                    raise SystemExit(f"check_config: {crate} no longer routes {route} (routes: {sorted(self.routes)}); update HTTP_SERVERS")
        else:
            self.probe_listen = self._find_socket(PROBE_KEY)
            self.services = self._find_services(repo, schema, crate)
            self.routes = set()
        for path in DIALS.get(name, {}):
            node = self.tree
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if not (isinstance(node, tuple) and node[0] == "string"):
                raise SystemExit(f"check_config: {name}: DIALS names {'.'.join(path)}, which is no string setting of its config; update DIALS")
        # The name it passes to telemetry::init (OTEL_SERVICE_NAME overrides
        # it); None: it does not initialise telemetry, OTEL_* means nothing.
        self.telemetry_name = None
        sources = sorted((repo / crate / "src").rglob("*.rs"))
        if root == "AgencyConfig":
            sources.append(repo / AGENCY_LOADER[0])
        for src in sources:
            for m in re.finditer(TELEMETRY_INIT, src.read_text(encoding="utf-8")):
                # A variable: agency::run's `name`, the agency's own.
                self.telemetry_name = m.group(1) or name
        if self.telemetry_name is not None:
            telemetry = (repo / TELEMETRY_RS).read_text(encoding="utf-8")
            for needle in ('"OTEL_SDK_DISABLED"', '"OTEL_{signal}_EXPORTER"', '"OTEL_SERVICE_NAME"', "with_tonic()"):
                if needle not in telemetry:
                    raise SystemExit(f"check_config: {TELEMETRY_RS} no longer has {needle}; update the OTEL_* rules in check_config.py")

    def _find_socket(self, key):
        found = []

        def walk(tree, path):
            for k, v in tree.items():
                if isinstance(v, dict):
                    walk(v, path + (k,))
                elif k == key and v[0] == "socket":
                    found.append(path + (k,))

        walk(self.tree, ())
        if len(found) != 1:
            raise SystemExit(f"check_config: {self.name}: expected one `{key}` address in its config, found {found}")
        return found[0]

    def _find_services(self, repo: Path, schema: Schema, crate: str) -> set:
        """Full names of the gRPC services the binary serves: each
        `<Service>Server::new(` in the crate, looked up in proto/."""
        served = set()
        for src in (repo / crate / "src").rglob("*.rs"):
            served |= set(re.findall(r"\b(\w+)Server::new\(", src.read_text(encoding="utf-8")))
        out = set()
        for short in served:
            full = schema.proto_services.get(short, [])
            if len(full) > 1:
                raise SystemExit(f"check_config: gRPC service {short} is declared in several proto packages: {full}")
            out |= set(full)
        if not out:
            raise SystemExit(f"check_config: {crate} serves no gRPC service declared in proto/ (no `<Service>Server::new(` found)")
        return out

    def lookup(self, var: str):
        """(path, kind) for VRS_<NAME>__A__B, or raises ValueError with the reason."""
        parts = var[len(self.prefix) :].split("__")
        if any(p == "" for p in parts):
            raise ValueError("empty segment (a single or triple underscore where __ separates sections?)")
        keys = [p.lower() for p in parts]
        node = self.tree
        for i, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                where = "__".join(p.upper() for p in keys[:i]) or "(top level)"
                options = sorted(node) if isinstance(node, dict) else []
                raise ValueError(f"no key {key!r} under {where}; known: {', '.join(options)}")
            node = node[key]
            if not isinstance(node, dict):
                if node[0] == "tables":
                    raise ValueError(f"{'__'.join(keys[: i + 1]).upper()} is a list of tables ({node[1]}): the environment gives comma-separated strings, and a subscript (`{keys[i].upper()}[0]`) is refused; put it in the --config file")
                if node[0] == "map" and i == len(keys) - 2:
                    return tuple(keys), ("string", "map entry")
                if i != len(keys) - 1:
                    raise ValueError(f"{'__'.join(keys[: i + 1]).upper()} is a value, not a section")
                # Lists are comma-separated (vrs_kit::config registers every list key).
                return tuple(keys), node
        raise ValueError("names a whole section, not a key")


def struct_int_defaults(path: Path, struct: str) -> dict:
    """{field: int} for the integer literals (`25_000`) in `impl Default for struct`."""
    text = path.read_text(encoding="utf-8")
    m = re.search(r"impl\s+Default\s+for\s+" + struct + r"\s*\{", text)
    if not m:
        raise SystemExit(f"check_config: no `impl Default for {struct}` in {path}")
    body = _body(text, m.end() - 1)
    return {k: int(v.replace("_", "")) for k, v in re.findall(r"^\s*(\w+)\s*:\s*([0-9][0-9_]*)\s*,", body, flags=re.M)}


def check_value(kind, value: str):
    k = kind[0]
    if k == "int":
        if not re.fullmatch(r"[-+]?[0-9]+", value.strip()):
            return f"{value!r} is not an integer ({kind[1]})"
        if kind[1].startswith("u") and int(value) < 0:
            return f"{value!r} is negative ({kind[1]})"
    elif k == "float":
        try:
            float(value)
        except ValueError:
            return f"{value!r} is not a number"
    elif k == "bool":
        if value.lower() not in ("true", "false"):
            return f"{value!r} is not true or false"
    elif k == "enum":
        if value not in kind[1]:
            return f"{value!r} is none of {', '.join(kind[1])}"
    elif k == "socket":
        try:
            parse_socket(value)
        except ValueError as e:
            return str(e)
    return None


def parse_socket(value: str):
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([0-9.]+):(\d+)", value)
    if not m:
        raise ValueError(f"{value!r} is not IP:PORT (a socket address, no host names)")
    host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    ip = ipaddress.ip_address(host)
    port = int(port)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return ip, port


def dependency(repo: Path, crate: str, dep: str):
    """The text of the crate's dependency on `dep` (its Cargo.toml line, and
    the workspace's when it inherits it), or None if it has none."""
    pattern = re.compile(r"\s*" + re.escape(dep) + r"\s*(?:\.workspace\s*=|=)")
    own = [line for line in (repo / crate / "Cargo.toml").read_text(encoding="utf-8").splitlines() if pattern.match(line)]
    if not own:
        return None
    text = " ".join(own)
    if "workspace" in text:
        text += " " + " ".join(line for line in (repo / "Cargo.toml").read_text(encoding="utf-8").splitlines() if pattern.match(line))
    return text


def reqwest_has_tls(spec) -> bool:
    """Whether a reqwest dependency has TLS (a rustls or native-tls feature,
    or its default features, which include default-tls)."""
    if spec is None:
        return False
    if re.search(r'"(?:rustls|native-tls|default-tls)[\w-]*"', spec):
        return True
    return not re.search(r"default-features\s*=\s*false", spec)


def otlp_has_tls(repo: Path) -> bool:
    """Whether opentelemetry-otlp is built with a TLS feature (else https:// endpoints fail)."""
    for cargo in [repo / "Cargo.toml", *sorted(repo.glob("services/*/Cargo.toml"))]:
        for line in cargo.read_text(encoding="utf-8").splitlines():
            if re.match(r"\s*opentelemetry-otlp\s*=", line) and re.search(r'"tls[\w-]*"', line):
                return True
    return False


def check_otel(name: str, value: str, otlp_tls: bool):
    """What is wrong with OTEL_* = value, or None."""
    v = value.strip()
    if name == "OTEL_SDK_DISABLED" or name.endswith("_INSECURE"):
        if v.lower() not in ("true", "false"):
            return f"{value!r} is not true or false"
    elif name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER"):
        if v.lower() not in ("otlp", "none"):
            return f"{value!r}: {TELEMETRY_RS} knows otlp and none only (anything else falls back to whether an endpoint is set)"
    elif name.endswith("_PROTOCOL"):
        if v != "grpc":
            return f"{value!r}: the exporters are built for OTLP over gRPC only (with_tonic); use grpc or leave it out"
    elif name.endswith("_ENDPOINT"):
        m = re.fullmatch(r"(https?)://([^/:\s]+)(?::(\d+))?(/\S*)?", v)
        if not m:
            return f"{value!r} is not http(s)://host:port"
        if m.group(1) == "https" and not otlp_tls:
            return "https:// needs a TLS feature of opentelemetry-otlp, which Cargo.toml does not enable (the exporter refuses to start)"
        if m.group(3) == "4318":
            return "4318 is OTLP/HTTP; the exporters speak OTLP/gRPC (the collector's port 4317)"
    elif name == "OTEL_SERVICE_NAME":
        if not v:
            return "is empty"
    elif name == "OTEL_RESOURCE_ATTRIBUTES":
        for item in filter(None, (i.strip() for i in v.split(","))):
            key, eq, _ = item.partition("=")
            if not eq or not key.strip():
                return f"{item!r} is not key=value"
            if key.strip() == "service.name":
                return "sets service.name, which OTEL_SERVICE_NAME or the binary's own name overrides: use OTEL_SERVICE_NAME"
    elif name == "OTEL_TRACES_SAMPLER":
        if v not in OTEL_SAMPLERS:
            return f"{value!r} is none of {', '.join(sorted(OTEL_SAMPLERS))}"
    elif name.endswith(("_TIMEOUT", "_INTERVAL", "_DELAY", "_SIZE", "_EXPORTS", "_LIMIT")):
        if not re.fullmatch(r"[0-9]+", v):
            return f"{value!r} is not a whole number (milliseconds or a count)"
    return None


def otel_exports(env) -> bool:
    """Whether a process with this environment exports traces or metrics
    (telemetry.rs, otlp_wanted); values from Secrets count as set."""
    def var(n):
        if n not in env:
            return None
        v = env[n][0]
        return "?" if v is None else (v.strip() or None)

    if (var("OTEL_SDK_DISABLED") or "").lower() == "true":
        return False
    for signal in ("TRACES", "METRICS"):
        chosen = (var(f"OTEL_{signal}_EXPORTER") or "").lower()
        if chosen == "otlp":
            return True
        if chosen != "none" and (var("OTEL_EXPORTER_OTLP_ENDPOINT") or var(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")):
            return True
    return False


# --------------------------------------------------------------------------
# The checks.
# --------------------------------------------------------------------------

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
KNOWN_CRDS = {("postgresql.cnpg.io/v1", "Cluster"), ("postgresql.cnpg.io/v1", "ScheduledBackup")}


class Checker:
    def __init__(self, repo: Path, docs: list, label: str):
        self.repo = repo
        self.docs = [d for d in docs if d]
        self.label = label
        self.errors: list[str] = []
        self.checks = 0
        self.schema = Schema(repo)
        self.binaries: dict[str, Binary] = {}
        self.otlp_tls = otlp_has_tls(repo)
        # (workload, binary, service port) of every server container, for the NetworkPolicy checks.
        self.servers: list = []
        # service.name -> workloads exporting telemetry under it.
        self.telemetry_names: dict[str, list[str]] = {}
        # (workload, container, env, where) of every PostgreSQL client (the
        # servers and the migration Job), and of registration's servers, for
        # the production rules, which need the whole set.
        self.db_clients: list = []
        self.portal_clients: list = []
        # (workload, binary, variable, value, Service, port, binary it must
        # lead to, where) of every URL setting in DIALS, for the reachability
        # checks; (workload, endpoint, where) of every OTLP exporter.
        self.dials: list = []
        self.otlp_clients: list = []
        # (workload, binary, variable, value, scheme, port, where) of every
        # EXTERNAL_DIALS setting that leads outside the cluster.
        self.external_dials: list = []
        # (workload, binary, env, where) of every server container, for the
        # checks across workloads (web applications, OpenID Connect).
        self.apps: list = []
        self._documented = None

    def err(self, where: str, msg: str):
        self.errors.append(f"{where}: {msg}")

    def ok(self, cond: bool, where: str, msg: str):
        self.checks += 1
        if not cond:
            self.err(where, msg)
        return cond

    def of_kind(self, *kinds):
        return [d for d in self.docs if d.get("kind") in kinds]

    def find(self, kind, name, ns):
        for d in self.docs:
            md = d.get("metadata") or {}
            if d.get("kind") == kind and md.get("name") == name and md.get("namespace") == ns:
                return d
        return None

    def binary(self, name):
        if name not in self.binaries:
            self.binaries[name] = Binary(self.repo, self.schema, name)
        return self.binaries[name]

    @staticmethod
    def pod_spec(w):
        return ((w.get("spec") or {}).get("template") or {}).get("spec") or {}

    @staticmethod
    def pod_labels(w):
        return (((w.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}

    @staticmethod
    def selects(selector, labels) -> bool:
        if not selector:
            return False
        for k, v in (selector.get("matchLabels") or {}).items():
            if labels.get(k) != v:
                return False
        for expr in selector.get("matchExpressions") or []:
            key, op, values = expr["key"], expr["operator"], expr.get("values") or []
            if op == "In" and labels.get(key) not in values:
                return False
            if op == "NotIn" and labels.get(key) in values:
                return False
            if op == "Exists" and key not in labels:
                return False
            if op == "DoesNotExist" and key in labels:
                return False
        return True

    def workloads(self):
        return self.of_kind(*WORKLOAD_KINDS)

    def operator_pods(self):
        """Pods an operator will create, as workload-shaped stand-ins: a
        CloudNativePG Cluster's instances (label cnpg.io/cluster, PostgreSQL on
        5432, the instance manager's status on 8000, metrics on 9187)."""
        out = []
        for cl in self.of_kind("Cluster"):
            md = cl.get("metadata") or {}
            ports = [("postgresql", 5432), ("status", 8000), ("metrics", 9187)]
            out.append({
                "kind": "Cluster",
                "metadata": {"name": md.get("name"), "namespace": md.get("namespace")},
                "spec": {
                    "replicas": (cl.get("spec") or {}).get("instances", 1),
                    "template": {
                        "metadata": {"labels": {"cnpg.io/cluster": md.get("name")}},
                        "spec": {"containers": [{"name": "postgres", "ports": [{"name": n, "containerPort": p} for n, p in ports]}]},
                    },
                },
            })
        return out

    def selected(self, selector, ns):
        return [
            w
            for w in self.workloads() + self.operator_pods()
            if (w.get("metadata") or {}).get("namespace") == ns and self.selects(selector, self.pod_labels(w))
        ]

    def run(self):
        self.check_crds()
        tls_state = {}
        for w in self.workloads():
            self.check_workload(w, tls_state)
        states = {v for v in tls_state.values()}
        self.ok(
            len(states) <= 1,
            "TLS",
            "mixed: "
            + ", ".join(f"{k} {'on' if v else 'off'}" for k, v in sorted(tls_state.items()))
            + " (clients dial https:// exactly when their own TLS is on)",
        )
        # Production: what the prod overlay has and dev has not. Its traffic
        # leaves the pods encrypted and authenticated throughout.
        production = []
        if True in states:
            production.append("mutual TLS between the services")
        if self.of_kind("Cluster"):
            production.append("a CloudNativePG Cluster")
        self.check_database_tls(", ".join(production))
        self.check_portal(", ".join(production))
        self.check_ingresses(", ".join(production))
        self.check_web(", ".join(production))
        self.check_oidc(", ".join(production))
        for service_name, workloads in sorted(self.telemetry_names.items()):
            self.ok(
                len(workloads) == 1,
                "OpenTelemetry",
                f"{' and '.join(workloads)} export as service.name {service_name!r}: their traces and metrics mix; give each its own OTEL_SERVICE_NAME",
            )
        self.check_services()
        self.check_policies()
        self.check_isolation()
        self.check_public()
        self.check_dials()
        self.check_external()
        self.check_egress()
        return self.errors

    # ---- workloads ----------------------------------------------------------------

    def check_workload(self, w, tls_state):
        md = w.get("metadata") or {}
        ns = md.get("namespace")
        spec = self.pod_spec(w)
        for vol in spec.get("volumes") or []:
            if "secret" in vol:
                sec = vol["secret"]
                keys = [i["key"] for i in sec.get("items") or []]
                self.check_secret_made(sec.get("secretName"), keys, ns, f"{w['kind']}/{md.get('name')} volume {vol.get('name')}")
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            where = f"{w['kind']}/{md.get('name')} container {c.get('name')}"
            command = list(c.get("command") or []) + list(c.get("args") or [])
            exe = Path(command[0]).name if command else None
            if exe is None or exe not in BINARIES:
                if command and command[0].startswith("/usr/local/bin/"):
                    self.err(where, f"runs {command[0]}, which is none of the workspace's binaries {sorted(BINARIES)}")
                continue
            b = self.binary(exe)
            migrate_only = MIGRATE_ONLY_FLAG in command[1:]
            env = self.container_env(c, ns, where)
            self.check_env(b, env, where)
            self.check_hardening(spec, c, where)
            if b.name in CA_ONLY:
                self.check_ca_only(b, spec, c, where)
            if b.postgres:
                self.db_clients.append((w, c, env, where))
            if b.name == "registration" and not migrate_only:
                self.portal_clients.append((w, b, env, where))
            if b.telemetry_name is not None and otel_exports(env):
                name = (env.get("OTEL_SERVICE_NAME") or (None,))[0] or b.telemetry_name
                self.telemetry_names.setdefault(name, []).append(f"{w['kind']}/{md.get('name')}")
                for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
                    if (env.get(var) or (None,))[0]:
                        self.otlp_clients.append((w, env[var][0].strip(), f"{where} {var}"))
            if migrate_only:
                self.ok("DATABASE_URL" in env or "VRS_REGISTRATION__DATABASE__URL" in env, where, "the migration needs DATABASE_URL")
                continue
            self.check_required(b, env, where)
            tls = self.check_tls(b, c, env, where)
            tls_state[f"{md.get('name')}"] = tls
            if b.http is not None:
                port = self.check_http_ports(b, c, env, where)
            else:
                port = self.check_ports(b, c, env, where, tls)
            if port is not None:
                self.servers.append((w, b, port))
            self.check_shutdown(b, spec, env, where)
            self.check_files(b, c, spec, env, where)
            self.check_config_file(b, c, spec, command, where)
            self.check_urls(w, b, env, ns, where)
            self.apps.append((w, b, env, where))

    def container_env(self, c, ns, where):
        """{name: (value or None when it comes from a Secret, source)}; later entries win."""
        env = {}
        for src in c.get("envFrom") or []:
            prefix = src.get("prefix") or ""
            if "configMapRef" in src:
                name = src["configMapRef"]["name"]
                cm = self.find("ConfigMap", name, ns)
                if self.ok(cm is not None or src["configMapRef"].get("optional"), where, f"envFrom ConfigMap {name} is not in the rendered set"):
                    for k, v in ((cm or {}).get("data") or {}).items():
                        env[prefix + k] = (str(v), f"ConfigMap {name}")
            elif "secretRef" in src:
                name = src["secretRef"]["name"]
                sec = self.find("Secret", name, ns)
                if sec is None:
                    self.err(where, f"envFrom a Secret ({name}) hides which variables it sets; use env[].valueFrom.secretKeyRef")
                for k in ((sec or {}).get("data") or {}) | ((sec or {}).get("stringData") or {}):
                    env[prefix + k] = (None, f"Secret {name}")
        for e in c.get("env") or []:
            if "value" in e or "valueFrom" not in e:
                env[e["name"]] = (str(e.get("value", "")), "env")
            else:
                vf = e["valueFrom"]
                if "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    cm = self.find("ConfigMap", ref["name"], ns)
                    val = ((cm or {}).get("data") or {}).get(ref["key"])
                    self.ok(val is not None or ref.get("optional"), where, f"{e['name']}: ConfigMap {ref['name']} key {ref['key']} not in the rendered set")
                    env[e["name"]] = (val, f"ConfigMap {ref['name']}")
                elif "secretKeyRef" in vf:
                    ref = vf["secretKeyRef"]
                    self.check_secret_ref(ref, ns, f"{where} {e['name']}")
                    env[e["name"]] = (None, f"Secret {ref['name']} key {ref['key']}")
                else:
                    env[e["name"]] = (None, "fieldRef")
        return env

    def check_secret_ref(self, ref, ns, where):
        """A Secret reference: rendered (key must exist), written by a CNPG Cluster, or made by hand."""
        self.check_secret_made(ref["name"], [ref["key"]], ns, where)

    def cnpg_secret(self, name, ns):
        """(Cluster, suffix) when a rendered CloudNativePG Cluster writes the Secret `name`."""
        for suffix in CNPG_SECRET_KEYS:
            if name.endswith(suffix):
                cluster = self.find("Cluster", name[: -len(suffix)], ns)
                if cluster is not None:
                    return cluster, suffix
        return None, None

    def documented_secrets(self):
        """[(name pattern, keys)] of the Secrets made by hand: the table in
        k8s/README.md's "Secrets" section (names and keys in backquotes;
        `vrs-tls-<service>` stands for any name in place of <service>)."""
        if self._documented is None:
            self._documented = []
            readme = (self.repo / "k8s/README.md").read_text(encoding="utf-8")
            m = re.search(r"^## Secrets\n(.*?)(?=^## )", readme, flags=re.S | re.M)
            if not m:
                raise SystemExit("check_config: k8s/README.md has no \"## Secrets\" section; update check_config.py")
            for line in m.group(1).splitlines():
                cells = [x.strip() for x in line.strip().strip("|").split("|")]
                if len(cells) < 2 or not cells[0].startswith("`"):
                    continue
                keys = set(re.findall(r"`([^`]+)`", cells[1]))
                for name in re.findall(r"`([^`]+)`", cells[0]):
                    pattern = "".join("[a-z0-9-]+" if part.startswith("<") else re.escape(part) for part in re.split(r"(<[^>]+>)", name))
                    self._documented.append((re.compile(pattern), keys))
        return self._documented

    def check_secret_made(self, name, keys, ns, where):
        """A Secret is rendered (with those keys), written by a rendered
        CloudNativePG Cluster (one of the keys it writes), or made by hand and
        then listed, with those keys, in k8s/README.md's "Secrets" table."""
        if not name:
            return
        sec = self.find("Secret", name, ns)
        if sec is not None:
            have = set((sec.get("data") or {})) | set((sec.get("stringData") or {}))
            for key in keys:
                self.ok(key in have, where, f"Secret {name} has no key {key} (it has {sorted(have)})")
            return
        cluster, suffix = self.cnpg_secret(name, ns)
        if cluster is not None:
            for key in keys:
                self.ok(key in CNPG_SECRET_KEYS[suffix], where, f"CloudNativePG writes no key {key!r} in {name}")
            return
        documented = [k for pattern, k in self.documented_secrets() if pattern.fullmatch(name)]
        if not self.ok(bool(documented), where, f"Secret {name} is neither rendered nor written by a CloudNativePG Cluster of the set, and k8s/README.md's Secrets table does not say how to make it"):
            return
        for key in keys:
            self.ok(any(key in k for k in documented), where, f"Secret {name} key {key}: k8s/README.md's Secrets table lists only {sorted(set().union(*documented))} for it")

    def check_env(self, b: Binary, env, where):
        for name, (value, source) in env.items():
            self.checks += 1
            if name.startswith(b.prefix):
                try:
                    path, kind = b.lookup(name)
                except ValueError as e:
                    self.err(where, f"{name} ({source}) is no configuration key of {b.name}: {e}")
                    continue
                if SECRET_KEY.search(path[-1]) and not source.startswith("Secret "):
                    self.err(where, f"{name} ({source}) is a secret: take it from a Secret (env[].valueFrom.secretKeyRef), never from a ConfigMap or a value in the manifest, which whoever reads the Deployment or the ConfigMap reads too")
                if value is not None:
                    problem = check_value(kind, value)
                    if problem and not (value == "" and kind[0] == "string"):
                        self.err(where, f"{name}={value!r}: {problem}")
            elif re.match(r"^VRS_[A-Z0-9]+__", name):
                self.err(where, f"{name} ({source}) is read by another service, not by {b.name} (its variables start {b.prefix})")
            elif name.startswith("OTEL_"):
                if b.telemetry_name is None:
                    self.err(where, f"{name} ({source}): {b.name} does not initialise OpenTelemetry (no telemetry::init)")
                elif name not in OTEL_SDK_VARS | OTEL_CODE_VARS:
                    self.err(where, f"{name} ({source}) is no OpenTelemetry variable that {b.name} reads (not a standard one the SDK or the OTLP exporter reads, nor one {TELEMETRY_RS} reads); a typo?")
                elif value is not None:
                    problem = check_otel(name, value, self.otlp_tls)
                    if problem:
                        self.err(where, f"{name}={value!r}: {problem}")
            elif b.postgres and re.fullmatch(r"PG[A-Z0-9_]+", name):
                if name not in LIBPQ_VARS:
                    self.err(where, f"{name} ({source}) is a libpq variable that sqlx does not read (it reads {', '.join(sorted(LIBPQ_VARS))})")
                elif name == "PGSSLMODE" and value is not None:
                    if value not in LIBPQ_SSLMODES:
                        self.err(where, f"PGSSLMODE={value!r} is none of {', '.join(LIBPQ_SSLMODES)}: sqlx would fall back to prefer (no certificate checked), silently")
                    elif value in LIBPQ_TLS_MODES and not b.postgres_tls:
                        self.err(where, f"PGSSLMODE={value}: sqlx is built without TLS (no rustls or native-tls feature of sea-orm or sqlx in Cargo.toml); every connection would fail")
            elif name in b.plain:
                continue
            else:
                self.err(where, f"{name} ({source}) is read by nothing in {b.name} (its variables start {b.prefix}; other variables it reads: {', '.join(sorted(b.plain))})")

    def setting(self, b: Binary, env, path):
        var = b.prefix + "__".join(p.upper() for p in path)
        if var in env:
            return var, env[var][0]
        if b.name == "registration" and path == ("database", "url") and "DATABASE_URL" in env:
            return "DATABASE_URL", env["DATABASE_URL"][0]
        return None, None

    def check_required(self, b: Binary, env, where):
        for path in REQUIRED[b.name]:
            var, _ = self.setting(b, env, path)
            self.ok(var is not None, where, f"{b.prefix + '__'.join(p.upper() for p in path)} must be set (the default does not work in a pod)")
        if b.name == "registration":
            var, _ = self.setting(b, env, ("database", "url"))
            self.ok(var is not None, where, "DATABASE_URL must be set (the default is SQLite under var/)")

    def port_of(self, c, ref, where, what):
        """A probe's port (number or container port name) as a number."""
        if isinstance(ref, int):
            return ref
        for p in c.get("ports") or []:
            if p.get("name") == ref:
                return p.get("containerPort")
        self.err(where, f"{what} names port {ref!r}, which the container does not declare")
        return None

    def socket_setting(self, b: Binary, env, path, where, purpose):
        """(variable, port) of a socket address setting that must bind every interface."""
        var, value = self.setting(b, env, path)
        if var is None or value is None:
            return var, None
        try:
            ip, port = parse_socket(value)
        except ValueError as e:
            self.err(where, f"{var}: {e}")
            return var, None
        self.ok(ip.is_unspecified, where, f"{var}={value} binds {ip} only: {purpose} cannot reach it; use 0.0.0.0:{port}")
        return var, port

    def check_ports(self, b: Binary, c, env, where, tls: bool):
        """The service port and the probe port, the container's ports, the probes.
        Returns the service port."""
        var, port = self.socket_setting(b, env, b.listen, where, "other pods and the kubelet")
        if port is None:
            return None
        pvar, probe_port = self.socket_setting(b, env, b.probe_listen, where, "the kubelet (it probes the pod's IP)")
        pvar = pvar or b.prefix + "__".join(k.upper() for k in b.probe_listen)
        # "8081 (VRS_X__PROBE_LISTEN)", or what is missing (check_required reports it).
        pdesc = f"{probe_port} ({pvar})" if probe_port is not None else f"({pvar}, not set)"
        if probe_port is not None:
            self.ok(probe_port != port, where, f"{pvar} and {var} both use port {port}: the probe port is a second, plaintext listener")
        ports = c.get("ports") or []
        self.ok(len(ports) == 2, where, f"declares {len(ports)} container ports; {b.name} listens on exactly two: {port} ({var}) and the probe port {pdesc}")
        for p in ports:
            if p.get("name") == PROBE_PORT_NAME:
                self.ok(probe_port is None or p.get("containerPort") == probe_port, where, f"containerPort {p.get('containerPort')} ({PROBE_PORT_NAME}) is not the port {pvar} listens on ({probe_port})")
            else:
                self.ok(p.get("containerPort") == port, where, f"containerPort {p.get('containerPort')} ({p.get('name')}) is not the port {var} listens on ({port})")
            self.ok(p.get("protocol", "TCP") == "TCP", where, f"containerPort {p.get('containerPort')} is not TCP")
        self.ok(any(p.get("name") == PROBE_PORT_NAME for p in ports), where, f"declares no container port named {PROBE_PORT_NAME!r} for the probe port {pdesc}")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            spec = c.get(probe)
            if not self.ok(spec is not None, where, f"no {probe}"):
                continue
            handlers = [h for h in ("grpc", "tcpSocket", "httpGet", "exec") if h in (spec or {})]
            if not self.ok(handlers == ["grpc"], where, f"{probe} uses {', '.join(handlers) or 'nothing'}: use the kubelet's gRPC probe (grpc.health.v1) of the probe port {pdesc}"):
                continue
            got = self.port_of(c, spec["grpc"].get("port"), where, f"{probe}.grpc")
            if got == port:
                self.err(where, f"{probe}.grpc probes port {got}, the service port ({var})"
                         + (", which wants mutual TLS: the kubelet's gRPC client speaks plaintext only and every probe fails" if tls else "")
                         + f"; probe the plaintext probe port {pdesc}")
            elif probe_port is not None:
                self.ok(got == probe_port, where, f"{probe}.grpc probes port {got}, but {pvar} listens on {probe_port}")
            service = spec["grpc"].get("service") or ""
            if probe == "readinessProbe":
                self.ok(service in b.services, where,
                        f"readinessProbe asks service {service!r}"
                        + (" (the process: SERVING as long as it runs, whatever its database or beacon)" if not service else f", which {b.name} does not serve")
                        + f"; readiness must name a service: {', '.join(sorted(b.services))}")
            else:
                self.ok(service == "", where, f"{probe} asks service {service!r}; it must ask \"\" (leave `service` out): a named service is readiness (registration's is NOT_SERVING while the database or the beacon is away), and a failing {probe} restarts the container")
        return port

    def check_http_ports(self, b: Binary, c, env, where):
        """An HTTP server (HTTP_SERVERS): one container port, its listen
        address's, and the kubelet's httpGet probes of its health route on
        it. Returns the port."""
        var, port = self.socket_setting(b, env, b.listen, where, "the ingress controller and the kubelet")
        if port is None:
            return None
        pname, health = b.http["port name"], b.http["health"]
        ports = c.get("ports") or []
        self.ok(len(ports) == 1, where, f"declares {len(ports)} container ports; {b.name} listens on one: {port} ({var}), plain HTTP")
        for p in ports:
            self.ok(p.get("containerPort") == port, where, f"containerPort {p.get('containerPort')} ({p.get('name')}) is not the port {var} listens on ({port})")
            self.ok(p.get("protocol", "TCP") == "TCP", where, f"containerPort {p.get('containerPort')} is not TCP")
        self.ok(any(p.get("name") == pname for p in ports), where, f"declares no container port named {pname!r} for {port} ({var})")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            spec = c.get(probe)
            if spec is None:
                # It binds at once (no migration, no wait): no startup probe needed.
                self.ok(probe == "startupProbe", where, f"no {probe}")
                continue
            handlers = [h for h in ("grpc", "tcpSocket", "httpGet", "exec") if h in spec]
            if not self.ok(handlers == ["httpGet"], where, f"{probe} uses {', '.join(handlers) or 'nothing'}: {b.name} serves plain HTTP; probe it with httpGet of {health} on port {port} ({var})"):
                continue
            hg = spec["httpGet"]
            got = self.port_of(c, hg.get("port"), where, f"{probe}.httpGet")
            if got is not None:
                self.ok(got == port, where, f"{probe}.httpGet probes port {got}, but {var} listens on {port}")
            want = b.http.get("ready", health) if probe == "readinessProbe" else health
            self.ok(hg.get("path") == want, where, f"{probe}.httpGet asks {hg.get('path')!r}: {b.name} answers it at {want} (any other path is a page, or 404)")
            self.ok(hg.get("scheme", "HTTP") == "HTTP", where, f"{probe}.httpGet scheme {hg.get('scheme')}: {b.name} serves plain HTTP (TLS ends at the ingress controller)")
        return port

    def check_shutdown(self, b: Binary, spec, env, where):
        """Drain delay + grace fit in terminationGracePeriodSeconds, with a margin."""
        if b.name not in SHUTDOWN:
            return
        drain_path, grace_path, file, struct = SHUTDOWN[b.name]
        defaults = struct_int_defaults(self.repo / file, struct)
        values = {}
        for path in (drain_path, grace_path):
            var, value = self.setting(b, env, path)
            if var is not None and value is not None and re.fullmatch(r"[0-9]+", value.strip()):
                values[path] = (int(value), f"{var}={int(value)}")
            elif var is None:
                if path[-1] not in defaults:
                    raise SystemExit(f"check_config: no integer default for {path[-1]} in impl Default for {struct} ({file})")
                values[path] = (defaults[path[-1]], f"{b.prefix + '__'.join(k.upper() for k in path)}={defaults[path[-1]]} (the default)")
            else:
                return  # from a Secret, or not a number (reported by check_env)
        (drain, dvar), (grace, gvar) = values[drain_path], values[grace_path]
        self.ok(drain > 0, where, f"{dvar}: at SIGTERM the replica refuses connections at once, while its endpoint is still being removed; give it a few seconds")
        tgps = spec.get("terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_S)
        need = -(-(drain + grace) // 1000) + SHUTDOWN_MARGIN_S
        self.ok(tgps >= need, where, f"terminationGracePeriodSeconds {tgps} leaves no margin after {dvar} and {gvar}: the kubelet kills the process first; use at least {need}")

    def mounts(self, c, spec):
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        out = []
        for m in c.get("volumeMounts") or []:
            out.append((m["mountPath"].rstrip("/"), m, vols.get(m["name"])))
        return out

    def check_config_file(self, b: Binary, c, spec, command, where):
        """`--config FILE`: on a mounted volume, a Secret's when the file
        holds secrets (CONFIG_FILE_SECRET); required for the lists of tables
        that only a file can give (CONFIG_FILE_SETTINGS)."""
        args = command[1:]
        path = None
        for i, a in enumerate(args):
            if a == "--config" and i + 1 < len(args):
                path = args[i + 1]
            elif a.startswith("--config="):
                path = a.split("=", 1)[1]
        needs = CONFIG_FILE_SETTINGS.get(b.name, [])
        if needs:
            names = ", ".join(b.prefix + "__".join(k.upper() for k in p) for p in needs)
            if not self.ok(path is not None, where, f"no --config FILE: {b.name} takes {names} (a list of tables) from its configuration file alone (VRS_* variables cannot give one); without it the defaults stay"):
                return
        if path is None:
            return
        vol = self.file_volume(c, spec, "--config", path, where)
        if vol is not None and b.name in CONFIG_FILE_SECRET:
            self.ok("secret" in vol, where, f"--config {path} is on volume {vol.get('name')}, which is no Secret's: {b.name}'s configuration file holds secrets (its clients' secrets); mount it from a Secret")

    def check_files(self, b: Binary, c, spec, env, where):
        for name, (value, _source) in env.items():
            if not name.startswith(b.prefix) or not name.endswith("_FILE") or not value:
                continue
            self.file_volume(c, spec, name, value, where)

    def file_volume(self, c, spec, name, path, where):
        """The volume the file `name`=`path` lies on, or None (reported): an
        absolute path, on a mounted volume, among its items if it lists them."""
        if not self.ok(path.startswith("/"), where, f"{name}={path} is relative: the image's working directory is read-only"):
            return None
        best = None
        for mount_path, m, vol in self.mounts(c, spec):
            if (path + "/").startswith(mount_path + "/") and (best is None or len(mount_path) > len(best[0])):
                best = (mount_path, m, vol)
        if not self.ok(best is not None, where, f"{name}={path} is on no mounted volume"):
            return None
        mount_path, m, vol = best
        if not self.ok(vol is not None, where, f"volumeMount {m['name']} has no volume"):
            return None
        rel = path[len(mount_path) + 1 :]
        if not m.get("subPath"):
            for src in ("secret", "configMap"):
                if src in vol and vol[src].get("items"):
                    items = {i["path"] for i in vol[src]["items"]}
                    self.ok(rel in items, where, f"{name}={path}: the {src} volume {vol['name']} projects only {sorted(items)}")
        return vol

    @staticmethod
    def env_secret(c, var):
        """The Secret a container's variable comes from (env[].valueFrom.secretKeyRef), or None."""
        for e in c.get("env") or []:
            if e.get("name") == var and "secretKeyRef" in (e.get("valueFrom") or {}):
                return e["valueFrom"]["secretKeyRef"]["name"]
        return None

    def check_database_tls(self, production: str):
        """TLS to PostgreSQL (libpq's variables, which sqlx reads): a
        verifying mode has its CA on a volume, the CA of the CloudNativePG
        Cluster DATABASE_URL comes from (never with the CA's private key);
        production verifies the certificate and the host name."""
        for w, c, env, where in self.db_clients:
            ns = (w.get("metadata") or {}).get("namespace")
            if "PGSSLMODE" in env and env["PGSSLMODE"][0] is None:
                continue  # from a Secret: not ours to read
            mode = (env.get("PGSSLMODE") or ("",))[0]
            url_secret = self.env_secret(c, "DATABASE_URL")
            cluster, suffix = self.cnpg_secret(url_secret, ns) if url_secret else (None, None)
            cname = cluster["metadata"]["name"] if cluster is not None and suffix == "-app" else None
            clusters = sorted(str((x.get("metadata") or {}).get("name")) for x in self.of_kind("Cluster") if (x.get("metadata") or {}).get("namespace") == ns)
            if clusters and url_secret:
                self.ok(cname is not None, where, f"DATABASE_URL comes from Secret {url_secret}, which no CloudNativePG Cluster of the set writes ({', '.join(n + '-app' for n in clusters)}): a name left behind when the Cluster was renamed?")
            if production:
                self.ok(mode == "verify-full", where,
                        (f"PGSSLMODE={mode}" if mode else "PGSSLMODE is not set")
                        + f": in production ({production}) registration and its migration connect with PGSSLMODE=verify-full"
                        + " (prefer, sqlx's default, and require check no certificate, verify-ca no host name)")
            if mode not in LIBPQ_VERIFYING_MODES:
                continue
            root = env.get("PGSSLROOTCERT")
            if not self.ok(root is not None and root[0] != "", where, f"PGSSLMODE={mode} without PGSSLROOTCERT: sqlx checks the server's certificate against the public roots at most, which sign no CloudNativePG server certificate"):
                continue
            if root[0] is None:
                continue
            vol = self.file_volume(c, self.pod_spec(w), "PGSSLROOTCERT", root[0], where)
            if vol is None or cname is None:
                continue
            want = f"{cname}-ca"
            got = (vol.get("secret") or {}).get("secretName")
            place = f"Secret {got}" if got else f"volume {vol.get('name')}"
            if not self.ok(got == want, where, f"PGSSLROOTCERT={root[0]} is on {place}, not {want}: DATABASE_URL comes from {url_secret}, and the server certificate of CloudNativePG Cluster {cname} is signed by the CA in {want}"):
                continue
            items = {i["key"] for i in vol["secret"].get("items") or []}
            self.ok(bool(items) and "ca.key" not in items, where, f"volume {vol.get('name')} mounts {'ca.key of ' if items else 'all of '}{want}: the CA's private key, which could sign a certificate the database trusts; project ca.crt alone (items)")

    def check_portal(self, production: str):
        """The portal's status endpoint: http(s)://, https:// only with a TLS
        feature of reqwest; https:// in production."""
        var = "VRS_REGISTRATION__PORTAL__URL"
        for _w, b, env, where in self.portal_clients:
            if var in env and env[var][0] is None:
                continue  # from a Secret
            value = (env.get(var) or ("",))[0].strip()
            if value:
                m = re.fullmatch(r"(https?)://[^/\s:]+(?::\d+)?(?:/\S*)?", value)
                if not self.ok(m is not None, where, f"{var}={value!r} is not http(s)://host[:port][/path]"):
                    continue
                if m.group(1) == "https":
                    self.ok(b.reqwest_tls, where, f"{var}={value}: https:// needs a TLS feature of reqwest, which Cargo.toml does not enable (every delivery would fail)")
            if production:
                self.ok(value.startswith("https://"), where, f"{var}={value!r}: in production ({production}) the portal's status endpoint must be https:// (the events carry citizens' application states; empty leaves every one in the outbox)")

    def check_tls(self, b: Binary, c, env, where) -> bool:
        tls_vars = [b.prefix + "TLS__" + k for k in ("CA_FILE", "CERT_FILE", "KEY_FILE")]
        set_ = [v for v in tls_vars if env.get(v, ("", ""))[0]]
        if b.name in CA_ONLY:
            extra = [v for v in tls_vars[1:] if v in env and env[v][0] != ""]
            self.ok(not extra, where, f"{', '.join(extra)} set: {b.name} presents no certificate (registration's API asks its callers for none; it reads {tls_vars[0]} alone), and a private key is a secret it need not hold")
            return tls_vars[0] in set_
        self.ok(len(set_) in (0, 3), where, f"TLS is all or nothing: {', '.join(set_)} set, {', '.join(v for v in tls_vars if v not in set_)} not")
        return len(set_) > 0

    def check_ca_only(self, b: Binary, spec, c, where):
        """A CA_ONLY binary's pod holds no key: Secret volumes that project
        certificates alone (items), never a whole Secret (cert-manager's
        carry tls.key); one in NO_SECRETS holds no secret at all (no variable
        from a Secret either)."""
        for e in (c.get("env") or []) if b.name in NO_SECRETS else []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                self.err(where, f"{e['name']} comes from Secret {ref.get('name')}: {b.name} holds no secret but the CA certificate")
        for src in (c.get("envFrom") or []) if b.name in NO_SECRETS else []:
            if "secretRef" in src:
                self.err(where, f"envFrom Secret {src['secretRef'].get('name')}: {b.name} holds no secret but the CA certificate")
        for vol in spec.get("volumes") or []:
            sources = [vol["secret"]] if "secret" in vol else [s["secret"] for s in (vol.get("projected") or {}).get("sources") or [] if "secret" in s]
            for sec in sources:
                name = sec.get("secretName") or sec.get("name")
                items = [i.get("key", "") for i in sec.get("items") or []]
                if not self.ok(bool(items), where, f"volume {vol.get('name')} mounts all of Secret {name} (with cert-manager, tls.key too): {b.name} needs the CA certificate alone; project ca.crt (items)"):
                    continue
                for key in items:
                    self.ok(key.endswith((".crt", ".pem")) and "key" not in key, where, f"volume {vol.get('name')} projects {key} of Secret {name}: {b.name} holds no secret but the CA certificate")

    def check_urls(self, w, b: Binary, env, ns, where):
        """URL settings that lead into the cluster name a Service and one of
        its ports; those in DIALS are kept for check_dials."""
        beacon = (env.get("VRS_REGISTRATION__DRAW__BEACON") or ("local", ""))[0] or "local"
        dials = DIALS.get(b.name, {})
        browser = {b.prefix + "__".join(k.upper() for k in path) for path in BROWSER_URLS.get(b.name, [])}
        external = {b.prefix + "__".join(k.upper() for k in path) for path in EXTERNAL_DIALS.get(b.name, [])}
        for var, (value, _src) in env.items():
            if not var.startswith(b.prefix) or not var.endswith("_URL") or not value:
                continue
            if var.endswith("DATABASE__URL") or var.endswith("PORTAL__URL"):
                continue
            if var == "VRS_REGISTRATION__DRAW__BEACON_URL" and beacon != "local":
                continue
            if var in browser:
                continue  # where browsers reach this binary: check_web
            # An issuer URL may have a path (a provider's realm); the gRPC
            # addresses are scheme://host:port.
            pattern = r"(https?)://([^/:]+)(?::(\d+))?(/\S*)?" if var in external else r"(https?)://([^/:]+)(?::(\d+))?(/)?"
            m = re.fullmatch(pattern, value)
            if not self.ok(m is not None, where, f"{var}={value} is not scheme://host:port" + ("[/path]" if var in external else "")):
                continue
            host, port = m.group(2), int(m.group(3) or (443 if m.group(1) == "https" else 80))
            if not self.ok(host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0"), where, f"{var}={value}: {host} inside the pod is the pod itself, where nothing of the kind listens (kubectl port-forward reaches your machine's loopback, not the pod's); name a Service, or a host outside the cluster"):
                continue
            parts = host.split(".")
            if len(parts) > 1 and not (len(parts) >= 3 and parts[2] == "svc") and not (len(parts) == 2):
                # Outside the cluster.
                if var in external:
                    self.external_dials.append((w, b, var, value, m.group(1), port, where))
                continue
            svc_ns = parts[1] if len(parts) > 1 else ns
            svc = self.find("Service", parts[0], svc_ns)
            if not self.ok(svc is not None, where, f"{var}={value}: no Service {parts[0]} in namespace {svc_ns}"):
                continue
            sports = [p.get("port") for p in (svc.get("spec") or {}).get("ports") or []]
            if not self.ok(port in sports, where, f"{var}={value}: Service {parts[0]} has ports {sports}, not {port}"):
                continue
            target = dials.get(tuple(k.lower() for k in var[len(b.prefix):].split("__")))
            if target is not None:
                self.dials.append((w, b, var, value, svc, port, target, where))

    def check_hardening(self, spec, c, where):
        psc = spec.get("securityContext") or {}
        csc = c.get("securityContext") or {}
        self.ok(csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, where, "runAsNonRoot is not true")
        self.ok(csc.get("readOnlyRootFilesystem") is True, where, "readOnlyRootFilesystem is not true")
        self.ok(csc.get("allowPrivilegeEscalation") is False, where, "allowPrivilegeEscalation is not false")
        self.ok("ALL" in ((csc.get("capabilities") or {}).get("drop") or []), where, "capabilities.drop lacks ALL")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        self.ok(seccomp in ("RuntimeDefault", "Localhost"), where, "no RuntimeDefault seccomp profile")

    # ---- services and policies -----------------------------------------------------

    def check_services(self):
        for svc in self.of_kind("Service"):
            md = svc["metadata"]
            where = f"Service/{md['name']}"
            sel = (svc.get("spec") or {}).get("selector")
            if not sel:
                continue  # headless or external: not ours to check
            pods = self.selected({"matchLabels": sel}, md.get("namespace"))
            if not self.ok(bool(pods), where, f"selector {sel} matches no pod template"):
                continue
            for p in svc["spec"].get("ports") or []:
                target = p.get("targetPort", p.get("port"))
                for w in pods:
                    cports = [cp for c in self.pod_spec(w).get("containers") or [] for cp in c.get("ports") or []]
                    if isinstance(target, int):
                        hit = any(cp.get("containerPort") == target for cp in cports)
                    else:
                        hit = any(cp.get("name") == target for cp in cports)
                    self.ok(hit, where, f"port {p.get('port')}: targetPort {target!r} is no container port of {w['kind']}/{w['metadata']['name']} ({[(cp.get('name'), cp.get('containerPort')) for cp in cports]})")

    def check_policies(self):
        for pdb in self.of_kind("PodDisruptionBudget"):
            md = pdb["metadata"]
            pods = self.selected(pdb["spec"].get("selector"), md.get("namespace"))
            self.ok(bool(pods), f"PodDisruptionBudget/{md['name']}", "selects no pod template")
            for w in pods:
                replicas = (w.get("spec") or {}).get("replicas", 1)
                need = pdb["spec"].get("minAvailable")
                if isinstance(need, int):
                    self.ok(replicas > need, f"PodDisruptionBudget/{md['name']}", f"minAvailable {need} with {replicas} replicas of {w['metadata']['name']} blocks every eviction")
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            md = hpa["metadata"]
            ref = hpa["spec"]["scaleTargetRef"]
            target = self.find(ref["kind"], ref["name"], md.get("namespace"))
            self.ok(target is not None, f"HorizontalPodAutoscaler/{md['name']}", f"scales {ref['kind']}/{ref['name']}, which is not in the rendered set")
            if target is not None:
                for c in self.pod_spec(target).get("containers") or []:
                    self.ok(bool(((c.get("resources") or {}).get("requests") or {}).get("cpu")), f"HorizontalPodAutoscaler/{md['name']}", f"container {c['name']} has no CPU request to scale on")
        for np in self.of_kind("NetworkPolicy"):
            md = np["metadata"]
            where = f"NetworkPolicy/{md['name']}"
            sel = np["spec"].get("podSelector")
            if sel == {}:
                continue  # the whole namespace
            pods = self.selected(sel, md.get("namespace"))
            if not self.ok(bool(pods), where, f"podSelector {sel} matches no pod template"):
                continue
            for rule in np["spec"].get("ingress") or []:
                for p in rule.get("ports") or []:
                    port = p.get("port")
                    if port is None:
                        continue  # every port
                    for w in pods:
                        wports = [cp for c in self.pod_spec(w).get("containers") or [] for cp in c.get("ports") or []]
                        numbers = sorted(cp.get("containerPort") for cp in wports)
                        hit = port in numbers or port in {cp.get("name") for cp in wports}
                        self.ok(hit, where, f"allows port {port}, which {w['kind']}/{w['metadata']['name']} does not listen on ({numbers})")
                for peer in rule.get("from") or []:
                    if "podSelector" in peer and "namespaceSelector" not in peer and peer["podSelector"]:
                        self.ok(bool(self.selected(peer["podSelector"], md.get("namespace"))), where, f"from podSelector {peer['podSelector']} matches no pod template")
            # Egress to pods of the namespace: they exist and listen on the ports.
            for rule in np["spec"].get("egress") or []:
                for peer in rule.get("to") or []:
                    if "podSelector" not in peer or "namespaceSelector" in peer or not peer["podSelector"]:
                        continue
                    targets = self.selected(peer["podSelector"], md.get("namespace"))
                    if not self.ok(bool(targets), where, f"to podSelector {peer['podSelector']} matches no pod template"):
                        continue
                    for p in rule.get("ports") or []:
                        port = p.get("port")
                        if port is None or p.get("protocol", "TCP") != "TCP":
                            continue
                        for w in targets:
                            wports = [cp for c in self.pod_spec(w).get("containers") or [] for cp in c.get("ports") or []]
                            numbers = sorted(cp.get("containerPort") for cp in wports)
                            self.ok(port in numbers or port in {cp.get("name") for cp in wports}, where, f"lets traffic out to port {port} of {w['kind']}/{w['metadata']['name']}, which does not listen on it ({numbers})")

    @staticmethod
    def admits(rule, port: int, names: set, protocol: str = "TCP") -> bool:
        """Whether a NetworkPolicy rule lets `protocol` traffic to `port` (named `names`) through."""
        ports = rule.get("ports")
        if not ports:
            return True
        for p in ports:
            if p.get("protocol", "TCP") != protocol:
                continue
            pp = p.get("port")
            if pp is None:
                return True
            if isinstance(pp, int) and pp <= port <= (p.get("endPort") or pp):
                return True
            if isinstance(pp, str) and pp in names:
                return True
        return False

    def server_binaries(self, w) -> set:
        """The workspace's servers a workload runs (not the migration)."""
        out = set()
        for c in self.pod_spec(w).get("containers") or []:
            command = list(c.get("command") or []) + list(c.get("args") or [])
            if command and Path(command[0]).name in BINARIES and MIGRATE_ONLY_FLAG not in command[1:]:
                out.add(Path(command[0]).name)
        return out

    def check_isolation(self):
        """The service port of each server in CALLERS is isolated by a
        NetworkPolicy and reachable from its callers' pods only; whatever else
        is opened (the probe port) must not include it."""
        for w, b, port in self.servers:
            callers = CALLERS.get(b.name)
            if callers is None:
                continue
            md = w.get("metadata") or {}
            ns = md.get("namespace")
            where = f"{w['kind']}/{md.get('name')}"
            labels = self.pod_labels(w)
            names = {cp.get("name") for c in self.pod_spec(w).get("containers") or [] for cp in c.get("ports") or [] if cp.get("containerPort") == port}
            who = " and ".join(sorted(callers))
            policies = [
                np
                for np in self.of_kind("NetworkPolicy")
                if (np.get("metadata") or {}).get("namespace") == ns
                and (np["spec"].get("podSelector") == {} or self.selects(np["spec"].get("podSelector"), labels))
                and "Ingress" in (np["spec"].get("policyTypes") or ["Ingress"])
            ]
            if not self.ok(bool(policies), where, f"no NetworkPolicy isolates it: every pod may call its service port {port}; only {who} may"):
                continue
            for np in policies:
                npw = f"NetworkPolicy/{np['metadata']['name']}"
                for rule in np["spec"].get("ingress") or []:
                    if not self.admits(rule, port, names):
                        continue
                    what = f"port {port} of {where}, the {b.name} service port: only {who} may call it"
                    peers = rule.get("from") or []
                    if not self.ok(bool(peers), npw, f"lets every source reach {what} (a rule for the probe port must name that port alone)"):
                        continue
                    for peer in peers:
                        if set(peer) != {"podSelector"}:
                            self.err(npw, f"lets {peer} reach {what} (a podSelector alone may)")
                            continue
                        sel = peer["podSelector"]
                        pods = [x for x in self.workloads() + self.operator_pods() if (x.get("metadata") or {}).get("namespace") == ns and (sel == {} or self.selects(sel, self.pod_labels(x)))]
                        strangers = [f"{x['kind']}/{x['metadata']['name']}" for x in pods if not (self.server_binaries(x) & callers)]
                        self.ok(bool(pods) and not strangers, npw, f"lets {', '.join(strangers) or 'no pod'} ({sel}) reach {what}")

    # ---- reachability: URL settings, DNS, telemetry, the public site --------------

    def ns_labels(self, ns) -> dict:
        """A namespace's labels: the rendered Namespace's, and the name label
        every namespace carries."""
        ns_doc = next((d for d in self.of_kind("Namespace") if (d.get("metadata") or {}).get("name") == ns), None)
        labels = dict(((ns_doc or {}).get("metadata") or {}).get("labels") or {})
        labels["kubernetes.io/metadata.name"] = ns
        return labels

    @staticmethod
    def policy_types(np) -> list:
        spec = np.get("spec") or {}
        return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))

    def policies_of(self, w, direction) -> list:
        """The NetworkPolicies that select workload w's pods in `direction`."""
        ns = (w.get("metadata") or {}).get("namespace")
        labels = self.pod_labels(w)
        return [
            np for np in self.of_kind("NetworkPolicy")
            if (np.get("metadata") or {}).get("namespace") == ns
            and (np["spec"].get("podSelector") == {} or self.selects(np["spec"].get("podSelector"), labels))
            and direction in self.policy_types(np)
        ]

    def peer_matches(self, peer, policy_ns, w) -> bool:
        """Whether a NetworkPolicy peer (from/to entry) names workload w's pods."""
        if "ipBlock" in peer:
            return False  # pod addresses are not known here
        w_ns = (w.get("metadata") or {}).get("namespace")
        nsel, psel = peer.get("namespaceSelector"), peer.get("podSelector")
        ns_ok = w_ns == policy_ns if nsel is None else (nsel == {} or self.selects(nsel, self.ns_labels(w_ns)))
        pod_ok = psel is None or psel == {} or self.selects(psel, self.pod_labels(w))
        return ns_ok and pod_ok

    def reach(self, direction, subject, peer_w, port, names, protocol="TCP"):
        """(allowed, [policy names]): whether the policies selecting `subject`
        let traffic with `peer_w` through on `port` (Egress: subject to
        peer_w's port; Ingress: peer_w to subject's port). No policy: open."""
        pols = self.policies_of(subject, direction)
        ns = (subject.get("metadata") or {}).get("namespace")
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for np in pols:
            for rule in np["spec"].get(key) or []:
                if not self.admits(rule, port, names, protocol):
                    continue
                peers = rule.get(peers_key)
                if not peers or any(self.peer_matches(p, ns, peer_w) for p in peers):
                    return True, []
        return not pols, [np["metadata"]["name"] for np in pols]

    def check_dials(self):
        """Every URL setting in DIALS leads to the binary it must, on its
        service port, and the NetworkPolicies let the caller through."""
        for w, b, var, value, svc, sport, target, where in self.dials:
            smd = svc.get("metadata") or {}
            sel = (svc.get("spec") or {}).get("selector")
            if not sel:
                continue  # no selector: endpoints made elsewhere
            pods = self.selected({"matchLabels": sel}, smd.get("namespace"))
            strangers = [f"{x['kind']}/{x['metadata']['name']}" for x in pods if target not in self.server_binaries(x)]
            if not self.ok(bool(pods) and not strangers, where, f"{var}={value}: Service {smd.get('name')} leads to {', '.join(strangers) or 'no pod'}, not to {target}"):
                continue
            tp = next((p.get("targetPort", p.get("port")) for p in svc["spec"].get("ports") or [] if p.get("port") == sport), sport)
            for x in pods:
                cports = [cp for c in self.pod_spec(x).get("containers") or [] for cp in c.get("ports") or []]
                num = tp if isinstance(tp, int) else next((cp.get("containerPort") for cp in cports if cp.get("name") == tp), None)
                served = [port for sw, sb, port in self.servers if sw is x and sb.name == target]
                dst = f"{x['kind']}/{x['metadata']['name']}"
                if not self.ok(num is not None and num in served, where, f"{var}={value}: Service {smd.get('name')} port {sport} leads to port {num} of {dst}, not to its {target} service port {served}"):
                    continue
                names = {cp.get("name") for cp in cports if cp.get("containerPort") == num}
                src = f"{w['kind']}/{w['metadata']['name']}"
                ok, pols = self.reach("Egress", w, x, num, names)
                self.ok(ok, where, f"{var}={value}: NetworkPolicy {', '.join(pols)} (egress of {src}) lets it reach no port {num} of {dst}")
                ok, pols = self.reach("Ingress", x, w, num, names)
                self.ok(ok, where, f"{var}={value}: NetworkPolicy {', '.join(pols)} (ingress of {dst}) lets no traffic from {src} reach port {num}")

    def check_egress(self):
        """A workload under an egress policy can still resolve names (DNS),
        and reach the OpenTelemetry Collector it exports to."""
        for w in self.workloads():
            if not self.server_binaries(w):
                continue
            pols = self.policies_of(w, "Egress")
            if not pols:
                continue
            where = f"{w['kind']}/{w['metadata']['name']}"
            dns = any(
                self.admits(rule, 53, {"dns"}, "UDP")
                for np in pols for rule in np["spec"].get("egress") or []
            )
            self.ok(dns, where, f"NetworkPolicy {', '.join(np['metadata']['name'] for np in pols)} (egress) let it reach no DNS (UDP 53): it cannot resolve a Service name")
        for w, endpoint, where in self.otlp_clients:
            pols = self.policies_of(w, "Egress")
            m = re.fullmatch(r"https?://([^/:\s]+)(?::(\d+))?(/\S*)?", endpoint)
            if not pols or not m:
                continue  # open, or malformed (check_otel says so)
            host, port = m.group(1), int(m.group(2) or (443 if endpoint.startswith("https") else 80))
            if host in ("localhost", "127.0.0.1", "::1"):
                continue
            parts = host.split(".")
            policy_ns = (w.get("metadata") or {}).get("namespace")
            inside = len(parts) == 1 or len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc")
            target_ns = (parts[1] if len(parts) > 1 else policy_ns) if inside else None

            def peer_ok(peer):
                if "ipBlock" in peer:
                    return not inside
                if not inside:
                    return False
                nsel = peer.get("namespaceSelector")
                if nsel is None:
                    return target_ns == policy_ns
                return nsel == {} or self.selects(nsel, self.ns_labels(target_ns))

            ok = any(
                self.admits(rule, port, set()) and (not rule.get("to") or any(peer_ok(p) for p in rule["to"]))
                for np in pols for rule in np["spec"].get("egress") or []
            )
            self.ok(ok, where, f"exports to {endpoint}, but NetworkPolicy {', '.join(np['metadata']['name'] for np in pols)} (egress) let it reach no port {port} "
                    + (f"in namespace {target_ns}" if inside else "outside the cluster (ipBlock)") + ": its traces and metrics are dropped")

    def check_public(self):
        """The service port of a PUBLIC server is isolated and open only to
        pods of other, named namespaces (the ingress controller's)."""
        for w, b, port in self.servers:
            if b.name not in PUBLIC:
                continue
            md = w.get("metadata") or {}
            ns = md.get("namespace")
            where = f"{w['kind']}/{md.get('name')}"
            names = {cp.get("name") for c in self.pod_spec(w).get("containers") or [] for cp in c.get("ports") or [] if cp.get("containerPort") == port}
            policies = self.policies_of(w, "Ingress")
            if not self.ok(bool(policies), where, f"no NetworkPolicy isolates it: every pod may call its port {port}; only the ingress controller's namespace may"):
                continue
            what = f"port {port} of {where}, {b.name}'s, reached through the ingress controller alone: only the controller's namespace may (namespaceSelector)"
            for np in policies:
                npw = f"NetworkPolicy/{np['metadata']['name']}"
                for rule in np["spec"].get("ingress") or []:
                    if not self.admits(rule, port, names):
                        continue
                    peers = rule.get("from") or []
                    if not self.ok(bool(peers), npw, f"lets every source reach {what}"):
                        continue
                    for peer in peers:
                        if "ipBlock" in peer:
                            cidr = str(peer["ipBlock"].get("cidr", ""))
                            self.ok(not cidr.endswith("/0"), npw, f"lets {cidr} (everyone) reach {what}")
                            continue
                        nsel = peer.get("namespaceSelector")
                        if not self.ok(bool(nsel), npw, f"lets {peer} reach {what}"):
                            continue
                        self.ok(not self.selects(nsel, self.ns_labels(ns)), npw, f"lets namespace {ns}'s own pods ({nsel}) reach {what}")

    def check_ingresses(self, production: str):
        """Ingress backends are Services of the set and their ports; TLS
        Secrets are made somewhere; every host has TLS in production."""
        for ing in self.of_kind("Ingress"):
            md = ing.get("metadata") or {}
            ns = md.get("namespace")
            where = f"Ingress/{md.get('name')}"
            spec = ing.get("spec") or {}
            rules = spec.get("rules") or []
            backends = [p.get("backend") or {} for r in rules for p in ((r.get("http") or {}).get("paths") or [])]
            if spec.get("defaultBackend"):
                backends.append(spec["defaultBackend"])
            for be in backends:
                ref = be.get("service")
                if not self.ok(ref is not None, where, f"backend {be} is no Service"):
                    continue
                svc = self.find("Service", ref.get("name"), ns)
                if not self.ok(svc is not None, where, f"backend Service {ref.get('name')} is not in the rendered set (namespace {ns})"):
                    continue
                want = ref.get("port") or {}
                sports = (svc.get("spec") or {}).get("ports") or []
                hit = any((want.get("name") is not None and p.get("name") == want.get("name")) or (want.get("number") is not None and p.get("port") == want.get("number")) for p in sports)
                self.ok(hit, where, f"backend Service {ref.get('name')} port {want}: the Service has {[(p.get('name'), p.get('port')) for p in sports]}")
            covered = set()
            for t in spec.get("tls") or []:
                covered |= set(t.get("hosts") or [])
                if t.get("secretName"):
                    self.check_secret_made(t["secretName"], ["tls.crt", "tls.key"], ns, f"{where} tls")
            hosts = [r.get("host") for r in rules]
            if spec.get("tls"):
                uncovered = [h for h in hosts if h not in covered]
                self.ok(not uncovered, where, f"hosts {uncovered} have no spec.tls entry while others have: the controller serves them with its default certificate")
            if production:
                self.ok(bool(spec.get("tls")) and all(h in covered for h in hosts), where, f"in production ({production}) the site is served over HTTPS: every rule needs a host and a spec.tls entry for it with the certificate's Secret")

    # ---- web applications: hosts, browser URLs, affinity, OpenID Connect ------------

    def service_apps(self, svc) -> set:
        """The web applications (WEB_APPS) a Service's pods run."""
        md = svc.get("metadata") or {}
        sel = (svc.get("spec") or {}).get("selector")
        if not sel:
            return set()
        out = set()
        for x in self.selected({"matchLabels": sel}, md.get("namespace")):
            out |= self.server_binaries(x) & WEB_APPS
        return out

    def ingress_backends(self, ing):
        """[(host or None, Service document)] of an Ingress's rules and default backend."""
        ns = (ing.get("metadata") or {}).get("namespace")
        spec = ing.get("spec") or {}
        out = []
        for r in spec.get("rules") or []:
            for p in (r.get("http") or {}).get("paths") or []:
                name = ((p.get("backend") or {}).get("service") or {}).get("name")
                svc = self.find("Service", name, ns) if name else None
                if svc is not None:
                    out.append((r.get("host"), svc))
        name = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
        svc = self.find("Service", name, ns) if name else None
        if svc is not None:
            out.append((None, svc))
        return out

    def app_hosts(self) -> dict:
        """{host: {web application: {Ingress names}}} over every Ingress of the set."""
        hosts: dict = {}
        for ing in self.of_kind("Ingress"):
            iname = (ing.get("metadata") or {}).get("name")
            for host, svc in self.ingress_backends(ing):
                for app in self.service_apps(svc):
                    hosts.setdefault(host, {}).setdefault(app, set()).add(iname)
        return hosts

    def check_web(self, production: str):
        """Each web application on its own Ingress and host (the public site
        apart from the console); the URLs browsers are sent to are Ingress
        hosts of that application (https:// in production); the console's
        in-memory sessions have affinity on the Service and the Ingress."""
        for ing in self.of_kind("Ingress"):
            md = ing.get("metadata") or {}
            where = f"Ingress/{md.get('name')}"
            apps = set()
            for host, svc in self.ingress_backends(ing):
                here = self.service_apps(svc)
                apps |= here
                for app in sorted(here):
                    self.ok(bool(host), where, f"a rule (or default backend) without host leads to {app}: it answers on every host the controller serves, the other applications' included; give it a host of its own")
            self.ok(len(apps) <= 1, where, f"leads to {' and '.join(sorted(apps))}: each web application is exposed by an Ingress of its own, on a host of its own")
            ann = md.get("annotations") or {}
            for key in ("nginx.ingress.kubernetes.io/whitelist-source-range", "nginx.ingress.kubernetes.io/allowlist-source-range"):
                if key not in ann:
                    continue
                for item in filter(None, (i.strip() for i in str(ann[key]).split(","))):
                    try:
                        net = ipaddress.ip_network(item, strict=False)
                    except ValueError:
                        self.err(where, f"{key}: {item!r} is no CIDR (ingress-nginx ignores the whole annotation then, and admits everyone)")
                        continue
                    self.ok(net.prefixlen > 0, where, f"{key}: {item} admits everyone; name the police network's ranges")
        hosts = self.app_hosts()
        for host, apps in sorted(hosts.items(), key=lambda kv: str(kv[0])):
            if host is None or len(apps) <= 1:
                continue
            shown = " and ".join(f"{app} (Ingress/{', Ingress/'.join(sorted(names))})" for app, names in sorted(apps.items()))
            self.err(f"host {host}", f"leads to {shown}: the public site and the clerks' console are exposed separately, each on a host of its own (no path of one reachable on the other's host)")

        for w, b, env, where in self.apps:
            for path in BROWSER_URLS.get(b.name, []):
                var, value = self.setting(b, env, path)
                if var is None or value is None:
                    continue  # unset (check_required) or from a Secret
                m = re.fullmatch(r"(https?)://([^/:\s]+)(?::(\d+))?(/\S*)?", value.strip())
                if not self.ok(m is not None, where, f"{var}={value!r} is not http(s)://host[:port][/path]"):
                    continue
                scheme, host = m.group(1), m.group(2)
                if production:
                    self.ok(scheme == "https", where, f"{var}={value}: in production ({production}) browsers reach {b.name} over https:// (its cookies are Secure; passwords, codes and sessions travel)")
                if host in ("localhost", "127.0.0.1", "::1"):
                    continue  # kubectl port-forward
                mine = sorted(str(h) for h, apps in hosts.items() if h and b.name in apps)
                self.ok(host in mine, where, f"{var}={value}: no Ingress leads host {host} to {b.name} (its Ingress hosts: {', '.join(mine) or 'none'}); browsers sent there (the sign-in's redirects) reach something else, or nothing")

        for w, b, env, where in self.apps:
            if b.name not in STICKY:
                continue
            ns = (w.get("metadata") or {}).get("namespace")
            labels = self.pod_labels(w)
            for svc in self.of_kind("Service"):
                smd = svc.get("metadata") or {}
                sel = (svc.get("spec") or {}).get("selector")
                if smd.get("namespace") != ns or not sel or not self.selects({"matchLabels": sel}, labels):
                    continue
                affinity = (svc.get("spec") or {}).get("sessionAffinity") or "None"
                self.ok(affinity == "ClientIP", f"Service/{smd.get('name')}", f"sessionAffinity {affinity}: {b.name} keeps sessions in the replica's memory, so a client moved to another replica must sign in again; use sessionAffinity: ClientIP")
                for ing in self.of_kind("Ingress"):
                    if not any(s is svc for _h, s in self.ingress_backends(ing)):
                        continue
                    imd = ing.get("metadata") or {}
                    iwhere = f"Ingress/{imd.get('name')}"
                    if (ing.get("spec") or {}).get("ingressClassName", "nginx") != "nginx":
                        continue  # another controller: its own affinity settings
                    ann = imd.get("annotations") or {}
                    self.ok(ann.get("nginx.ingress.kubernetes.io/affinity") == "cookie", iwhere, f"no cookie affinity (nginx.ingress.kubernetes.io/affinity: cookie) for {b.name}, which keeps sessions in the replica's memory: ingress-nginx balances over the endpoints itself, not through the Service, whose ClientIP affinity does not apply there")
                    self.ok(bool(ann.get("nginx.ingress.kubernetes.io/session-cookie-name")), iwhere, f"cookie affinity without nginx.ingress.kubernetes.io/session-cookie-name: name the route cookie (the default, INGRESSCOOKIE, says nothing of whose it is)")
                    samesite = str(ann.get("nginx.ingress.kubernetes.io/session-cookie-samesite", "")).lower()
                    self.ok(samesite != "strict", iwhere, "session-cookie-samesite Strict: the return from the identity provider (a navigation from another site) comes without the route cookie, may land on another replica, and the sign-in under way is not there; use Lax")

    def check_oidc(self, production: str):
        """The stand-in not in production; its issuer URL the one the console
        dials, its access tokens' issuer the one registration accepts; the
        console's provider over https:// in production."""
        pname, issuer_path, ati_path = OIDC_PROVIDER
        providers = [a for a in self.apps if a[1].name == pname]
        for w, b, env, where in self.apps:
            reason = DEV_ONLY.get(b.name)
            if reason and production:
                self.err(where, f"{b.name} in production ({production}): {reason}")
        for w, b, env, where in providers:
            ns = (w.get("metadata") or {}).get("namespace")
            var, ati = self.setting(b, env, ati_path)
            if ati is None:
                continue
            for rw, rb, renv, _rwhere in self.apps:
                if rb.name != TOKEN_AUDIENCE[0] or (rw.get("metadata") or {}).get("namespace") != ns:
                    continue
                rvar, iss = self.setting(rb, renv, TOKEN_AUDIENCE[1])
                if iss is None:
                    continue
                self.ok(ati == iss, where, f"{var}={ati!r}, but registration ({rw['kind']}/{rw['metadata']['name']}) accepts tokens of issuer {iss!r} ({rvar}): it would refuse every call made with this provider's tokens")
        for w, b, env, where in self.apps:
            path = OIDC_CLIENTS.get(b.name)
            if path is None:
                continue
            var, value = self.setting(b, env, path)
            if value is None:
                continue
            if production:
                self.ok(value.startswith("https://"), where, f"{var}={value}: in production ({production}) the identity provider is reached over https:// (the client secret, the codes and the clerks' tokens travel to and from it)")
            ns = (w.get("metadata") or {}).get("namespace")
            mine = [(pw, self.setting(pb, penv, issuer_path)) for pw, pb, penv, _ in providers if (pw.get("metadata") or {}).get("namespace") == ns]
            issuers = sorted({v.rstrip("/") for _pw, (_v, v) in mine if v})
            if issuers:
                pvar = mine[0][1][0]
                self.ok(value.rstrip("/") in issuers, where, f"{var}={value}, but the identity provider of the set names itself {', '.join(issuers)} ({pvar}): the console compares the discovery document's issuer with its own setting exactly, and fetches every endpoint under it")

    def check_external(self):
        """URL settings that lead outside the cluster (EXTERNAL_DIALS): the
        caller's egress policies let it out on that port."""
        for w, b, var, value, _scheme, port, where in self.external_dials:
            pols = self.policies_of(w, "Egress")
            if not pols:
                continue
            ok = any(
                self.admits(rule, port, set()) and (not rule.get("to") or any("ipBlock" in peer for peer in rule["to"]))
                for np in pols for rule in np["spec"].get("egress") or []
            )
            self.ok(ok, where, f"{var}={value}: NetworkPolicy {', '.join(np['metadata']['name'] for np in pols)} (egress of {w['kind']}/{w['metadata']['name']}) lets it reach no port {port} outside the cluster (an ipBlock rule): {b.name} cannot reach it")

    # ---- custom resources ---------------------------------------------------------

    def check_crds(self):
        builtin = re.compile(r"^(v1|(apps|batch|policy|autoscaling|networking\.k8s\.io|rbac\.authorization\.k8s\.io)/v\d+\w*)$")
        for d in self.docs:
            api, kind = d.get("apiVersion", ""), d.get("kind", "")
            if builtin.match(api):
                continue
            where = f"{kind}/{(d.get('metadata') or {}).get('name')}"
            if not self.ok((api, kind) in KNOWN_CRDS, where, f"{api} {kind}: a custom resource check_config.py does not know; add a check for it"):
                continue
            if kind == "Cluster":
                self.check_cluster(d, where)
            elif kind == "ScheduledBackup":
                self.check_scheduled_backup(d, where)
        # WAL alone restores nothing: recovery starts from a base backup.
        for cl in self.of_kind("Cluster"):
            md = cl.get("metadata") or {}
            if not ((cl.get("spec") or {}).get("backup") or {}).get("barmanObjectStore"):
                continue
            scheduled = [
                sb for sb in self.of_kind("ScheduledBackup")
                if (sb.get("metadata") or {}).get("namespace") == md.get("namespace")
                and ((sb.get("spec") or {}).get("cluster") or {}).get("name") == md.get("name")
                and not (sb.get("spec") or {}).get("suspend")
            ]
            self.ok(bool(scheduled), f"Cluster/{md.get('name')}", "archives WAL but no (unsuspended) ScheduledBackup names it: no base backup is ever taken, and every restore starts from one")

    def check_cluster(self, d, where):
        """A CloudNativePG Cluster: shape, bootstrap, synchronous replication, WAL archive."""
        md = d.get("metadata") or {}
        ns = md.get("namespace")
        spec = d.get("spec") or {}
        inst = spec.get("instances")
        self.ok(isinstance(inst, int) and inst >= 1, where, "spec.instances must be a positive integer")
        self.ok(isinstance((spec.get("storage") or {}).get("size"), str), where, "spec.storage.size must be set (e.g. 20Gi)")
        known = {"instances", "imageName", "primaryUpdateStrategy", "bootstrap", "postgresql", "storage", "walStorage", "resources", "affinity", "monitoring", "backup", "managed", "enableSuperuserAccess", "superuserSecret", "description", "minSyncReplicas", "maxSyncReplicas", "primaryUpdateMethod", "startDelay", "stopDelay", "switchoverDelay", "topologySpreadConstraints", "certificates", "inheritedMetadata", "env", "envFrom", "plugins", "projectedVolumeTemplate", "replica", "externalClusters", "imageCatalogRef", "logLevel", "nodeMaintenanceWindow", "priorityClassName", "serviceAccountTemplate", "smartShutdownTimeout", "tablespaces", "enablePDB", "failoverDelay", "ephemeralVolumeSource", "ephemeralVolumesSizeLimit", "seccompProfile", "podSecurityContext", "securityContext", "imagePullPolicy", "imagePullSecrets", "livenessProbeTimeout", "probes", "postgresGID", "postgresUID", "maxStartDelay", "maxStopDelay"}
        for k in spec:
            self.ok(k in known, where, f"spec.{k} is no field of a CloudNativePG Cluster")

        # Bootstrap: a new database (initdb), or a copy of another cluster
        # (recovery from its object store, pg_basebackup from it running).
        bootstrap = spec.get("bootstrap") or {}
        methods = [m for m in ("initdb", "recovery", "pg_basebackup") if m in bootstrap]
        self.ok(len(methods) <= 1, where, f"spec.bootstrap has {', '.join(methods)}: one method only")
        method = methods[0] if methods else "initdb"
        boot = bootstrap.get(method) or {}
        self.ok(isinstance(boot.get("database"), str) and isinstance(boot.get("owner"), str), where, f"spec.bootstrap.{method}.database and .owner must be set: the app Secret is written for them")
        externals = {e.get("name"): e for e in spec.get("externalClusters") or []}
        for name, ext in externals.items():
            if "barmanObjectStore" in ext:
                self.check_object_store(ext["barmanObjectStore"], ns, f"{where} spec.externalClusters[{name}].barmanObjectStore")
        if method in ("recovery", "pg_basebackup") and not (method == "recovery" and "backup" in boot):
            source = boot.get("source")
            if self.ok(source in externals, where, f"spec.bootstrap.{method}.source {source!r} names no spec.externalClusters entry ({', '.join(sorted(map(str, externals))) or 'none'})"):
                if method == "recovery":
                    self.check_recovery(spec, md.get("name"), boot, source, externals[source], where)

        pg = spec.get("postgresql") or {}
        params = pg.get("parameters") or {}
        for k, v in params.items():
            self.ok(isinstance(v, str), where, f"spec.postgresql.parameters.{k} must be a string (CloudNativePG rejects {v!r})")
        timeout = params.get("archive_timeout")
        if isinstance(timeout, str):
            m = re.fullmatch(r"\s*(\d+)\s*(us|ms|s|min|h|d)?\s*", timeout)
            if self.ok(m is not None, where, f"spec.postgresql.parameters.archive_timeout {timeout!r} is not a PostgreSQL time (e.g. 5min)"):
                self.ok(int(m.group(1)) > 0, where, "spec.postgresql.parameters.archive_timeout 0 never closes a WAL segment for time: an idle database's last writes stay unarchived indefinitely")

        # Synchronous replication (the current API; the legacy
        # minSyncReplicas/maxSyncReplicas may not be combined with it).
        sync = pg.get("synchronous")
        if sync is not None:
            sw = f"{where} spec.postgresql.synchronous"
            for k in sync:
                self.ok(k in CNPG_SYNCHRONOUS_FIELDS, sw, f"{k} is no field of it")
            self.ok(sync.get("method") in ("any", "first"), sw, f"method {sync.get('method')!r} is none of any, first")
            number = sync.get("number")
            if self.ok(isinstance(number, int) and not isinstance(number, bool) and number >= 1, sw, f"number {number!r} must be a positive integer"):
                if isinstance(inst, int):
                    self.ok(number <= inst - 1, sw, f"number {number} needs {number} standbys; {inst} instances have {inst - 1}")
            self.ok(sync.get("dataDurability", "required") in ("required", "preferred"), sw, f"dataDurability {sync.get('dataDurability')!r} is none of required, preferred")
            self.ok(not (spec.get("minSyncReplicas") or spec.get("maxSyncReplicas")), sw, "combined with spec.minSyncReplicas/maxSyncReplicas (the legacy form): the operator refuses both at once")

        # The WAL archive: without one, a cluster whose instances are all lost
        # is lost for good.
        backup = spec.get("backup") or {}
        plugin_archiver = any((p or {}).get("isWALArchiver") for p in spec.get("plugins") or [])
        self.ok("barmanObjectStore" in backup or plugin_archiver, where, "no WAL archive (spec.backup.barmanObjectStore, or a plugin with isWALArchiver): a cluster whose instances are all lost cannot be restored")
        for k in backup:
            self.ok(k in CNPG_BACKUP_FIELDS, where, f"spec.backup.{k} is no field of a CloudNativePG Cluster's backup")
        if "retentionPolicy" in backup:
            rp = backup["retentionPolicy"]
            self.ok(isinstance(rp, str) and re.fullmatch(r"[1-9][0-9]*[dwm]", rp) is not None, where, f"spec.backup.retentionPolicy {rp!r} is not <n>d, <n>w or <n>m (e.g. \"30d\")")
        if "target" in backup:
            self.ok(backup["target"] in ("primary", "prefer-standby"), where, f"spec.backup.target {backup['target']!r} is none of primary, prefer-standby")
        if "barmanObjectStore" in backup:
            self.check_object_store(backup["barmanObjectStore"], ns, f"{where} spec.backup.barmanObjectStore")

    def check_recovery(self, spec, name, boot, source, ext, where):
        """bootstrap.recovery from an object store: never archive over the
        source, and a target time with its zone."""
        self.ok("barmanObjectStore" in ext or "plugin" in ext, where, f"spec.externalClusters[{source}] has no barmanObjectStore (or plugin) to recover from")
        src = ext.get("barmanObjectStore")
        own = (spec.get("backup") or {}).get("barmanObjectStore")
        if src and own:
            src_folder = (str(src.get("destinationPath", "")).rstrip("/"), src.get("serverName") or source)
            own_folder = (str(own.get("destinationPath", "")).rstrip("/"), own.get("serverName") or name)
            self.ok(src_folder != own_folder, where, f"spec.backup.barmanObjectStore archives into {'/'.join(own_folder)}, the archive it recovers from (spec.externalClusters[{source}]): CloudNativePG refuses a non-empty archive, and the source's backups are what a later restore needs; give this Cluster its own name or serverName")
        target = (boot.get("recoveryTarget") or {}).get("targetTime")
        if target is not None:
            self.ok(re.fullmatch(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d(:?\d\d)?)", str(target)) is not None, where,
                    f"spec.bootstrap.recovery.recoveryTarget.targetTime {target!r} is not a timestamp with its time zone (\"2026-03-01 09:30:00+07\", or ...Z)")

    def check_object_store(self, store, ns, where):
        """A Barman Cloud object store: destination, credentials (their Secrets), compression."""
        for k in store:
            self.ok(k in CNPG_OBJECT_STORE_FIELDS, where, f"{k} is no field of a Barman Cloud object store")
        dest = store.get("destinationPath")
        m = re.fullmatch(r"([a-z0-9]+)://[^/\s]+(/\S*)?", dest) if isinstance(dest, str) else None
        if self.ok(m is not None and m.group(1) in CNPG_STORE_CREDENTIALS, where, f"destinationPath {dest!r} is not s3://, gs:// or https:// (Azure) <bucket>/<path>"):
            want = CNPG_STORE_CREDENTIALS[m.group(1)]
            have = [c for c in ("s3Credentials", "googleCredentials", "azureCredentials") if c in store]
            self.ok(have == [want], where, f"destinationPath {dest} takes {want}, not {', '.join(have) or 'none'}")
        s3 = store.get("s3Credentials")
        if s3 is not None and not (s3 or {}).get("inheritFromIAMRole"):
            for field in ("accessKeyId", "secretAccessKey"):
                ref = (s3 or {}).get(field)
                self.ok(isinstance(ref, dict) and bool(ref.get("name")) and bool(ref.get("key")), where, f"s3Credentials.{field} must name a Secret and its key (or set inheritFromIAMRole)")
        for stanza in ("s3Credentials", "googleCredentials", "azureCredentials"):
            for field, ref in ((store.get(stanza) or {})).items():
                if isinstance(ref, dict) and ref.get("name") and ref.get("key"):
                    self.check_secret_made(ref["name"], [ref["key"]], ns, f"{where} {stanza}.{field}")
        ca = store.get("endpointCA")
        if isinstance(ca, dict) and ca.get("name") and ca.get("key"):
            self.check_secret_made(ca["name"], [ca["key"]], ns, f"{where} endpointCA")
        url = store.get("endpointURL")
        if url is not None:
            self.ok(isinstance(url, str) and re.fullmatch(r"https?://[^/\s]+(/\S*)?", url) is not None, where, f"endpointURL {url!r} is not http(s)://host[:port]")
        for part, allowed in (("wal", CNPG_WAL_COMPRESSION), ("data", CNPG_DATA_COMPRESSION)):
            comp = (store.get(part) or {}).get("compression")
            if comp is not None:
                self.ok(comp in allowed, where, f"{part}.compression {comp!r} is none of {', '.join(allowed)}")

    def check_scheduled_backup(self, d, where):
        """A CloudNativePG ScheduledBackup: of a Cluster of the set that can
        take it, on CloudNativePG's six-field schedule."""
        md = d.get("metadata") or {}
        ns = md.get("namespace")
        spec = d.get("spec") or {}
        for k in spec:
            self.ok(k in CNPG_SCHEDULED_BACKUP_FIELDS, where, f"spec.{k} is no field of a CloudNativePG ScheduledBackup")
        method = spec.get("method", "barmanObjectStore")
        self.ok(method in ("barmanObjectStore", "volumeSnapshot", "plugin"), where, f"spec.method {method!r} is none of barmanObjectStore, volumeSnapshot, plugin")
        name = (spec.get("cluster") or {}).get("name")
        cluster = self.find("Cluster", name, ns) if name else None
        clusters = sorted(str((c.get("metadata") or {}).get("name")) for c in self.of_kind("Cluster") if (c.get("metadata") or {}).get("namespace") == ns)
        if self.ok(cluster is not None, where, f"spec.cluster.name {name!r} names no CloudNativePG Cluster in namespace {ns} ({', '.join(clusters) or 'none'}): no backup is ever taken"):
            backup = (cluster.get("spec") or {}).get("backup") or {}
            if method in ("barmanObjectStore", "volumeSnapshot"):
                self.ok(method in backup, where, f"method {method}, but Cluster {name} has no spec.backup.{method}: every backup fails")
        schedule = spec.get("schedule")
        fields = schedule.split() if isinstance(schedule, str) else []
        self.ok(len(fields) == 6 or (1 <= len(fields) <= 2 and fields[0].startswith("@")), where,
                f"spec.schedule {schedule!r} has {len(fields)} fields: CloudNativePG's cron takes six, seconds first (\"0 0 2 * * *\" is 02:00:00 every day); a crontab's five are read one place off")
        self.ok(spec.get("backupOwnerReference", "none") in ("none", "self", "cluster"), where, f"spec.backupOwnerReference {spec.get('backupOwnerReference')!r} is none of none, self, cluster")
        if "target" in spec:
            self.ok(spec["target"] in ("primary", "prefer-standby"), where, f"spec.target {spec['target']!r} is none of primary, prefer-standby")
        for flag in ("immediate", "suspend", "online"):
            if flag in spec:
                self.ok(isinstance(spec[flag], bool), where, f"spec.{flag} {spec[flag]!r} is not true or false")

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()
    failed = False
    for f in args.files:
        try:
            docs = load_yaml_stream(f.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            print(f"FAIL {f}: cannot read: {e}")
            failed = True
            continue
        checker = Checker(args.repo.resolve(), docs, str(f))
        errors = checker.run()
        if errors:
            failed = True
            print(f"FAIL {f}: {len(errors)} problem(s) in {checker.checks} checks")
            for e in errors:
                print(f"  - {e}")
        else:
            print(f"ok   {f}: {checker.checks} checks on {len(checker.docs)} resources")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
