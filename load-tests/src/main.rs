//! `vrs-load`: starts the system, measures a scenario, prints a Markdown
//! summary and optionally writes the JSON report. Exit status 1 when a check
//! fails (or, with `--strict`, a target is missed); 2 when the run could not
//! be made. See `load-tests/README.md`.

// The summary table on stdout is the program's output.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = vrs_kit::telemetry::init("vrs-load");
    let args = vrs_load::cli::Args::parse();
    let out = args.out.clone();
    let report = match vrs_load::run(args).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "the run could not be made");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = out {
        let written = serde_json::to_string_pretty(&report)
            .map_err(anyhow::Error::from)
            .and_then(|json| Ok(std::fs::write(&path, json)?));
        if let Err(e) = written {
            tracing::error!(path = %path.display(), error = %e, "writing the report");
            return ExitCode::from(2);
        }
    }
    println!("{}", report.markdown());
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
