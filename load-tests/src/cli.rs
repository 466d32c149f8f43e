//! The command line: every knob has a default that gives a meaningful run.

use std::path::PathBuf;

use serde::Serialize;

/// `vrs-load`: starts the whole system on this machine and measures it.
#[derive(Debug, Clone, clap::Parser, Serialize)]
#[command(
    name = "vrs-load",
    about = "Starts agencies, beacon, portal stand-in and registration replicas, then measures a scenario.",
    long_about = None
)]
pub struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Scenario::E2e)]
    pub scenario: Scenario,

    /// `open`: flows start on a fixed schedule (`--rate`), whatever the
    /// latency; `closed`: `--concurrency` workers each start the next flow
    /// when the last one ends.
    #[arg(long, value_enum, default_value_t = LoadMode::Open)]
    pub mode: LoadMode,

    /// Open loop: flows started per second. Default per scenario: e2e 1100,
    /// burst 110 (×10 during the burst), queue and fault-* 200.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Closed loop: workers. Also the baseline's concurrency.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,

    /// Measured seconds. Default per scenario: e2e and fault-* 60, queue 30;
    /// for burst, the normal-rate phase before and after the burst (15 each).
    #[arg(long)]
    pub duration: Option<f64>,

    /// Seconds of load before measuring (same rate or concurrency, not recorded).
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,

    /// Seconds of the baseline (health checks over the same channels).
    #[arg(long, default_value_t = 5.0)]
    pub baseline_secs: f64,

    /// burst: seconds at `--burst-factor` × the normal rate.
    #[arg(long, default_value_t = 60.0)]
    pub burst_secs: f64,

    /// burst: the burst's rate as a multiple of the normal rate.
    #[arg(long, default_value_t = 10.0)]
    pub burst_factor: f64,

    /// draw-storm: applications submitted for one pool and then drawn at once.
    #[arg(long, default_value_t = 10_000)]
    pub draws: usize,

    /// queue: clerks reading their office's queue in a closed loop, beside the writers.
    #[arg(long, default_value_t = 16)]
    pub readers: usize,

    /// fault-agency: which agency is made slow, then down.
    #[arg(long, value_enum, default_value_t = AgencyKind::Identity)]
    pub fault_agency: AgencyKind,

    /// fault-db: how long PostgreSQL stays down when it is restarted (as by a crash).
    #[arg(long, default_value_t = 5.0)]
    pub db_down_secs: f64,

    /// fault-db: how long the whole server is stopped (SIGSTOP) when it stalls.
    #[arg(long, default_value_t = 10.0)]
    pub db_stall_secs: f64,

    /// fault-beacon: how long the beacon is down (capped by its phase, 40 %
    /// of the scenario's duration: give `--duration` accordingly).
    #[arg(long, default_value_t = 180.0)]
    pub beacon_down_secs: f64,

    /// fault-beacon: how many periods late the beacon publishes in its late phase.
    #[arg(long, default_value_t = 5)]
    pub beacon_late_periods: u64,

    /// limits: the staff rate (`auth.staff_rps`) the replicas are given,
    /// which one caller must not exceed over all of them.
    #[arg(long, default_value_t = 100.0)]
    pub limit_rps: f64,

    /// fault-agency: latency added while the agency is slow (below the
    /// service's 1 s per-call deadline, so calls succeed, late).
    #[arg(long, default_value_t = 300)]
    pub agency_slow_ms: u64,

    /// `sqlite` (a file in the run directory), a PostgreSQL server URL such
    /// as `postgres://postgres@127.0.0.1:5432/test` (a fresh database is
    /// created beside the one named, and dropped afterwards), or `own`: a
    /// PostgreSQL cluster of the run's own, started with the server binaries
    /// (`initdb`, `pg_ctl`) so that `fault-db` may restart and stall it.
    #[arg(long, default_value = "sqlite")]
    pub db: String,

    /// Registration processes. Default: 1 with SQLite (one writer), 3 with PostgreSQL.
    #[arg(long)]
    pub replicas: Option<usize>,

    /// The `registration` binary. Default: next to this executable.
    #[arg(long)]
    pub registration_bin: Option<PathBuf>,

    /// Extra environment for every replica, `KEY=VALUE`, repeatable; applied
    /// after the tool's own settings, so it overrides them
    /// (e.g. `--replica-env VRS_REGISTRATION__PORTAL__BATCH=1024`).
    #[arg(long = "replica-env", value_parser = parse_key_value)]
    pub replica_env: Vec<(String, String)>,

    /// HTTP/2 connections from the tool to each replica (per caller kind).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,

    /// Milliseconds between rounds of the local beacon. A draw waits one to
    /// two rounds for its randomness.
    #[arg(long, default_value_t = 1_000)]
    pub beacon_period_ms: u64,

    /// Vehicles in the generated data set the agencies serve: each application
    /// needs a vehicle of its own (one active registration per vehicle).
    /// 0: sized from the scenario's expected demand.
    #[arg(long, default_value_t = 0)]
    pub world_vehicles: usize,

    /// Open loop: flows in flight beyond which new ones are not started but
    /// counted as `CLIENT_OVERLOAD` errors (the tool's own memory bound).
    #[arg(long, default_value_t = 50_000)]
    pub max_in_flight: usize,

    /// Seconds the checker waits for background work (lookups, draws, the
    /// portal outbox) to finish before it checks.
    #[arg(long, default_value_t = 180.0)]
    pub drain_timeout: f64,

    /// Skip the checker after non-fault scenarios (it always runs after fault ones).
    #[arg(long)]
    pub skip_check: bool,

    /// Also exit non-zero when a target (DESIGN §7) is missed, not only on a failed check.
    #[arg(long)]
    pub strict: bool,

    /// Write the machine-readable report here.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Keep the run directory (database, keys, replica logs) afterwards; it is
    /// kept anyway when a check fails.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Submit → agency lookups → draw → pay, per flow.
    E2e,
    /// K applications of one pool drawn at once.
    DrawStorm,
    /// Clerks reading their queues while writers run e2e flows.
    Queue,
    /// Normal rate, ×10 for `--burst-secs`, normal again.
    Burst,
    /// e2e with one agency slow, then down, then restored.
    FaultAgency,
    /// e2e with the portal's status endpoint down, then back.
    FaultPortal,
    /// e2e with one registration replica killed (SIGKILL); needs ≥ 2 replicas.
    FaultKill,
    /// e2e while PostgreSQL is restarted, its sessions cut, and the server
    /// stalled (SIGSTOP); needs `--db own`.
    FaultDb,
    /// e2e while the beacon is down for minutes, then serves forged values,
    /// then publishes its rounds late.
    FaultBeacon,
    /// One caller's rate over every replica, and honest callers beside a
    /// flood of bad tokens.
    Limits,
    /// Every scenario in turn, on one stack (fault-kill only with ≥ 2 replicas).
    All,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::E2e => "e2e",
            Scenario::DrawStorm => "draw-storm",
            Scenario::Queue => "queue",
            Scenario::Burst => "burst",
            Scenario::FaultAgency => "fault-agency",
            Scenario::FaultPortal => "fault-portal",
            Scenario::FaultKill => "fault-kill",
            Scenario::FaultDb => "fault-db",
            Scenario::FaultBeacon => "fault-beacon",
            Scenario::Limits => "limits",
            Scenario::All => "all",
        }
    }

    pub fn is_fault(self) -> bool {
        matches!(
            self,
            Scenario::FaultAgency
                | Scenario::FaultPortal
                | Scenario::FaultKill
                | Scenario::FaultDb
                | Scenario::FaultBeacon
        )
    }

    /// The scenarios `self` stands for, in running order.
    pub fn expand(self, replicas: usize) -> Vec<Scenario> {
        match self {
            Scenario::All => {
                let mut all = vec![
                    Scenario::E2e,
                    Scenario::DrawStorm,
                    Scenario::Queue,
                    Scenario::Burst,
                    Scenario::FaultAgency,
                    Scenario::FaultPortal,
                ];
                if replicas >= 2 {
                    all.push(Scenario::FaultKill);
                }
                all
            }
            one => vec![one],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadMode {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgencyKind {
    Identity,
    Tax,
    Customs,
    Register,
}

impl AgencyKind {
    pub const ALL: [AgencyKind; 4] = [
        AgencyKind::Identity,
        AgencyKind::Tax,
        AgencyKind::Customs,
        AgencyKind::Register,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AgencyKind::Identity => "identity",
            AgencyKind::Tax => "tax",
            AgencyKind::Customs => "customs",
            AgencyKind::Register => "register",
        }
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    if k.is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

impl Args {
    pub fn is_postgres(&self) -> bool {
        self.db == "own" || self.db.starts_with("postgres://") || self.db.starts_with("postgresql://")
    }

    pub fn replica_count(&self) -> usize {
        self.replicas.unwrap_or(if self.is_postgres() { 3 } else { 1 })
    }

    /// Open-loop rate of `scenario` (the normal rate for burst).
    pub fn rate_for(&self, scenario: Scenario) -> f64 {
        self.rate.unwrap_or(match scenario {
            Scenario::E2e => 1_100.0,
            Scenario::Burst => 110.0,
            _ => 200.0,
        })
    }

    /// Measured seconds of `scenario` (per normal phase for burst).
    pub fn duration_for(&self, scenario: Scenario) -> f64 {
        self.duration.unwrap_or(match scenario {
            Scenario::Queue => 30.0,
            Scenario::Burst => 15.0,
            _ => 60.0,
        })
    }

    /// Flows `scenario` may start, at most: what the data set must hold.
    pub fn demand(&self, scenario: Scenario) -> usize {
        let secs = self.duration_for(scenario) + self.warmup;
        // A closed-loop worker waits at least one beacon round per flow.
        let per_worker = 1_000.0 / self.beacon_period_ms.max(1) as f64;
        let flows = |secs: f64, rate: f64| match self.mode {
            LoadMode::Open => rate * secs,
            LoadMode::Closed => self.concurrency as f64 * per_worker * secs,
        };
        let rate = self.rate_for(scenario);
        let n = match scenario {
            Scenario::DrawStorm => self.draws as f64,
            Scenario::Burst => {
                flows(secs + self.duration_for(scenario), rate) + flows(self.burst_secs, rate * self.burst_factor)
            }
            Scenario::All | Scenario::Limits => 0.0,
            _ => flows(secs, rate),
        };
        n.ceil() as usize
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_follow_the_database() {
        let a = Args::parse_from(["vrs-load"]);
        assert_eq!(
            (a.scenario, a.mode, a.replica_count()),
            (Scenario::E2e, LoadMode::Open, 1)
        );
        let a = Args::parse_from([
            "vrs-load",
            "--db",
            "postgres://postgres@127.0.0.1:5432/test",
            "--scenario",
            "fault-kill",
            "--replica-env",
            "A=b=c",
        ]);
        assert_eq!(a.replica_count(), 3);
        assert_eq!(a.replica_env, [("A".to_owned(), "b=c".to_owned())]);
        assert_eq!(Scenario::All.expand(1).len(), 6);
        assert_eq!(Scenario::All.expand(3).last(), Some(&Scenario::FaultKill));
        assert!(Args::try_parse_from(["vrs-load", "--replica-env", "novalue"]).is_err());
    }

    #[test]
    fn demand_covers_the_schedule() {
        let a = Args::parse_from(["vrs-load", "--rate", "10", "--duration", "10", "--warmup", "0"]);
        assert_eq!(a.demand(Scenario::E2e), 100);
        // Burst: 10 s before and after at 10/s, 60 s at 100/s.
        assert_eq!(a.demand(Scenario::Burst), 200 + 6_000);
    }
}
