//! What a run produces: a JSON document for machines (`--out`) and a
//! Markdown summary for people (stdout).

use std::fmt::Write as _;

use serde::Serialize;

use crate::check::CheckReport;
use crate::driver::{Latency, Load, PhaseReport, TOTAL, TOTAL_EXCLUDED};

#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    /// Unix milliseconds when the run started.
    pub started_at_ms: i64,
    pub config: RunConfig,
    pub baseline: Baseline,
    pub scenarios: Vec<ScenarioReport>,
    /// Each registration replica's peak resident set at the end of the run,
    /// in MiB, by replica index (a killed replica has none).
    pub peak_rss_mib: Vec<(usize, f64)>,
    /// Every check passed (and, with `--strict`, every target was met).
    pub passed: bool,
    /// Where the run directory was kept, if it was.
    pub kept_dir: Option<String>,
    /// The PostgreSQL database kept with it (drop it when done).
    pub kept_database: Option<String>,
}

/// The run's settings as resolved (defaults filled in).
#[derive(Debug, Serialize)]
pub struct RunConfig {
    pub args: crate::cli::Args,
    /// The database, without credentials.
    pub database: String,
    pub replicas: usize,
    pub world_vehicles: usize,
    /// Environment every replica got besides addresses and keys.
    pub replica_env: Vec<(String, String)>,
    /// `debug` or `release`: a debug build measures the tool, not the service.
    pub build: &'static str,
    pub cores: usize,
}

/// The trivial unary RPC on the same stack, the yardstick of every scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub rpc: &'static str,
    pub concurrency: usize,
    pub secs: f64,
    pub throughput_per_s: f64,
    pub errors: u64,
    pub latency_ms: Option<Latency>,
}

/// One goal of DESIGN §7, as measured.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: f64,
    pub met: bool,
}

impl Target {
    pub fn at_least(name: &str, goal: f64, measured: f64, unit: &str) -> Target {
        Target {
            name: name.to_owned(),
            goal: format!("≥ {goal} {unit}"),
            measured,
            met: measured >= goal,
        }
    }

