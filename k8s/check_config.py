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
  no https:// without a TLS feature of opentelemetry-otlp);
- the listen address and the probe address (the plaintext health port) are
  set and bind all interfaces; the container declares exactly these two ports,
  the probe address's as `probe`;
- the startup, liveness and readiness probes are the kubelet's native gRPC
  probes of the probe port, never of the service port (mutual TLS there, and
  the kubelet's gRPC client speaks plaintext only); startup and liveness ask
  service "" (the process), readiness one of the gRPC services the binary
  serves (read from proto/ and the crate's `...Server::new` calls);
- registration's drain delay and shutdown grace (or their defaults, read from
  the source) fit in terminationGracePeriodSeconds with a margin, and the drain
  delay is not zero;
- key, certificate and CA files lie on a mounted volume (the root file system
  is read-only), in the Secret's items when it lists them; the TLS triple is
  all-or-nothing and the same on every service;
- agency and beacon URLs name a Service and one of its ports;
- the pod is hardened (non-root, read-only root, no privilege escalation,
  every capability dropped, RuntimeDefault seccomp).

And for the whole set: every Service selects pods and its targetPorts are
their container ports; PodDisruptionBudgets, HPAs and NetworkPolicies select
existing pods, NetworkPolicy ports are container ports of every pod they
protect; the service ports of the agencies and the beacon are isolated by a
NetworkPolicy and open to registration's pods only (their probe ports may be
open to all); workloads that export telemetry do so under distinct service
names; referenced ConfigMaps exist; CloudNativePG Clusters (no schema in
kubernetes-validate) get a structural check and their `<name>-app` Secret
references a known key.
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
        if re.match(r"^(?:std::vec::)?Vec<.+>$", ty):
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
# that loads the configuration with that prefix) must occur in `loader`.
BINARIES = {
    "registration": ("services/registration", "src/config.rs", r'config::load\(\s*"registration"', "services/registration/src/config.rs", "Config"),
    "identity": ("services/identity", "src/main.rs", r'agency::run\(\s*"identity"', "services/kit/src/agency.rs", "AgencyConfig"),
    "tax": ("services/tax", "src/main.rs", r'agency::run\(\s*"tax"', "services/kit/src/agency.rs", "AgencyConfig"),
    "customs": ("services/customs", "src/main.rs", r'agency::run\(\s*"customs"', "services/kit/src/agency.rs", "AgencyConfig"),
    "register": ("services/register", "src/main.rs", r'agency::run\(\s*"register"', "services/kit/src/agency.rs", "AgencyConfig"),
    "beacon": ("services/beacon", "src/main.rs", r'config::load\(\s*"beacon"', "services/beacon/src/lib.rs", "Config"),
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
}
# The plaintext port serving gRPC health alone (services/kit/src/grpc.rs,
# with_probe_port), for the kubelet's probes: its config key (one per binary)
# and the name its container port must have.
PROBE_KEY = "probe_listen"
PROBE_PORT_NAME = "probe"

# Who may call each server's service port (NetworkPolicies). Not listed: open
# to the cluster (registration's API). Probe ports may be open to anyone.
CALLERS = {name: {"registration"} for name in ("identity", "tax", "customs", "register", "beacon")}

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


