//! The pages, as HTML strings: Vietnamese first (English in small print),
//! no script and no inline style (the Content-Security-Policy allows
//! neither), labelled fields, one `<main>` and one `<h1>` a page.

use vrs_kit::html::esc;

/// The message after a wrong user name or password: the same for both, so
/// it does not tell which names exist.
pub const WRONG_CREDENTIALS: &str = "Tên đăng nhập hoặc mật khẩu không đúng.";

fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} — Cổng định danh Công an (bản mô phỏng)</title>
<link rel="stylesheet" href="/static/idp.css">
</head>
<body>
<header>
<p class="brand">Cổng định danh Công an <span class="tag">bản mô phỏng</span> <span lang="en">Police identity provider (stand-in)</span></p>
</header>
<main id="main">
{body}
</main>
<footer>
<p>Bản mô phỏng dùng khi chạy thử và kiểm thử hệ thống đăng ký xe; khi vận hành thật, đăng nhập qua cổng định danh của Bộ Công an.</p>
<p lang="en">A stand-in for local runs and tests; production signs in at the police identity provider.</p>
</footer>
</body>
</html>
"#,
        title = esc(title),
    )
}

/// What the sign-in page shows.
pub struct SignIn<'a> {
    /// The authorisation request, posted back with the credentials.
    pub hidden: &'a [(&'static str, &'a str)],
    /// The application asking for the sign-in.
    pub client_id: &'a str,
    /// The name typed before a failed attempt (never the password).
    pub username: &'a str,
    /// Whether the last attempt failed.
    pub failed: bool,
}

pub fn sign_in(s: &SignIn<'_>) -> String {
    let hidden: String = s
        .hidden
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n", esc(value)))
        .collect();
    let (error, invalid) = if s.failed {
        (
            format!(
                "<p class=\"error\" id=\"sign-in-error\" role=\"alert\">{WRONG_CREDENTIALS} \
                 <span lang=\"en\">Wrong user name or password.</span></p>\n"
            ),
            " aria-invalid=\"true\" aria-describedby=\"sign-in-error\"",
        )
    } else {
        (String::new(), "")
    };
    let body = format!(
        r#"<h1>Đăng nhập <span lang="en">Sign in</span></h1>
<p>Ứng dụng <strong>{client}</strong> đề nghị bạn đăng nhập. <span lang="en">The application asks you to sign in.</span></p>
{error}<form method="post" action="/authorize" class="sign-in">
{hidden}<div class="field">
<label for="username">Tên đăng nhập <span lang="en">User name</span></label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required value="{username}"{invalid}>
</div>
<div class="field">
<label for="password">Mật khẩu <span lang="en">Password</span></label>
<input id="password" name="password" type="password" autocomplete="current-password" required{invalid}>
</div>
<button id="sign-in" type="submit">Đăng nhập</button>
</form>
"#,
        client = esc(s.client_id),
        username = esc(s.username),
    );
    layout("Đăng nhập", &body)
}

/// A request that cannot be answered by a redirect.
pub fn refused(vi: &str, en: &str) -> String {
    let body = format!(
        r#"<h1>Yêu cầu đăng nhập không hợp lệ <span lang="en">Invalid sign-in request</span></h1>
<p class="error" role="alert">{vi} <span lang="en">{en}</span></p>
<p>Hãy quay lại ứng dụng và đăng nhập lại từ đầu. <span lang="en">Go back to the application and start again.</span></p>
"#,
        vi = esc(vi),
        en = esc(en),
    );
    layout("Yêu cầu không hợp lệ", &body)
}

pub fn signed_out() -> String {
    layout(
        "Đã đăng xuất",
        r#"<h1>Đã đăng xuất <span lang="en">Signed out</span></h1>
<p>Bạn đã đăng xuất. Cổng định danh mô phỏng không giữ phiên đăng nhập: lần sau bạn sẽ được hỏi mật khẩu. <span lang="en">You are signed out; the next sign-in asks for the password again.</span></p>
"#,
    )
}

pub fn not_found() -> String {
    layout(
        "Không có trang này",
        r#"<h1>Không có trang này <span lang="en">Not found</span></h1>
"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_page_escapes_what_it_echoes() {
        let html = sign_in(&SignIn {
            hidden: &[("state", "\"><script>x</script>")],
            client_id: "<app>",
            username: "a\"b",
            failed: true,
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""));
        assert!(html.contains("value=\"a&quot;b\""));
        assert!(html.contains(WRONG_CREDENTIALS));
        assert!(!html.contains("style="));
    }
}
