//! A throwaway PostgreSQL cluster of its own, for the tests and load scenarios
//! that do to the database what production does to it: restart it, stall it,
//! serve it over TLS only, back it up and restore it. The shared server of the
//! machine (`VRS_TEST_PG_URL`) cannot be used for that without hurting every
//! other test running at the same time.
//!
//! It needs the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`,
//! `pg_basebackup`), found through `VRS_PG_BIN`, `pg_config --bindir` or
//! `/usr/lib/postgresql/<version>/bin`. [`PgBinaries::find`] says clearly when
//! they are missing, so that a test can skip with that reason on a machine
//! without PostgreSQL, and fail under `VRS_REQUIRE_PG=1` (CI).
//!
//! PostgreSQL refuses to run as root; when the process is root (CI), every
//! server command runs as the `postgres` user through `runuser`, and the
//! cluster's directory is handed to that user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Where the server binaries are.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub bin: PathBuf,
}

impl PgBinaries {
    /// The server binaries, or why they cannot be used here.
    pub fn find() -> anyhow::Result<PgBinaries> {
        let mut candidates = Vec::new();
        if let Ok(dir) = std::env::var("VRS_PG_BIN") {
            candidates.push(PathBuf::from(dir));
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
            && out.status.success()
        {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
        if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
            let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
            // The newest version first ("9.6" < "15" compares wrongly as text).
            versions.sort_by_key(|p| {
                let v = p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str());
                std::cmp::Reverse(v.and_then(|v| v.split('.').next()?.parse::<u32>().ok()).unwrap_or(0))
            });
            candidates.extend(versions);
        }
        candidates
            .into_iter()
            .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
            .map(|bin| PgBinaries { bin })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the PostgreSQL server binaries (initdb, pg_ctl) are not installed \
                     (looked in VRS_PG_BIN, pg_config --bindir, /usr/lib/postgresql/*/bin)"
                )
            })
    }

    /// A command running `tool` as the user that may run the server.
    pub fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            // Real, effective, saved, filesystem: the effective one decides.
            line.split_whitespace().nth(2).map(|uid| uid == "0")
        })
        .unwrap_or(false)
}

/// Hands `path` (recursively) to the `postgres` user when running as root, so
/// the server, run as that user, can use it.
pub fn give_to_server_user(path: &Path) -> anyhow::Result<()> {
    if !running_as_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()
        .context("running chown")?;
    if !status.success() {
        bail!("chown -R postgres {} failed", path.display());
    }
    Ok(())
}

fn checked(what: &str, out: std::io::Result<Output>) -> anyhow::Result<Output> {
    let out = out.with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// A free TCP port on loopback (bound, then released for the server to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Settings of a cluster to start.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `postgresql.conf` lines beyond the defaults (e.g. `ssl = on`).
    pub settings: Vec<String>,
    /// Files to place in the data directory before the first start: (name, contents, mode).
    pub files: Vec<(String, Vec<u8>, u32)>,
    /// `pg_hba.conf`; empty: trust on loopback for TCP and the socket.
    pub hba: Option<String>,
}

/// A running cluster in a temporary directory, stopped and deleted on drop.
pub struct LocalPostgres {
    bins: PgBinaries,
    /// Owns the directory: deleted on drop, after the server stopped.
    root: tempfile::TempDir,
    pub data: PathBuf,
    pub port: u16,
}

impl LocalPostgres {
    /// `initdb` a new cluster and start it on a free port of 127.0.0.1.
    pub fn start(opts: &ClusterOptions) -> anyhow::Result<LocalPostgres> {
        let bins = PgBinaries::find()?;
        let root = tempfile::Builder::new().prefix("vrs-pg-").tempdir()?;
        let data = root.path().join("data");
        give_to_server_user(root.path())?;
        checked(
            "initdb",
            bins.command("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ])
                .output(),
        )?;
        Self::adopt(root, data, opts)
    }

    /// A cluster from a data directory made elsewhere (a restored base
    /// backup, or `initdb` above): started on a free port with `settings` appended.
    pub fn adopt(root: tempfile::TempDir, data: PathBuf, opts: &ClusterOptions) -> anyhow::Result<LocalPostgres> {
        let bins = PgBinaries::find()?;
        Self::configure(&data, opts)?;
        give_to_server_user(root.path())?;
        let mut pg = LocalPostgres {
            bins,
            root,
            data,
            port: 0,
        };
        pg.start_on_free_port()?;
        Ok(pg)
    }

    fn configure(data: &Path, opts: &ClusterOptions) -> anyhow::Result<()> {
        let mut conf = String::from(
            "\n# vrs_kit::pg\nlisten_addresses = '127.0.0.1'\nfsync = off\nfull_page_writes = off\n\
             max_connections = 200\nunix_socket_directories = ''\n",
        );
        for s in &opts.settings {
            conf.push_str(s);
            conf.push('\n');
        }
        let path = data.join("postgresql.conf");
        let mut current = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        current.push_str(&conf);
        std::fs::write(&path, current)?;
        if let Some(hba) = &opts.hba {
            std::fs::write(data.join("pg_hba.conf"), hba)?;
        } else {
            std::fs::write(
                data.join("pg_hba.conf"),
                "host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
            )?;
        }
        for (name, contents, mode) in &opts.files {
            let path = data.join(name);
            std::fs::write(&path, contents)?;
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(*mode))?;
        }
        Ok(())
    }

    fn start_on_free_port(&mut self) -> anyhow::Result<()> {
        // Another process may take the port between our probe and the server's
        // bind; a few tries make that harmless.
        let mut last = None;
        for _ in 0..5 {
            self.port = free_port()?;
            match self.pg_ctl_start() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("could not start PostgreSQL")))
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let log = self.root.path().join("server.log");
        let out = self
            .bins
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &format!("-p {}", self.port), "-w", "-t", "60", "start"])
            .output();
        checked("pg_ctl start", out).map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            e.context(format!("server log:\n{tail}"))
        })?;
        Ok(())
    }

    /// The cluster's directory (it holds the server log, `server.log`).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn bins(&self) -> &PgBinaries {
        &self.bins
    }

    /// The URL of database `db` as user `postgres`, with extra `params`
    /// (`sslmode=…`) when not empty.
    pub fn url(&self, db: &str, params: &str) -> String {
        let q = if params.is_empty() {
            String::new()
        } else {
            format!("?{params}")
        };
        format!("postgres://postgres@127.0.0.1:{}/{db}{q}", self.port)
    }

    /// Runs one SQL statement with `psql` (plaintext or TLS as the server
    /// allows), returning its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let out = checked(
            "psql",
            Command::new(self.bins.bin.join("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    db,
                ])
                .args(["-v", "ON_ERROR_STOP=1", "-Atqc", sql])
                .output(),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Restarts the server (`immediate`: as a crash; `fast`: as an operator).
    pub fn restart(&self, mode: &str) -> anyhow::Result<()> {
        self.stop(mode)?;
        self.pg_ctl_start()
    }

    /// Stops the server (`immediate`, `fast` or `smart`).
    pub fn stop(&self, mode: &str) -> anyhow::Result<()> {
        checked(
            "pg_ctl stop",
            self.bins
                .command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", mode, "-w", "-t", "60", "stop"])
                .output(),
        )?;
        Ok(())
    }

    /// Starts the server again after [`LocalPostgres::stop`], on the same port.
    pub fn start_again(&self) -> anyhow::Result<()> {
        self.pg_ctl_start()
    }

    /// The postmaster's process id (for SIGSTOP/SIGCONT stalls).
    pub fn pid(&self) -> anyhow::Result<u32> {
        let pidfile = std::fs::read_to_string(self.data.join("postmaster.pid"))?;
        pidfile
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .context("postmaster.pid holds no process id")
    }

    /// Sends `signal` (`STOP`, `CONT`) to the postmaster and every process it
    /// started: stopping the postmaster alone would leave the sessions
    /// already open answering, which is not a stalled server.
    pub fn signal_all(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid()?;
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let mut pids = vec![pid.to_string()];
        pids.extend(children.split_whitespace().map(str::to_owned));
        // Children first when stopping (so none notices its parent gone), the
        // postmaster first when resuming.
        if signal == "STOP" {
            pids.reverse();
        }
        checked("kill", Command::new("kill").args(["-s", signal]).args(&pids).output())?;
        Ok(())
    }

    /// Waits until the server accepts connections (after a restart by someone else).
    pub fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if self.psql("postgres", "SELECT 1").is_ok() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("PostgreSQL on port {} not ready after {timeout:?}", self.port);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        let _ = self
            .bins
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Whether tests must fail rather than skip when PostgreSQL is missing (CI).
pub fn required() -> bool {
    std::env::var("VRS_REQUIRE_PG").is_ok_and(|v| v == "1")
}