class Binary:
    def __init__(self, repo: Path, schema: Schema, name: str):
        crate, loader, marker, root_file, root = BINARIES[name]
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
        self.prefix = f"VRS_{name.upper()}__"
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
        self.listen = self._find_socket("listen")
        self.probe_listen = self._find_socket(PROBE_KEY)
        self.services = self._find_services(repo, schema, crate)
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
KNOWN_CRDS = {("postgresql.cnpg.io/v1", "Cluster")}


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
        for service_name, workloads in sorted(self.telemetry_names.items()):
            self.ok(
                len(workloads) == 1,
                "OpenTelemetry",
                f"{' and '.join(workloads)} export as service.name {service_name!r}: their traces and metrics mix; give each its own OTEL_SERVICE_NAME",
            )
        self.check_services()
        self.check_policies()
        self.check_isolation()
        return self.errors

    # ---- workloads ----------------------------------------------------------------

    def check_workload(self, w, tls_state):
        md = w.get("metadata") or {}
        ns = md.get("namespace")
        spec = self.pod_spec(w)
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
            if b.telemetry_name is not None and otel_exports(env):
                name = (env.get("OTEL_SERVICE_NAME") or (None,))[0] or b.telemetry_name
                self.telemetry_names.setdefault(name, []).append(f"{w['kind']}/{md.get('name')}")
            if migrate_only:
                self.ok("DATABASE_URL" in env or "VRS_REGISTRATION__DATABASE__URL" in env, where, "the migration needs DATABASE_URL")
                continue
            self.check_required(b, env, where)
            tls = self.check_tls(b, c, env, where)
            tls_state[f"{md.get('name')}"] = tls
            port = self.check_ports(b, c, env, where, tls)
            if port is not None:
                self.servers.append((w, b, port))
            self.check_shutdown(b, spec, env, where)
            self.check_files(b, c, spec, env, where)
            if b.name == "registration":
                self.check_urls(env, ns, where)

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
        sec = self.find("Secret", ref["name"], ns)
        if sec is not None:
            keys = set((sec.get("data") or {})) | set((sec.get("stringData") or {}))
            self.ok(ref["key"] in keys, where, f"Secret {ref['name']} has no key {ref['key']} (it has {sorted(keys)})")
            return
        if ref["name"].endswith("-app"):
            cluster = self.find("Cluster", ref["name"][: -len("-app")], ns)
            if cluster is not None:
                self.ok(ref["key"] in CNPG_APP_SECRET_KEYS, where, f"CloudNativePG writes no key {ref['key']!r} in {ref['name']}")

    def check_env(self, b: Binary, env, where):
        for name, (value, source) in env.items():
            self.checks += 1
            if name.startswith(b.prefix):
                try:
                    path, kind = b.lookup(name)
                except ValueError as e:
                    self.err(where, f"{name} ({source}) is no configuration key of {b.name}: {e}")
                    continue
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

    def check_files(self, b: Binary, c, spec, env, where):
        for name, (value, _source) in env.items():
            if not name.startswith(b.prefix) or not name.endswith("_FILE") or not value:
                continue
            path = value
            if not self.ok(path.startswith("/"), where, f"{name}={path} is relative: the image's working directory is read-only"):
                continue
            best = None
            for mount_path, m, vol in self.mounts(c, spec):
                if (path + "/").startswith(mount_path + "/") and (best is None or len(mount_path) > len(best[0])):
                    best = (mount_path, m, vol)
            if not self.ok(best is not None, where, f"{name}={path} is on no mounted volume"):
                continue
            mount_path, m, vol = best
            self.ok(vol is not None, where, f"volumeMount {m['name']} has no volume")
            if vol is None:
                continue
            rel = path[len(mount_path) + 1 :]
            if m.get("subPath"):
                continue
            for src in ("secret", "configMap"):
                if src in vol and vol[src].get("items"):
                    items = {i["path"] for i in vol[src]["items"]}
                    self.ok(rel in items, where, f"{name}={path}: the {src} volume {vol['name']} projects only {sorted(items)}")

    def check_tls(self, b: Binary, c, env, where) -> bool:
        tls_vars = [b.prefix + "TLS__" + k for k in ("CA_FILE", "CERT_FILE", "KEY_FILE")]
        set_ = [v for v in tls_vars if env.get(v, ("", ""))[0]]
        self.ok(len(set_) in (0, 3), where, f"TLS is all or nothing: {', '.join(set_)} set, {', '.join(v for v in tls_vars if v not in set_)} not")
        return len(set_) > 0

    def check_urls(self, env, ns, where):
        beacon = (env.get("VRS_REGISTRATION__DRAW__BEACON") or ("local", ""))[0] or "local"
        for var, (value, _src) in env.items():
            if not var.startswith("VRS_REGISTRATION__") or not var.endswith("_URL") or not value:
                continue
            if var.endswith("DATABASE__URL") or var.endswith("PORTAL__URL"):
                continue
            if var == "VRS_REGISTRATION__DRAW__BEACON_URL" and beacon != "local":
                continue
            m = re.fullmatch(r"(https?)://([^/:]+)(?::(\d+))?/?", value)
            if not self.ok(m is not None, where, f"{var}={value} is not scheme://host:port"):
                continue
            host, port = m.group(2), int(m.group(3) or (443 if m.group(1) == "https" else 80))
            parts = host.split(".")
            if len(parts) > 1 and not (len(parts) >= 3 and parts[2] == "svc") and not (len(parts) == 2):
                continue  # outside the cluster
            svc_ns = parts[1] if len(parts) > 1 else ns
            svc = self.find("Service", parts[0], svc_ns)
            if not self.ok(svc is not None, where, f"{var}={value}: no Service {parts[0]} in namespace {svc_ns}"):
                continue
            sports = [p.get("port") for p in (svc.get("spec") or {}).get("ports") or []]
            self.ok(port in sports, where, f"{var}={value}: Service {parts[0]} has ports {sports}, not {port}")

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

    @staticmethod
    def admits(rule, port: int, names: set) -> bool:
        """Whether a NetworkPolicy ingress rule lets TCP traffic to `port` (named `names`) through."""
        ports = rule.get("ports")
        if not ports:
            return True
        for p in ports:
            if p.get("protocol", "TCP") != "TCP":
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
            spec = d.get("spec") or {}
            inst = spec.get("instances")
            self.ok(isinstance(inst, int) and inst >= 1, where, "spec.instances must be a positive integer")
            self.ok(isinstance((spec.get("storage") or {}).get("size"), str), where, "spec.storage.size must be set (e.g. 20Gi)")
            initdb = (spec.get("bootstrap") or {}).get("initdb") or {}
            self.ok(isinstance(initdb.get("database"), str) and isinstance(initdb.get("owner"), str), where, "spec.bootstrap.initdb.database and .owner must be set: the app Secret is written for them")
            params = (spec.get("postgresql") or {}).get("parameters") or {}
            for k, v in params.items():
                self.ok(isinstance(v, str), where, f"spec.postgresql.parameters.{k} must be a string (CloudNativePG rejects {v!r})")
            known = {"instances", "imageName", "primaryUpdateStrategy", "bootstrap", "postgresql", "storage", "walStorage", "resources", "affinity", "monitoring", "backup", "managed", "enableSuperuserAccess", "superuserSecret", "description", "minSyncReplicas", "maxSyncReplicas", "primaryUpdateMethod", "startDelay", "stopDelay", "switchoverDelay", "topologySpreadConstraints", "certificates", "inheritedMetadata", "env", "envFrom", "plugins", "projectedVolumeTemplate", "replica", "externalClusters", "imageCatalogRef", "logLevel", "nodeMaintenanceWindow", "priorityClassName", "serviceAccountTemplate", "smartShutdownTimeout", "tablespaces", "enablePDB", "failoverDelay", "ephemeralVolumeSource", "ephemeralVolumesSizeLimit", "seccompProfile", "podSecurityContext", "securityContext", "imagePullPolicy", "imagePullSecrets", "livenessProbeTimeout", "probes", "postgresGID", "postgresUID", "maxStartDelay", "maxStopDelay"}
            for k in spec:
                self.ok(k in known, where, f"spec.{k} is no field of a CloudNativePG Cluster")


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
