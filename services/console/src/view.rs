//! The frame of every page, and the small pieces pages share.
//!
//! Plain HTML from the server, one stylesheet, one script file for the
//! print button (the Content-Security-Policy allows no inline script). Forms
//! work without script. Nothing personal goes into a URL: dossiers are
//! named by their application id, filters by state.

use std::fmt::Write;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use vrs_kit::html::esc;
use vrs_kit::token::Role;

use crate::i18n::Lang;
use crate::session::Session;

/// An HTML page that no cache keeps (it holds personal data).
pub fn page(html: String) -> Response {
    let mut r = Html(html).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// What the frame needs to know of the request.
pub struct Frame<'a> {
    pub lang: Lang,
    pub session: Option<&'a Session>,
    /// This page's path, for the language switch to come back to.
    pub path: &'a str,
}

/// The whole page around `body`.
pub fn layout(f: &Frame<'_>, title: &str, body: &str) -> String {
    let l = f.lang;
    let mut nav = String::new();
    let mut user = String::new();
    let mut flash = String::new();
    if let Some(s) = f.session {
        let _ = write!(
            nav,
            r#"<li><a href="/queue">{}</a></li>"#,
            l.t("Hàng đợi hồ sơ", "Queue")
        );
        let _ = write!(
            nav,
            r#"<li><a href="/actions">{}</a></li>"#,
            l.t("Thao tác đã làm", "Actions")
        );
        if s.has(Role::Supervisor) {
            let _ = write!(
                nav,
                r#"<li><a href="/supervisor/outbox">{}</a></li><li><a href="/supervisor/auctions">{}</a></li><li><a href="/supervisor/access">{}</a></li>"#,
                l.t("Hộp thư đi", "Outbox"),
                l.t("Kết quả đấu giá", "Auction results"),
                l.t("Thu hồi quyền truy cập", "Revoke access"),
            );
        }
        let office = s
            .office
            .as_deref()
            .map(|o| format!(" · {}", esc(o)))
            .unwrap_or_default();
        let _ = write!(
            user,
            r#"<div class="user"><span>{} ({}{office})</span>
<form method="post" action="/auth/logout"><input type="hidden" name="csrf" value="{}"><button type="submit" id="sign-out">{}</button></form></div>"#,
            esc(&s.name),
            esc(&s.subject),
            esc(&s.csrf),
            l.t("Đăng xuất", "Sign out"),
        );
        if let Some(m) = &s.flash {
            let _ = write!(flash, r#"<p class="flash" role="status">{}</p>"#, esc(m));
        }
    }
    let other = l.other();
    format!(
        r##"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {app}</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">{skip}</a>
<header>
<div class="top"><p class="brand"><a href="/queue">{app}</a></p>{user}</div>
<nav aria-label="{navlabel}"><ul>{nav}<li><a href="/lang/{other_code}?back={back}" lang="{other_code}" hreflang="{other_code}">{other_name}</a></li></ul></nav>
</header>
<main id="main">
{flash}<h1>{title}</h1>
{body}
</main>
<footer><p>{footer}</p></footer>
</body>
</html>"##,
        lang = l.code(),
        title = esc(title),
        app = l.t(
            "Đăng ký xe · Bàn làm việc cán bộ",
            "Vehicle registration · Clerks' console"
        ),
        skip = l.t("Bỏ qua, đến nội dung chính", "Skip to content"),
        navlabel = l.t("Điều hướng", "Navigation"),
        other_code = other.code(),
        other_name = other.t("Tiếng Việt", "English"),
        back = vrs_kit::html::seg(f.path),
        footer = l.t(
            "Mọi thao tác được hệ thống đăng ký kiểm tra quyền và ghi lại theo tài khoản của bạn.",
            "Every action is authorised by the registration service and recorded under your account."
        ),
    )
}

/// The page an error becomes: both languages, since the error may come
/// before the clerk's choice is known.
pub fn error_page(vi: &str, en: &str, detail: &str) -> String {
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="detail" lang="en">{}</p>"#, esc(detail))
    };
    format!(
        r#"<!doctype html>
<html lang="vi">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{vi_title}</title><link rel="stylesheet" href="/static/console.css"></head>
<body><main id="main"><h1>{vi}</h1><p lang="en">{en}</p>{detail}
<p><a href="/queue">Về hàng đợi hồ sơ</a> · <a href="/auth/login">Đăng nhập lại</a></p></main></body></html>"#,
        vi_title = esc(vi),
        vi = esc(vi),
        en = esc(en),
    )
}

/// A notice at the top of a page: what was refused and which fields.
pub fn refusal(l: Lang, message: &str, fields: &[(String, String)]) -> String {
    let mut out = format!(
        r#"<div class="refused" role="alert"><p>{}</p><p class="detail" lang="en">{}</p>"#,
        l.t(
            "Hệ thống đăng ký không chấp nhận thao tác này:",
            "The registration service refused this:"
        ),
        esc(message)
    );
    if !fields.is_empty() {
        out.push_str("<ul>");
        for (f, d) in fields {
            let _ = write!(out, "<li><code>{}</code>: {}</li>", esc(f), esc(d));
        }
        out.push_str("</ul>");
    }
    out.push_str("</div>");
    out
}

/// A table's head: one column header per `(Vietnamese, English)` pair.
pub fn head(l: Lang, columns: &[(&str, &str)]) -> String {
    let mut out = String::from("<thead><tr>");
    for (vi, en) in columns {
        let _ = write!(out, r#"<th scope="col">{}</th>"#, l.t(vi, en));
    }
    out.push_str("</tr></thead>");
    out
}

/// The hidden field every form carries.
pub fn csrf(s: &Session) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(&s.csrf))
}

/// `3 ngày 4 giờ` since an RFC 3339 time.
pub fn age(l: Lang, since: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(since) else {
        return "—".into();
    };
    let mins = (chrono::Utc::now() - t.to_utc()).num_minutes().max(0);
    let (d, h, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    match (d, h) {
        (0, 0) => format!("{m} {}", l.t("phút", "min")),
        (0, h) => format!("{h} {} {m} {}", l.t("giờ", "h"), l.t("phút", "min")),
        (d, h) => format!("{d} {} {h} {}", l.t("ngày", "d"), l.t("giờ", "h")),
    }
}
