//! The transparency site in a real browser (issue 13): headless Chromium
//! driven over WebDriver (chromedriver, started here like every other server).
//!
//! The receipt checker (`/verify`) must work once the page is loaded even if
//! the network is gone: the site is stopped before the receipt is chosen. A
//! real receipt passes; tampered copies fail naming the check that caught
//! them. The pages are screenshot under `target/screenshots/` and checked
//! with axe-core (no `serious` or `critical` violation).
//!
//! Without chromedriver the test is skipped, loudly, unless
//! `VRS_REQUIRE_BROWSER=1` (CI), where it fails. One database is enough: the
//! browser sees the site, not the registry's storage.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::browser_kit::{accessible, axe_source, chromedriver_or_skip, screenshot, screenshots_dir, with_browser};
use crate::helpers::{Backend, Site, TestApp, spawn_app};

/// How long the page may take to show a verdict (a property, polled).
const VERDICT_WITHIN: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_checker_works_offline_in_a_real_browser() {
    let Some(chromedriver) = chromedriver_or_skip("the transparency site") else {
        return;
    };
    let axe = axe_source();

    // A registry with one draw, and the receipt its owner keeps.
    let app = spawn_app(Backend::Sqlite).await;
    let a = app
        .submit(app.sample(vrs_kit::world::Case::Clean, 0, "G01.000031"))
        .await
        .expect("submit");
    let drawn = app.draw_for(&a).await.expect("draw");
    let receipt = drawn.receipt.expect("a receipt").json;
    let pool_id = draw_commit_pool(&serde_json::from_str::<Value>(&receipt).expect("receipt json"));

    let site = Site::start(&app).await;
    // The site shows the plate once it has verified a checkpoint holding the draw.
    let plate_url = format!("{}/plates/{}", site.url, transparency::pages::seg(&drawn.plate));
    let deadline = tokio::time::Instant::now() + VERDICT_WITHIN;
    while http_status(&plate_url).await != Some(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the plate never appeared on the site"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let draw = Draw {
        receipt,
        plate: drawn.plate,
        pool_id,
    };
    with_browser(&chromedriver, async move |browser, work| {
        scenario(browser, app, site, draw, axe.as_deref(), work).await
    })
    .await;
}

struct Draw {
    receipt: String,
    plate: String,
    pool_id: String,
}

async fn scenario(browser: &Client, app: TestApp, site: Site, draw: Draw, axe: Option<&str>, work: &Path) {
    let shots = screenshots_dir();
    let url = site.url.clone();

    // The pages, while the site is up.
    browser.goto(&format!("{url}/")).await.expect("open /");
    let h1 = browser
        .find(Locator::Css("h1"))
        .await
        .expect("a heading")
        .text()
        .await
        .expect("text");
    assert!(h1.contains("Minh bạch"), "{h1}");
    screenshot(browser, &shots, "transparency-home.png").await;
    accessible(browser, axe, "/").await;

    let pool_path = format!("/pools/{}", transparency::pages::seg(&draw.pool_id));
    browser.goto(&format!("{url}{pool_path}")).await.expect("open the pool");
    let table = browser.find(Locator::Css("main table")).await.expect("the draws");
    assert!(table.text().await.expect("text").contains(&draw.plate));
    accessible(browser, axe, &pool_path).await;

    let plate_path = format!("/plates/{}", transparency::pages::seg(&draw.plate));
    browser
        .goto(&format!("{url}{plate_path}"))
        .await
        .expect("open the plate");
    let h1 = browser
        .find(Locator::Css("h1"))
        .await
        .expect("a heading")
        .text()
        .await
        .expect("text");
    assert!(h1.contains(&draw.plate), "{h1}");
    screenshot(browser, &shots, "transparency-plate.png").await;
    accessible(browser, axe, &plate_path).await;

    browser.goto(&format!("{url}/verify")).await.expect("open /verify");
    let loaded = browser
        .execute(
            "return typeof window.vrsVerify === 'object' && typeof window.vrsVerify.verifyReceipt === 'function';",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        loaded,
        json!(true),
        "the verifier bundle is loaded (the CSP allows the site's own scripts)"
    );
    accessible(browser, axe, "/verify").await;

    // Cut the network: the site stops and its port refuses connections.
    site.stop().await;
    app.shutdown().await;
    let offline = browser
        .execute("return document.getElementById('receipt') !== null;", vec![])
        .await
        .expect("the page is still there");
    assert_eq!(offline, json!(true));

    // The real receipt passes, offline.
    let ok = upload(browser, work, "receipt.json", &draw.receipt).await;
    assert_eq!(ok.class, "ok", "the real receipt fails: {}", ok.all);
    assert!(ok.text.contains(&format!("biển số {}", draw.plate)), "{}", ok.text);
    assert!(ok.text.starts_with("Biên nhận hợp lệ"), "{}", ok.text);
    screenshot(browser, &shots, "transparency-verify-ok.png").await;
    accessible(browser, axe, "/verify (a valid receipt)").await;

    // Tampered copies fail, each naming the check that caught it.
    let original: Value = serde_json::from_str(&draw.receipt).expect("receipt json");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "salt.json",
            tamper(&original, |r| flip_hex_digit(&mut r["salt"])),
            "commitment",
        ),
        (
            "checkpoint.json",
            tamper(&original, |r| flip_signature(&mut r["checkpoint"])),
            "checkpoint",
        ),
        (
            "pool.json",
            tamper(&original, |r| flip_base64_byte(&mut r["pool_bitmap"], 0)),
            "pool",
        ),
        (
            "unknown-member.json",
            tamper(&original, |r| r["unexpected"] = json!(1)),
            "format",
        ),
        (
            "truncated.json",
            draw.receipt[..draw.receipt.len() / 2].to_owned(),
            "format",
        ),
    ];
    for (i, (file, text, check)) in cases.into_iter().enumerate() {
        let verdict = upload(browser, work, file, &text).await;
        assert_eq!(verdict.class, "fail", "{file} passes: {}", verdict.all);
        assert!(
            verdict.text.contains(&format!("({check})")),
            "{file} should fail the check {check}: {}",
            verdict.all
        );
        if i == 0 {
            screenshot(browser, &shots, "transparency-verify-fail.png").await;
            accessible(browser, axe, "/verify (a tampered receipt)").await;
        }
    }

    // Still the same page, loaded once: nothing navigated away.
    let here = browser.current_url().await.expect("url");
    assert_eq!(here.path(), "/verify");
}

