//! Signing in and out (OpenID Connect, code flow with PKCE), and the language switch.
//!
//! Cookies: every one is host-only (`__Host-`), `Secure` (browsers keep
//! those over HTTPS, and over plain HTTP on loopback for local runs),
//! `HttpOnly` and `SameSite=Lax`: Lax, not Strict, because the return from
//! the identity provider is a navigation from another site, which must
//! carry the sign-in cookie; no cookie alone authorises a change, since
//! every form also carries the session's CSRF token.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vrs_kit::token::Role;

use crate::error::Problem;
use crate::i18n::{self, Lang};
use crate::session::{self, Session, random_token};
use crate::view::{self, Frame};
use crate::{App, Posted};

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// A path of the console to return to; anything else (another site,
/// `//host`, a backslash trick) becomes the queue.
pub fn local_path(next: &str) -> String {
    // Visible ASCII only: browsers drop tabs and newlines from a URL, so
    // `/<TAB>/evil.example` would become `//evil.example`, another site.
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.bytes().all(|b| b.is_ascii_graphic())
        && !next.contains('\\')
        && !next.contains(':');
    if ok { next.to_owned() } else { "/queue".to_owned() }
}

fn set_cookie(r: &mut Response, name: &str, value: &str, max_age_s: i64) {
    let c = format!("{name}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; Secure; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn redirect_uri(app: &App) -> String {
    format!("{}/auth/callback", app.public_url)
}

/// Starts a sign-in: off to the identity provider.
pub async fn login(State(app): State<App>, Query(q): Query<LoginQuery>) -> Response {
    let verifier = random_token();
    let nonce = random_token();
    let state = app.sessions.begin(verifier.clone(), nonce.clone(), local_path(&q.next));
    match app
        .oidc
        .authorize_url(&redirect_uri(&app), &state, &nonce, &verifier)
        .await
    {
        Ok(url) => {
            let mut r = Redirect::to(&url).into_response();
            set_cookie(&mut r, session::SIGNIN_COOKIE, &state, 600);
            r
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "identity provider unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                view::page(view::error_page(
                    "Không kết nối được cổng định danh của Công an. Hãy thử lại sau ít phút.",
                    "The police identity provider cannot be reached. Try again in a few minutes.",
                    "",
                )),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// The provider sends the browser back: finish the sign-in.
pub async fn callback(State(app): State<App>, headers: axum::http::HeaderMap, Query(q): Query<Callback>) -> Response {
    let bound = crate::header_cookie(&headers, session::SIGNIN_COOKIE).unwrap_or_default();
    // The state must be the one this browser started: a callback link sent
    // by someone else (login CSRF) finds no sign-in to finish.
    if q.state.is_empty() || !vrs_kit::keys::same_secret(&bound, &q.state) {
        return refused(
            StatusCode::FORBIDDEN,
            "Phiên đăng nhập này không do trình duyệt của bạn bắt đầu. Hãy đăng nhập lại.",
            "This sign-in was not started by your browser. Sign in again.",
        );
    }
    let Some(pending) = app.sessions.finish(&q.state) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Phiên đăng nhập đã hết hạn hoặc đã dùng. Hãy đăng nhập lại.",
            "This sign-in has expired or was used already. Sign in again.",
        );
    };
    if !q.error.is_empty() || q.code.is_empty() {
        tracing::warn!(error = %q.error, "the identity provider returned no code");
        return refused(
            StatusCode::UNAUTHORIZED,
            "Cổng định danh không xác nhận đăng nhập.",
            "The identity provider did not confirm the sign-in.",
        );
    }
    let signed = match app
        .oidc
        .exchange(&q.code, &pending.verifier, &redirect_uri(&app), &pending.nonce)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "sign-in refused");
            return refused(
                StatusCode::UNAUTHORIZED,
                "Không hoàn tất được đăng nhập. Hãy đăng nhập lại.",
                "The sign-in could not be completed. Sign in again.",
            );
        }
    };
    let c = signed.claims;
    // The console is for staff: a portal account has nothing to do here.
    if !c
        .roles
        .iter()
        .any(|r| matches!(r, Role::Clerk | Role::Supervisor | Role::Auditor))
    {
        return refused(
            StatusCode::FORBIDDEN,
            "Tài khoản này không phải tài khoản cán bộ đăng ký xe.",
            "This account is not a registry officer's.",
        );
    }
    tracing::info!(subject = %c.sub, office = c.office.as_deref().unwrap_or(""), "signed in");
    let name = if c.name.is_empty() { c.sub.clone() } else { c.name };
    let lifetime = signed.expires_at - chrono::Utc::now().timestamp();
    let session = Session::new(c.sub, name, c.roles, c.office, signed.access_token, signed.expires_at);
    let cookie = app.sessions.open(session);
    let mut r = Redirect::to(&pending.next).into_response();
    // The browser may forget the cookie when the session ends here anyway.
    set_cookie(&mut r, session::COOKIE, &cookie, lifetime.max(0));
    set_cookie(&mut r, session::SIGNIN_COOKIE, "", 0);
    r
}

fn refused(status: StatusCode, vi: &str, en: &str) -> Response {
    let mut r = (status, view::page(view::error_page(vi, en, ""))).into_response();
    set_cookie(&mut r, session::SIGNIN_COOKIE, "", 0);
    r
}

/// Signs out here, then at the provider.
pub async fn logout(State(app): State<App>, posted: Posted) -> Response {
    app.sessions.close(&posted.signed.cookie);
    tracing::info!(subject = %posted.signed.session.subject, "signed out");
    let back = format!("{}/signed-out", app.public_url);
    let to = app.oidc.logout_url(&back).await.unwrap_or_else(|| "/signed-out".into());
    let mut r = Redirect::to(&to).into_response();
    set_cookie(&mut r, session::COOKIE, "", 0);
    r
}

pub async fn signed_out(lang: Lang) -> Response {
    let f = Frame {
        lang,
        session: None,
        path: "/signed-out",
    };
    let body = format!(
        r#"<p>{}</p><p><a href="/auth/login">{}</a></p>"#,
        lang.t("Bạn đã đăng xuất.", "You have signed out."),
        lang.t("Đăng nhập lại", "Sign in again"),
    );
    view::page(view::layout(&f, lang.t("Đã đăng xuất", "Signed out"), &body))
}

#[derive(Deserialize)]
pub struct Back {
    #[serde(default)]
    back: String,
}

/// Switches the language and returns to the page.
pub async fn language(Path(code): Path<String>, Query(b): Query<Back>) -> Result<Response, Problem> {
    let lang = Lang::parse(&code).ok_or_else(|| Problem::NotFound(code.clone()))?;
    let mut r = Redirect::to(&local_path(&b.back)).into_response();
    let c = format!(
        "{}={}; Path=/; Max-Age=31536000; Secure; SameSite=Lax",
        i18n::COOKIE,
        lang.code()
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_console_paths_are_returned_to() {
        assert_eq!(local_path("/dossiers/abc"), "/dossiers/abc");
        assert_eq!(local_path("//evil.example/x"), "/queue");
        assert_eq!(local_path("https://evil.example/"), "/queue");
        assert_eq!(local_path("/\\evil.example"), "/queue");
        assert_eq!(local_path(""), "/queue");
        // Browsers drop tabs and newlines: these would become `//evil.example`.
        assert_eq!(local_path("/\t/evil.example"), "/queue");
        assert_eq!(local_path("/\n/evil.example"), "/queue");
        assert_eq!(local_path("/queue?state=FEE_PAID"), "/queue?state=FEE_PAID");
    }
}
