//! The clerks' console in a real browser (issue 13): a clerk signs in
//! through the identity provider stand-in and takes a dossier from the queue
//! to a printed certificate (the print stylesheet's PDF, and the
//! certificate's own PDF, read back with `pdftotext`); a form posted without
//! its CSRF token is refused; a clerk of another office is refused. Every
//! page is screenshot under `target/screenshots/` and checked with axe-core.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use fantoccini::{Client, Locator};
use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::browser_kit::{
    accessible, axe_source, chromedriver_or_skip, required, screenshot, screenshots_dir, with_browser,
};
use crate::helpers::{Backend, ConsoleStack, TestApp, spawn_app, to_fee_paid};

/// How long a page may take to show what is expected (a property, polled).
const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_takes_a_dossier_to_a_printed_certificate_in_a_real_browser() {
    let Some(chromedriver) = chromedriver_or_skip("the clerks' console") else {
        return;
    };
    let axe = axe_source();
    let app = spawn_app(Backend::Sqlite).await;
    let a = app
        .submit(app.sample(Case::Clean, 3, "CON.000003"))
        .await
        .expect("submit");
    let a = to_fee_paid(&app, &a).await;
    let stack = ConsoleStack::start(&app, &a.office_code).await;

    with_browser(&chromedriver, async |browser, work| {
        scenario(browser, &app, &stack, &a, axe.as_deref(), work).await
    })
    .await;
    stack.stop().await;
}