/// The verdict the page shows for a file.
struct Verdict {
    /// `ok` or `fail`.
    class: String,
    /// The verdict's first paragraph.
    text: String,
    /// Everything in `#result`, for messages.
    all: String,
}

/// Chooses `text` (written to `work/name`) in the page's file input and waits
/// for its verdict. The page stays loaded: the input and the result are cleared
/// first, so the verdict waited for is this file's.
async fn upload(browser: &Client, work: &Path, name: &str, text: &str) -> Verdict {
    let path = work.join(name);
    std::fs::write(&path, text).expect("write the receipt file");
    browser
        .execute(
            "document.getElementById('receipt').value = ''; document.getElementById('result').textContent = '';",
            vec![],
        )
        .await
        .expect("reset the form");
    let input = browser.find(Locator::Id("receipt")).await.expect("the file input");
    input
        .send_keys(path.to_str().expect("a UTF-8 temp path"))
        .await
        .expect("choose the file");
    let verdict = match browser
        .wait()
        .at_most(VERDICT_WITHIN)
        .every(Duration::from_millis(100))
        .for_element(Locator::Css("#result p.ok, #result p.fail"))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            let shown = result_text(browser).await;
            panic!("no verdict for {name} within {VERDICT_WITHIN:?} ({e}); #result shows: {shown:?}");
        }
    };
    Verdict {
        class: verdict.attr("class").await.expect("class").unwrap_or_default(),
        text: verdict.text().await.expect("text"),
        all: result_text(browser).await,
    }
}

async fn result_text(browser: &Client) -> String {
    match browser.find(Locator::Id("result")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => format!("(no #result: {e})"),
    }
}

fn tamper(original: &Value, change: impl FnOnce(&mut Value)) -> String {
    let mut r = original.clone();
    change(&mut r);
    serde_json::to_string_pretty(&r).expect("json")
}

/// One hex digit changed, still lower-case hex.
fn flip_hex_digit(v: &mut Value) {
    let s = v.as_str().expect("a hex string");
    let first = if s.starts_with('0') { "1" } else { "0" };
    *v = Value::String(format!("{first}{}", &s[1..]));
}

/// One byte of a base64 string changed, re-encoded canonically.
fn flip_base64_byte(v: &mut Value, at: usize) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(v.as_str().expect("a base64 string")).expect("base64");
    bytes[at] ^= 0x01;
    *v = Value::String(b64.encode(bytes));
}

/// The last byte of the checkpoint's signature line (`— <name> <base64>`)
/// changed, still canonical base64: the note is well formed, its signature false.
fn flip_signature(v: &mut Value) {
    let note = v.as_str().expect("the checkpoint note");
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut flipped = false;
    let lines: Vec<String> = note
        .split('\n')
        .map(
            |line| match line.strip_prefix("— ").and_then(|rest| rest.rsplit_once(' ')) {
                Some((name, sig)) if !flipped => {
                    let mut bytes = b64.decode(sig).expect("a base64 signature");
                    let last = bytes.len() - 1;
                    bytes[last] ^= 0x01;
                    flipped = true;
                    format!("— {name} {}", b64.encode(bytes))
                }
                _ => line.to_owned(),
            },
        )
        .collect();
    assert!(flipped, "the checkpoint has a signature line: {note}");
    *v = Value::String(lines.join("\n"));
}

fn draw_commit_pool(receipt: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(receipt["commit"]["entry"].as_str().expect("commit entry"))
        .expect("base64");
    match vrs_draw::entry::Entry::decode(&bytes) {
        Ok(vrs_draw::entry::Entry::DrawCommit(c)) => c.pool_id,
        _ => panic!("the receipt's commit is a draw-commit"),
    }
}

// ---------------------------------------------------------------- the site

async fn http_status(url: &str) -> Option<u16> {
    let tls = vrs_kit::tls::https_client_config("").expect("TLS configuration");
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    http.get(url).send().await.ok().map(|r| r.status().as_u16())
}
