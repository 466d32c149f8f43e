//! The tool end to end, small: a two-second closed-loop `e2e` run against
//! SQLite starts the whole stack, measures, checks and writes its report.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/registration`, beside this test's `deps/` directory.
/// Cargo does not build another package's binary for this one's tests;
/// `cargo test --workspace` (or `cargo build -p registration`) does.
fn registration_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("registration{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p registration`; `cargo test --workspace` does)",
        bin.display()
    );
    bin
}

#[test]
fn a_small_e2e_run_has_throughput_and_passes_every_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report.json");
    let run = Command::new(env!("CARGO_BIN_EXE_vrs-load"))
        .args(["--scenario", "e2e", "--mode", "closed", "--concurrency", "4"])
        .args(["--duration", "2", "--warmup", "0", "--baseline-secs", "1"])
        .args([
            "--beacon-period-ms",
            "200",
            "--connections",
            "1",
            "--drain-timeout",
            "60",
        ])
        .arg("--registration-bin")
        .arg(registration_bin())
        .arg("--out")
        .arg(&out)
        .env("RUST_LOG", "warn")
        .output()
        .expect("vrs-load runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{}\n{stdout}\n{stderr}", run.status);
    assert!(stdout.contains("| e2e |"), "the Markdown summary: {stdout}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the JSON report")).expect("JSON");
    assert!(
        report["baseline"]["throughput_per_s"].as_f64() > Some(0.0),
        "{report:#}"
    );
    let e2e = &report["scenarios"][0];
    assert_eq!(e2e["name"], "e2e");
    assert!(e2e["throughput_per_s"].as_f64() > Some(0.0), "{e2e:#}");
    assert!(e2e["baseline_ratio"].as_f64() > Some(0.0), "{e2e:#}");
    assert_eq!(e2e["phases"][0]["failed"], 0, "{e2e:#}");
    let latency = &e2e["phases"][0]["latency_ms"];
    for h in ["total", "total_excl_beacon", "submit", "draw", "beacon_wait", "pay"] {
        assert!(latency[h]["count"].as_u64() > Some(0), "{h}: {latency:#}");
    }
    let check = &e2e["check"];
    assert_eq!(check["passed"], true, "{check:#}");
    assert_eq!(check["checks"].as_array().map(Vec::len), Some(6), "{check:#}");
    assert!(check["acknowledged"].as_u64() > Some(0));
    assert_eq!(report["passed"], true);
}