async fn scenario(
    browser: &Client,
    app: &TestApp,
    stack: &ConsoleStack,
    a: &pb::Application,
    axe: Option<&str>,
    work: &Path,
) {
    let shots = screenshots_dir();
    let id = a.application_id.clone();

    // The queue asks for a sign-in at the provider first.
    browser
        .goto(&format!("{}/queue", stack.url))
        .await
        .expect("open the console");
    wait_for(browser, "#username").await;
    assert!(
        browser
            .current_url()
            .await
            .expect("url")
            .as_str()
            .starts_with(&stack.idp_url)
    );
    screenshot(browser, &shots, "console-sign-in.png").await;
    accessible(browser, axe, "the provider's sign-in").await;
    sign_in(browser, "clerk-here", &stack.password).await;

    // The queue: the dossier, waiting for the clerk.
    wait_for(browser, "#queue").await;
    let queue = text(browser, "main").await;
    assert!(queue.contains(&a.dossier_code), "{queue}");
    assert!(queue.contains("Đã nộp lệ phí"), "{queue}");
    screenshot(browser, &shots, "console-queue.png").await;
    accessible(browser, axe, "/queue").await;

    // The dossier: declaration against the agencies.
    browser
        .find(Locator::LinkText(&a.dossier_code))
        .await
        .expect("the dossier's link")
        .click()
        .await
        .expect("open the dossier");
    wait_for(browser, "#form-approve").await;
    let page = text(browser, "main").await;
    assert!(page.contains("Không có điểm khác."), "{page}");
    screenshot(browser, &shots, "console-dossier.png").await;
    accessible(browser, axe, "/dossiers/{id}").await;

    // A form whose CSRF token was taken out is refused, and nothing changes.
    browser
        .execute(
            "const f = document.querySelector('#form-approve'); f.querySelector('input[name=csrf]').remove(); f.submit();",
            vec![],
        )
        .await
        .expect("post without the token");
    wait_text(browser, "Biểu mẫu không hợp lệ").await;
    assert_eq!(app.get(&id).await.state(), pb::ApplicationState::FeePaid);
    browser
        .goto(&format!("{}/dossiers/{id}", stack.url))
        .await
        .expect("back");
    wait_for(browser, "#form-physical-check").await;

    // The physical check, the approval and the certificate, by the forms.
    let v = a.vehicle.clone().expect("vehicle");
    fill(browser, "#pc-chassis", &v.chassis_number).await;
    fill(browser, "#pc-engine", &v.engine_number).await;
    click(browser, "#form-physical-check button[type=submit]").await;
    wait_text(browser, "Đã ghi kết quả kiểm tra thực tế.").await;
    click(browser, "#approve").await;
    wait_text(browser, "Đã duyệt hồ sơ.").await;
    click(browser, "#issue").await;
    wait_for(browser, "#certificate-number").await;
    let issued = app.get(&id).await;
    assert_eq!(issued.state(), pb::ApplicationState::Issued);
    let number = text(browser, "#certificate-number").await;
    assert_eq!(number, issued.certificate_number);
    let actors: Vec<&str> = issued.history.iter().map(|h| h.actor.as_str()).collect();
    assert!(actors.ends_with(&["clerk-here", "clerk-here"]), "{actors:?}");

    // The certificate page, and what printing it gives.
    click(browser, "#print-link").await;
    wait_for(browser, "article.certificate").await;
    screenshot(browser, &shots, "console-certificate.png").await;
    accessible(browser, axe, "/dossiers/{id}/certificate").await;
    let printed = browser
        .print(fantoccini::wd::PrintConfiguration::default())
        .await
        .expect("print the page");
    let owner = match issued.owner.as_ref().and_then(|o| o.kind.as_ref()) {
        Some(pb::owner::Kind::Individual(i)) => i.full_name.clone(),
        Some(pb::owner::Kind::Organisation(o)) => o.name.clone(),
        None => panic!("an owner"),
    };
    let expected = [
        owner.as_str(),
        issued.plate.as_str(),
        number.as_str(),
        &v.chassis_number,
    ];
    if let Some(text) = pdf_text(&printed, work, "printed.pdf") {
        for e in expected {
            assert!(text.contains(e), "the printed page shows {e}:\n{text}");
        }
        assert!(
            !text.contains("Hàng đợi hồ sơ"),
            "the print stylesheet leaves the navigation out:\n{text}"
        );
    }

    // The certificate's PDF, downloaded with the browser's session.
    let cookie = browser
        .get_named_cookie("__Host-vrs-console")
        .await
        .expect("the session cookie in the browser");
    assert!(cookie.http_only().unwrap_or(false), "HttpOnly");
    let tls = vrs_kit::tls::https_client_config("").expect("TLS configuration");
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client");
    let pdf = http
        .get(format!("{}/dossiers/{id}/certificate.pdf", stack.url))
        .header("cookie", format!("__Host-vrs-console={}", cookie.value()))
        .send()
        .await
        .expect("GET the PDF");
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let pdf = pdf.bytes().await.expect("the PDF");
    if let Some(text) = pdf_text(&pdf, work, "certificate.pdf") {
        for e in expected {
            assert!(text.contains(e), "the certificate PDF shows {e}:\n{text}");
        }
        assert!(text.contains("GIẤY CHỨNG NHẬN ĐĂNG KÝ XE"), "{text}");
    }

    // Signed out, a clerk of another office signs in: registration refuses them the dossier.
    browser
        .goto(&format!("{}/dossiers/{id}", stack.url))
        .await
        .expect("back");
    click(browser, "#sign-out").await;
    wait_text(browser, "Bạn đã đăng xuất.").await;
    browser
        .goto(&format!("{}/dossiers/{id}", stack.url))
        .await
        .expect("the dossier again");
    wait_for(browser, "#username").await;
    sign_in(browser, "clerk-elsewhere", &stack.password).await;
    wait_text(browser, "không có quyền").await;
    let refused = text(browser, "main").await;
    assert!(!refused.contains(&owner), "nothing of the dossier is shown: {refused}");
    screenshot(browser, &shots, "console-other-office.png").await;
    accessible(browser, axe, "the other office's refusal").await;

    // A supervisor's pages, in Vietnamese and in English.
    browser.goto(&format!("{}/queue", stack.url)).await.expect("the queue");
    click(browser, "#sign-out").await;
    wait_text(browser, "Bạn đã đăng xuất.").await;
    screenshot(browser, &shots, "console-signed-out.png").await;
    accessible(browser, axe, "/signed-out").await;
    browser
        .goto(&format!("{}/supervisor/outbox", stack.url))
        .await
        .expect("the outbox");
    wait_for(browser, "#username").await;
    sign_in(browser, "supervisor-1", &stack.password).await;
    wait_for(browser, "#outbox").await;
    let pages = [
        ("/supervisor/outbox", "#outbox", "console-outbox.png"),
        ("/supervisor/auctions", "#form-auction", "console-auctions.png"),
        ("/supervisor/access", "#form-access", "console-access.png"),
        ("/actions?actor=clerk-here", "#actions", "console-actions.png"),
        (
            &format!("/queue?office={}&state=ALL", a.office_code),
            "#queue",
            "console-supervisor-queue.png",
        ),
        (&format!("/dossiers/{id}"), "#compare", "console-supervisor-dossier.png"),
    ];
    for (path, marker, shot) in pages {
        browser
            .goto(&format!("{}{path}", stack.url))
            .await
            .expect("a supervisor's page");
        wait_for(browser, marker).await;
        screenshot(browser, &shots, shot).await;
        accessible(browser, axe, path).await;
    }
    // The clerk's actions as the supervisor sees them: the three steps of this test.
    browser
        .goto(&format!("{}/actions?actor=clerk-here", stack.url))
        .await
        .expect("actions");
    wait_for(browser, "#actions").await;
    let actions = text(browser, "#actions").await;
    assert!(
        actions.contains("Đã cấp giấy đăng ký") && actions.contains("Đã duyệt"),
        "{actions}"
    );
    // English, by the switch in the header; the choice stays.
    click(browser, "a[hreflang=en]").await;
    wait_text(browser, "Actions of clerk-here").await;
    let lang = browser
        .find(Locator::Css("html"))
        .await
        .expect("html")
        .attr("lang")
        .await
        .expect("lang");
    assert_eq!(lang.as_deref(), Some("en"));
    browser
        .goto(&format!("{}/dossiers/{id}", stack.url))
        .await
        .expect("the dossier");
    wait_text(browser, "Declaration against the agencies' records").await;
    screenshot(browser, &shots, "console-dossier-en.png").await;
    accessible(browser, axe, "/dossiers/{id} in English").await;
}

async fn sign_in(browser: &Client, username: &str, password: &str) {
    fill(browser, "#username", username).await;
    fill(browser, "#password", password).await;
    click(browser, "#sign-in").await;
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn wait_for(browser: &Client, css: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while browser.find(Locator::Css(css)).await.is_err() {
        let url = browser.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let body = browser.source().await.unwrap_or_default();
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never appeared at {url}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_text(browser: &Client, needle: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let body = browser.source().await.unwrap_or_default();
        if body.contains(needle) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{needle:?} never appeared:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of a PDF by `pdftotext`, or `None`, announced, when it is not
/// installed (a failure under `VRS_REQUIRE_BROWSER=1`).
fn pdf_text(pdf: &[u8], work: &Path, name: &str) -> Option<String> {
    assert!(pdf.starts_with(b"%PDF-"), "{name} is a PDF");
    let path = work.join(name);
    std::fs::write(&path, pdf).expect("write the PDF");
    match std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => panic!("pdftotext failed on {name}: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => {
            assert!(
                !required(),
                "pdftotext is not installed ({e}): apt-get install -y poppler-utils"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the text of {name} was not checked: pdftotext is not installed (apt-get install -y poppler-utils)"
            );
            None
        }
    }
}