    pub fn below(name: &str, goal: f64, measured: f64, unit: &str) -> Target {
        Target {
            name: name.to_owned(),
            goal: format!("< {goal} {unit}"),
            measured,
            met: measured < goal,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    /// What one operation of this scenario is.
    pub operation: String,
    pub load: Load,
    /// From the scenario's start (including its own setup) to the last operation's end.
    pub wall_secs: f64,
    pub phases: Vec<PhaseReport>,
    /// The scenario's headline throughput (operations/s, see `operation`).
    pub throughput_per_s: f64,
    /// `throughput_per_s` / the baseline's.
    pub baseline_ratio: f64,
    /// Calls sent again to another replica because theirs was gone.
    pub failovers: u64,
    /// Scenario-specific figures.
    pub extra: serde_json::Value,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
    pub check: Option<CheckReport>,
}

impl ScenarioReport {
    pub fn errors(&self) -> u64 {
        self.phases.iter().map(|p| p.failed).sum()
    }
}

fn ms(l: Option<&Latency>, f: impl Fn(&Latency) -> f64) -> String {
    l.map_or("–".into(), |l| format!("{:.1}", f(l)))
}

impl Report {
    /// The summary printed at the end of a run.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let c = &self.config;
        let _ = writeln!(
            out,
            "## vrs-load: {} on {} ({} replica{}, {} build, {} cores)\n",
            c.args.scenario.name(),
            c.database,
            c.replicas,
            if c.replicas == 1 { "" } else { "s" },
            c.build,
            c.cores
        );
        let b = &self.baseline;
        let _ = writeln!(
            out,
            "Baseline `{}` at concurrency {}: **{:.0}/s** (p50 {} ms, p99 {} ms, {} errors).\n",
            b.rpc,
            b.concurrency,
            b.throughput_per_s,
            ms(b.latency_ms.as_ref(), |l| l.p50),
            ms(b.latency_ms.as_ref(), |l| l.p99),
            b.errors
        );
        if !self.peak_rss_mib.is_empty() {
            let peaks: Vec<String> = self
                .peak_rss_mib
                .iter()
                .map(|(i, m)| format!("replica {i} {m:.0} MiB"))
                .collect();
            let _ = writeln!(out, "Peak RSS: {}.\n", peaks.join(", "));
        }
        out.push_str(
            "| scenario | phase | offered/s | done/s | × baseline | ok | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | \
             max ms | p99 excl. beacon ms | check |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for s in &self.scenarios {
            let check = match &s.check {
                Some(c) if c.passed => "pass".to_owned(),
                Some(c) => format!("**FAIL** ({})", c.failed().join(", ")),
                None => "–".to_owned(),
            };
            for (k, p) in s.phases.iter().enumerate() {
                let total = p.latency_ms.get(TOTAL);
                let excl = p.latency_ms.get(TOTAL_EXCLUDED);
                let ratio = if b.throughput_per_s > 0.0 {
                    format!("{:.4}", p.throughput_per_s / b.throughput_per_s)
                } else {
                    "–".into()
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    if k == 0 { s.name.as_str() } else { "" },
                    p.name,
                    p.offered_rate.map_or("–".into(), |r| format!("{r:.0}")),
                    p.throughput_per_s,
                    ratio,
                    p.ok,
                    p.failed,
                    ms(total, |l| l.p50),
                    ms(total, |l| l.p90),
                    ms(total, |l| l.p99),
                    ms(total, |l| l.p999),
                    ms(total, |l| l.max),
                    ms(excl, |l| l.p99),
                    if k == 0 { check.as_str() } else { "" },
                );
            }
        }
        out.push('\n');
        let targets: Vec<(&str, &Target)> = self
            .scenarios
            .iter()
            .flat_map(|s| s.targets.iter().map(move |t| (s.name.as_str(), t)))
            .collect();
        if !targets.is_empty() {
            out.push_str("| scenario | target | goal | measured | met |\n|---|---|---|---:|---|\n");
            for (s, t) in targets {
                let _ = writeln!(
                    out,
                    "| {s} | {} | {} | {:.1} | {} |",
                    t.name,
                    t.goal,
                    t.measured,
                    if t.met { "yes" } else { "**no**" }
                );
            }
            out.push('\n');
        }
        for s in &self.scenarios {
            let errors: Vec<String> = s
                .phases
                .iter()
                .flat_map(|p| p.errors.iter().map(move |(k, n)| format!("{}: {k} ×{n}", p.name)))
                .collect();
            if !errors.is_empty() {
                let _ = writeln!(out, "- {} errors: {}", s.name, errors.join("; "));
            }
            for p in &s.phases {
                if p.ok > 0 && p.throughput_per_s < 0.5 * p.throughput_incl_drain_per_s {
                    let _ = writeln!(
                        out,
                        "- {} {}: most operations finished after their phase (the system fell behind): \
                         {:.1}/s counting them",
                        s.name, p.name, p.throughput_incl_drain_per_s
                    );
                }
            }
            if s.failovers > 0 {
                let _ = writeln!(out, "- {} failovers to another replica: {}", s.name, s.failovers);
            }
            for n in &s.notes {
                let _ = writeln!(out, "- {}: {n}", s.name);
            }
            if let Some(c) = &s.check {
                for ch in c.checks.iter().filter(|c| !c.passed) {
                    let _ = writeln!(out, "- {} check `{}` FAILED: {}", s.name, ch.name, ch.detail);
                }
                let _ = writeln!(
                    out,
                    "- {} checker: {} applications ({} acknowledged), {} plates, log of {} entries audited in {:.2} s, \
                     {} portal events ({} redeliveries dropped), settled in {:.1} s",
                    s.name,
                    c.applications,
                    c.acknowledged,
                    c.plates,
                    c.log_entries,
                    c.audit_secs,
                    c.portal_events,
                    c.portal_redeliveries,
                    c.settle_secs
                );
            }
        }
        if let Some(d) = &self.kept_dir {
            let _ = writeln!(out, "\nRun directory kept: {d}");
        }
        if let Some(db) = &self.kept_database {
            let _ = writeln!(out, "PostgreSQL database kept: {db}");
        }
        let _ = writeln!(out, "\n**{}**", if self.passed { "PASSED" } else { "FAILED" });
        out
    }
}
