//! What the browser tests share: chromedriver started like every other
//! server, a headless Chromium session, screenshots under
//! `target/screenshots/`, and axe-core run in the page.
//!
//! Without chromedriver a browser test is skipped, loudly, unless
//! `VRS_REQUIRE_BROWSER=1` (CI), where it fails.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

pub const REQUIRE: &str = "VRS_REQUIRE_BROWSER";

/// chromedriver, or `None` after saying loudly that `what` is not tested
/// (a failure instead under `VRS_REQUIRE_BROWSER=1`).
pub fn chromedriver_or_skip(what: &str) -> Option<PathBuf> {
    let found = chromedriver();
    if found.is_none() {
        assert!(
            !required(),
            "{REQUIRE}=1 but chromedriver is not found (neither /usr/bin/chromedriver nor on PATH): \
             apt-get install -y chromium chromium-driver"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: chromedriver not found (neither /usr/bin/chromedriver nor on PATH): the browser test \
             of {what} did not run. Install it with `apt-get install -y chromium chromium-driver`; \
             {REQUIRE}=1 makes its absence a failure."
        );
    }
    found
}

pub fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

/// `/usr/bin/chromedriver`, else `chromedriver` on PATH.
fn chromedriver() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/bin/chromedriver");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

/// Runs `scenario` in a headless Chromium session (a fresh profile in a
/// temporary work directory, which `scenario` may use too), then ends the
/// session and chromedriver whatever happened, and only then passes on a
/// panic of the scenario.
pub async fn with_browser(chromedriver: &Path, scenario: impl AsyncFnOnce(&Client, &Path)) {
    use futures::FutureExt;
    let work = tempfile::tempdir().expect("tempdir");
    let driver = Driver::start(chromedriver, work.path()).await;
    let browser = driver.connect(&work.path().join("profile")).await;
    let outcome = std::panic::AssertUnwindSafe(scenario(&browser, work.path()))
        .catch_unwind()
        .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A chromedriver on a free loopback port, ended on drop.
struct Driver {
    child: std::process::Child,
    port: u16,
}

impl Driver {
    async fn start(bin: &Path, work: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", work.join("chromedriver.log").display()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver { child, port };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = driver.child.try_wait().expect("chromedriver's status") {
                panic!("chromedriver exited at start: {status}");
            }
            let ready = http_body(&format!("http://127.0.0.1:{port}/status"))
                .await
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                return driver;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A headless Chromium session with a fresh profile in `profile`.
    async fn connect(&self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1024",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a browser session (is chromium installed beside chromedriver?)")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Asked to shut down, chromedriver ends its sessions' browsers; killed, it would leave them.
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let _ = s.read_to_end(&mut Vec::new());
        }
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn http_body(url: &str) -> Option<String> {
    let tls = vrs_kit::tls::https_client_config("").expect("TLS configuration");
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    http.get(url).send().await.ok()?.text().await.ok()
}

// ---------------------------------------------------------------- evidence

/// `target/screenshots/` (CARGO_TARGET_DIR if set, else the workspace's `target`).
pub fn screenshots_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => workspace.join(t),
        None => workspace.join("target"),
    };
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir.canonicalize().unwrap_or(dir)
}

pub async fn screenshot(browser: &Client, dir: &Path, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = dir.join(name);
    std::fs::write(&path, png).expect("write the screenshot");
    let _ = writeln!(std::io::stderr(), "screenshot: {}", path.display());
}

/// axe-core's `axe.min.js`, from `services/transparency/browser-tests`
/// (`npm ci` there); `None`, announced, when it is not installed, unless
/// `VRS_REQUIRE_BROWSER=1`.
pub fn axe_source() -> Option<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../transparency/browser-tests/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(src) => Some(src),
        Err(e) => {
            assert!(
                !required(),
                "{REQUIRE}=1 but axe-core is not installed ({}: {e}): run `npm ci` in services/transparency/browser-tests",
                path.display()
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the accessibility check (axe-core not installed: run `npm ci` in \
                 services/transparency/browser-tests); the browser test runs without it."
            );
            None
        }
    }
}

/// No axe-core violation of impact `serious` or `critical` on the page as it is now.
/// axe is injected through WebDriver (not a page script, so the CSP does not apply).
pub async fn accessible(browser: &Client, axe: Option<&str>, page: &str) {
    let Some(axe) = axe else { return };
    browser.execute(axe, vec![]).await.expect("inject axe-core");
    let found = browser
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               window.axe.run(document, { resultTypes: ['violations'] })
                 .then(r => done({
                   passes: r.passes.length,
                   violations: r.violations.map(v => ({
                     id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => ({ target: n.target.join(' '), summary: n.failureSummary })),
                   })),
                 }))
                 .catch(e => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .expect("axe.run");
    let violations = found["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("axe.run failed on {page}: {found}"));
    let passes = found["passes"].as_u64().unwrap_or(0);
    assert!(passes > 0, "axe-core checked nothing on {page}: {found}");
    let (grave, minor): (Vec<&Value>, Vec<&Value>) = violations
        .iter()
        .partition(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")));
    for v in &minor {
        let _ = writeln!(
            std::io::stderr(),
            "axe {page}: {} ({}): {}",
            v["id"],
            v["impact"],
            v["help"]
        );
    }
    assert!(
        grave.is_empty(),
        "axe-core finds serious or critical violations on {page}:\n{}",
        serde_json::to_string_pretty(&grave).expect("json")
    );
    let _ = writeln!(
        std::io::stderr(),
        "axe {page}: {passes} rules pass, no serious or critical violation ({} minor)",
        minor.len()
    );
}
