//! The clerks' console over plain HTTP, as a browser would use it but
//! step by step: the OpenID sign-in through the provider stand-in, the
//! cookies' attributes, CSRF and origin checks, the other office refused by
//! registration, the idle timeout, and no personal data in any link.
//!
//! One database: the console never touches it (what a clerk may do is
//! registration's decision, tested on both databases elsewhere).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, ConsoleStack, TestApp, spawn_app, to_fee_paid};

/// A user agent with a cookie jar, following no redirect by itself.
pub struct Agent {
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
    /// Every `Set-Cookie` seen, whole, to check attributes.
    pub set_cookies: Vec<String>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

impl Agent {
    pub fn new() -> Agent {
        let tls = vrs_kit::tls::https_client_config("").expect("TLS configuration");
        Agent {
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            cookies: HashMap::new(),
            set_cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn take(&mut self, r: reqwest::Response) -> Answer {
        for c in r.headers().get_all(SET_COOKIE) {
            let c = c.to_str().expect("ascii cookie").to_owned();
            let (pair, _) = c.split_once(';').unwrap_or((&c, ""));
            let (k, v) = pair.split_once('=').expect("name=value");
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
            self.set_cookies.push(c);
        }
        Answer {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.expect("body"),
        }
    }

    pub async fn get(&mut self, url: &str) -> Answer {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.take(r).await
    }

    pub async fn post(&mut self, url: &str, fields: &[(String, String)], origin: Option<&str>) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.expect("POST");
        self.take(r).await
    }

    /// Signs in as `username` through the provider; returns the page it lands on.
    pub async fn sign_in(&mut self, stack: &ConsoleStack, next: &str, username: &str, password: &str) -> Answer {
        let start = self
            .get(&format!("{}/auth/login?next={}", stack.url, vrs_kit::html::seg(next)))
            .await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        let authorize = start.location();
        assert!(authorize.starts_with(&stack.idp_url), "{authorize}");
        for p in ["code_challenge_method=S256", "code_challenge=", "nonce=", "state="] {
            assert!(authorize.contains(p), "PKCE, nonce and state: {authorize}");
        }
        let page = self.get(&authorize).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let (action, mut fields) = form_of(&page.body);
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        let action = absolute(&stack.idp_url, &action);
        let back = self.post(&action, &fields, Some(&stack.idp_url)).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        let callback = back.location();
        assert!(
            callback.starts_with(&format!("{}/auth/callback?", stack.url)),
            "{callback}"
        );
        let landed = self.get(&callback).await;
        if landed.status != StatusCode::SEE_OTHER {
            return landed;
        }
        let to = landed.location();
        assert_eq!(to, next);
        self.get(&format!("{}{to}", stack.url)).await
    }
}

fn absolute(base: &str, action: &str) -> String {
    if action.starts_with("http") {
        action.to_owned()
    } else {
        format!("{}{action}", base.trim_end_matches('/'))
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[at..].find('"')? + at;
    Some(unescape(&tag[at..end]))
}

/// The first form of a page: its action, and its hidden fields.
pub fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    form_with(html, "<form")
}

/// The form whose opening tag contains `marker` (e.g. its action), its
/// action and hidden fields.
pub fn form_with(html: &str, marker: &str) -> (String, Vec<(String, String)>) {
    let start = html
        .match_indices("<form")
        .map(|(i, _)| i)
        .find(|&i| html[i..].split('>').next().is_some_and(|t| t.contains(marker)))
        .unwrap_or_else(|| panic!("no form with {marker} in:\n{html}"));
    let end = html[start..].find("</form>").map_or(html.len(), |e| start + e);
    let form = &html[start..end];
    let open = form.split('>').next().unwrap_or_default();
    let action = attr(open, "action").unwrap_or_default();
    let hidden = form
        .split("<input")
        .skip(1)
        .filter_map(|t| {
            let tag = t.split('>').next()?;
            (tag.contains(r#"type="hidden""#))
                .then(|| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))?
        })
        .collect();
    (action, hidden)
}

/// Every `href` and `action` of a page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["href=\"", "action=\""] {
        for (i, _) in html.match_indices(key) {
            let rest = &html[i + key.len()..];
            out.push(unescape(rest.split('"').next().unwrap_or_default()));
        }
    }
    out
}

async fn dossier(app: &TestApp, n: usize) -> pb::Application {
    let a = app
        .submit(app.sample(Case::Clean, n, &format!("CON.{n:06}")))
        .await
        .expect("submit");
    to_fee_paid(app, &a).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_signs_in_and_acts_only_through_csrf_checked_forms() {
    let app = spawn_app(Backend::Sqlite).await;
    let a = dossier(&app, 1).await;
    assert_eq!(a.state(), pb::ApplicationState::FeePaid);
    let stack = ConsoleStack::start(&app, &a.office_code).await;
    let mut agent = Agent::new();

    // Not signed in: off to sign in, back here afterwards; every answer carries the headers.
    let first = agent.get(&format!("{}/queue", stack.url)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.location(), "/auth/login?next=%2Fqueue");
    let csp = first.headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert_eq!(first.headers["x-frame-options"], "DENY");

    // A wrong password is refused at the provider; the right one signs in.
    let start = agent.get(&format!("{}/auth/login", stack.url)).await;
    let page = agent.get(&start.location()).await;
    let (action, mut fields) = form_of(&page.body);
    fields.push(("username".into(), "clerk-here".into()));
    fields.push(("password".into(), "not-the-password".into()));
    let wrong = agent.post(&absolute(&stack.idp_url, &action), &fields, None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let queue = agent.sign_in(&stack, "/queue", "clerk-here", &stack.password).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    assert!(
        queue.body.contains(&a.dossier_code),
        "the dossier is in the queue:\n{}",
        queue.body
    );
    assert!(queue.body.contains("Nguyễn Văn An"), "the clerk's name is shown");
    let session_cookie = agent
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-vrs-console=") && !c.contains("Max-Age=0"))
        .expect("a session cookie")
        .clone();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert!(!session_cookie.contains("Domain="), "host-only: {session_cookie}");

    // The dossier page: the declaration against the agencies, no difference for a clean case.
    let url = format!("{}/dossiers/{}", stack.url, a.application_id);
    let page = agent.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Không có điểm khác."), "{}", page.body);
    let personal_id = match a.owner.as_ref().and_then(|o| o.kind.as_ref()) {
        Some(pb::owner::Kind::Individual(i)) => i.personal_id.clone(),
        Some(pb::owner::Kind::Organisation(o)) => o.tax_code.clone(),
        None => panic!("an owner"),
    };
    assert!(page.body.contains(&personal_id), "the clerk sees the owner's id");
    for l in links(&page.body).iter().chain(links(&queue.body).iter()) {
        assert!(!l.contains(&personal_id), "personal data in a link: {l}");
    }

    // A form without its CSRF token, or from another origin, is refused and changes nothing.
    let (approve, fields) = form_with(&page.body, "/approve");
    let without: Vec<(String, String)> = fields.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let refused = agent
        .post(&absolute(&stack.url, &approve), &without, Some(&stack.url))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let forged: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| {
            if k == "csrf" {
                (k.clone(), "forged".into())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let refused = agent.post(&absolute(&stack.url, &approve), &forged, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = agent
        .post(&absolute(&stack.url, &approve), &fields, Some("http://evil.example"))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&a.application_id).await.state(), pb::ApplicationState::FeePaid);

    // An approval the workflow refuses (a required physical check missing) comes back on the page.
    let a_now = app.get(&a.application_id).await;
    if a_now.physical_check_required {
        let r = agent
            .post(&absolute(&stack.url, &approve), &fields, Some(&stack.url))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert!(r.body.contains("role=\"alert\""), "{}", r.body);
        let (check, mut f) = form_with(&r.body, "/physical-check");
        let v = a.vehicle.clone().expect("vehicle");
        f.push(("chassis_number".into(), v.chassis_number));
        f.push(("engine_number".into(), v.engine_number));
        let r = agent.post(&absolute(&stack.url, &check), &f, Some(&stack.url)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    // With its token the form works, as the signed-in clerk.
    let done = agent
        .post(&absolute(&stack.url, &approve), &fields, Some(&stack.url))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let approved = app.get(&a.application_id).await;
    assert_eq!(approved.state(), pb::ApplicationState::Approved);
    assert_eq!(approved.history.last().map(|h| h.actor.as_str()), Some("clerk-here"));
    let after = agent.get(&url).await;
    assert!(after.body.contains("Đã duyệt hồ sơ."), "the flash: {}", after.body);

    // A rejection without a reason never reaches registration.
    let (reject, mut f) = form_with(&after.body, "/reject");
    f.push(("reason_code".into(), String::new()));
    let r = agent.post(&absolute(&stack.url, &reject), &f, Some(&stack.url)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get(&a.application_id).await.state(), pb::ApplicationState::Approved);

    // A callback replayed finds nothing to finish.
    let mut other = Agent::new();
    let start = other.get(&format!("{}/auth/login", stack.url)).await;
    let replay = other.get(&format!("{}/auth/callback?code=x&state=y", stack.url)).await;
    assert_eq!(
        replay.status,
        StatusCode::FORBIDDEN,
        "a state this browser did not start"
    );
    drop(start);

    // Signing out ends the session here at once.
    let (logout, f) = form_with(&after.body, "/auth/logout");
    let out = agent.post(&absolute(&stack.url, &logout), &f, Some(&stack.url)).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let again = agent.get(&url).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "signed out");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_office_is_refused_and_an_idle_session_ends() {
    let app = spawn_app(Backend::Sqlite).await;
    let a = dossier(&app, 2).await;
    let stack = ConsoleStack::start_with(&app, &a.office_code, |c| c.idle_timeout_s = 1).await;
    let url = format!("{}/dossiers/{}", stack.url, a.application_id);

    // Registration refuses the other office's clerk; the console says so with 403.
    let mut elsewhere = Agent::new();
    let page = elsewhere
        .sign_in(
            &stack,
            &format!("/dossiers/{}", a.application_id),
            "clerk-elsewhere",
            &stack.password,
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("không có quyền"), "{}", page.body);
    assert!(!page.body.contains(&a.dossier_code), "nothing of the dossier is shown");

    // The supervisor reads it (any office), and sees no form to act with.
    let mut supervisor = Agent::new();
    let page = supervisor
        .sign_in(
            &stack,
            &format!("/dossiers/{}", a.application_id),
            "supervisor-1",
            &stack.password,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("/approve"), "supervisors approve nothing");
    let outbox = supervisor.get(&format!("{}/supervisor/outbox", stack.url)).await;
    assert_eq!(outbox.status, StatusCode::OK, "{}", outbox.body);

    // Idle for longer than the timeout: signed out.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let idle = supervisor.get(&url).await;
    assert_eq!(idle.status, StatusCode::SEE_OTHER);
    assert!(idle.location().starts_with("/auth/login"), "{}", idle.location());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_the_dead_letters_and_retries_them() {
    use portal_standin::{Mode, Portal};
    let portal = Portal::start().await.expect("portal stand-in");
    portal.set(Mode::Refuse);
    let app =
        crate::helpers::spawn_app_with(Backend::Sqlite, |cfg| crate::portal_sync::fast_outbox(cfg, &portal)).await;
    let a = app
        .submit(app.sample(Case::Clean, 4, "CON.000004"))
        .await
        .expect("submit");
    crate::portal_sync::dead_lettered(&app.supervisor(), Duration::from_secs(20)).await;
    let stack = ConsoleStack::start(&app, &a.office_code).await;
    let mut supervisor = Agent::new();
    let page = supervisor
        .sign_in(&stack, "/supervisor/outbox", "supervisor-1", &stack.password)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"id="dead-letters""#), "{}", page.body);
    assert!(
        page.body.contains(&format!("/dossiers/{}", a.application_id)),
        "the dead letter names its dossier:\n{}",
        page.body
    );
    // The portal is fixed; the retry form puts everything back, and it all goes.
    portal.set(Mode::Up);
    let (retry, fields) = form_with(&page.body, "/supervisor/outbox/retry");
    let r = supervisor
        .post(&absolute(&stack.url, &retry), &fields, Some(&stack.url))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let s = crate::portal_sync::drained(&app.supervisor(), Duration::from_secs(30)).await;
    assert_eq!(s.dead, 0, "{s:?}");
    let after = supervisor.get(&format!("{}/supervisor/outbox", stack.url)).await;
    assert!(
        after.body.contains("Đã đưa lại vào hàng gửi:"),
        "the flash:\n{}",
        after.body
    );
    assert!(!after.body.contains(r#"id="dead-letters""#), "{}", after.body);
    stack.stop().await;
}
