//! The pages, as HTML strings: Vietnamese first (English in small print),
//! dates dd/mm/yyyy in Viet Nam's time, no script but the site's own files
//! (the Content-Security-Policy forbids inline script), and nothing personal:
//! the log holds none.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use crate::mirror::{Draw, Shared};

pub use vrs_kit::html::{count, esc, seg, when};

/// SHA-256 of a key's text, in groups of four hex digits for reading aloud.
pub fn fingerprint(text: &str) -> String {
    let hex = hex::encode(Sha256::digest(text.as_bytes()));
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Minh bạch bốc số biển số</title>
<link rel="stylesheet" href="/static/site.css">
</head>
<body>
<header>
<p class="brand"><a href="/">Minh bạch bốc số biển số xe</a> <span lang="en">Plate draw transparency</span></p>
<nav aria-label="Chính">
<ul>
<li><a href="/">Tổng quan</a></li>
<li><a href="/verify">Kiểm tra biên nhận</a></li>
<li><a href="/log">Tải nhật ký</a></li>
</ul>
</nav>
</header>
<main id="main">
{body}
</main>
<footer>
<p>Mọi số liệu trên trang này được lấy từ nhật ký công khai và chỉ hiển thị sau khi chữ ký của điểm kiểm tra và gốc cây Merkle đã được kiểm chứng. Nhật ký không chứa dữ liệu cá nhân.</p>
</footer>
</body>
</html>
"#,
        title = esc(title),
    )
}

fn warning(s: &Shared) -> String {
    match &s.error {
        Some(e) => format!(
            r#"<p class="warning" role="alert">Lần cập nhật gần nhất không kiểm chứng được nhật ký; trang đang hiển thị trạng thái đã kiểm chứng trước đó. <span lang="en">Last refresh failed: {}</span></p>"#,
            esc(e)
        ),
        None => String::new(),
    }
}

pub fn home(s: &Shared) -> String {
    let v = &s.view;
    let mut body = String::new();
    body.push_str("<h1>Minh bạch bốc số biển số xe</h1>\n");
    body.push_str(&warning(s));
    if v.size == 0 && v.note.is_empty() {
        body.push_str("<p>Chưa đọc được nhật ký. Trang sẽ tự cập nhật khi dịch vụ đăng ký trả lời.</p>\n");
        return layout("Tổng quan", &body);
    }
    let _ = write!(
        body,
        r#"<section aria-labelledby="cp">
<h2 id="cp">Điểm kiểm tra mới nhất</h2>
<dl>
<dt>Số mục trong nhật ký</dt><dd>{size}</dd>
<dt>Gốc cây Merkle</dt><dd><code>{root}</code></dd>
<dt>Kiểm chứng lúc</dt><dd>{at}</dd>
</dl>
<p>Điểm kiểm tra đã ký (định dạng C2SP signed note), để so sánh với bản bạn giữ:</p>
<pre>{note}</pre>
</section>
"#,
        size = count(v.size),
        root = hex::encode(v.root),
        at = when(v.verified_at_ms),
        note = esc(&v.note),
    );
    body.push_str(
        r#"<section aria-labelledby="pools">
<h2 id="pools">Các kho số</h2>
<table>
<caption>Số còn lại để bốc và số đã bốc trong mỗi kho</caption>
<thead><tr><th scope="col">Kho số</th><th scope="col">Còn lại</th><th scope="col">Đã bốc</th><th scope="col">Đang chờ kết quả</th><th scope="col">Mở lúc</th></tr></thead>
<tbody>
"#,
    );
    for (id, p) in &v.pools {
        let _ = writeln!(
            body,
            r#"<tr><th scope="row"><a href="/pools/{href}">{id}</a></th><td>{avail}</td><td>{drawn}</td><td>{pending}</td><td>{opened}</td></tr>"#,
            href = seg(id),
            id = esc(id),
            avail = count(u64::from(p.state.available_count())),
            drawn = count(p.drawn),
            pending = count(p.pending),
            opened = when(p.opened_at_ms as i64),
        );
    }
    body.push_str("</tbody>\n</table>\n</section>\n");
    if !v.findings.is_empty() {
        let _ = write!(
            body,
            r#"<section aria-labelledby="findings"><h2 id="findings">Phát hiện khi kiểm toán</h2><p class="warning">Việc phát lại nhật ký ghi nhận {} điểm bất thường:</p><ul>"#,
            v.findings.len()
        );
        for f in v.findings.iter().take(50) {
            let _ = write!(body, "<li><code>{}</code></li>", esc(f));
        }
        body.push_str("</ul></section>\n");
    }
    layout("Tổng quan", &body)
}

fn draws_table(caption: &str, draws: &[&Draw]) -> String {
    let mut body = format!(
        r#"<table>
<caption>{}</caption>
<thead><tr><th scope="col">Biển số</th><th scope="col">Vòng beacon</th><th scope="col">Cam kết lúc</th><th scope="col">Có kết quả lúc</th><th scope="col">Cam kết (băm)</th></tr></thead>
<tbody>
"#,
        esc(caption)
    );
    for d in draws {
        let _ = writeln!(
            body,
            r#"<tr><th scope="row"><a href="/plates/{href}">{plate}</a></th><td>{round}</td><td>{c}</td><td>{r}</td><td><code>{commit}</code></td></tr>"#,
            href = seg(&d.plate),
            plate = esc(&d.plate),
            round = d.round,
            c = when(d.committed_at_ms as i64),
            r = when(d.resolved_at_ms as i64),
            commit = &d.commitment[..16.min(d.commitment.len())],
        );
    }
    body.push_str("</tbody>\n</table>\n");
    body
}

/// A pool's page, or `None` if the log has no such pool.
pub fn pool(s: &Shared, id: &str) -> Option<String> {
    let p = s.view.pools.get(id)?;
    let mut body = format!("<h1>Kho số {}</h1>\n{}", esc(id), warning(s));
    let _ = writeln!(
        body,
        "<p>Còn lại <strong>{}</strong> số; đã bốc {}; đang chờ kết quả {}.</p>",
        count(u64::from(p.state.available_count())),
        count(p.drawn),
        count(p.pending)
    );
    let draws: Vec<&Draw> = p.draws.iter().collect();
    if draws.is_empty() {
        body.push_str("<p>Kho này chưa có lượt bốc nào.</p>\n");
    } else {
        body.push_str(&draws_table(
            &format!(
                "Các lượt bốc gần nhất (tối đa {}), mới nhất trước",
                crate::mirror::RECENT_DRAWS
            ),
            &draws,
        ));
    }
    Some(layout(&format!("Kho số {id}"), &body))
}

/// A plate's draw evidence, or `None` if no draw gave it.
pub fn plate(s: &Shared, plate: &str) -> Option<String> {
    let d = s.view.plates.get(plate)?;
    let mut body = format!("<h1>Biển số {}</h1>\n{}", esc(&d.plate), warning(s));
    let _ = write!(
        body,
        r#"<p>Biển số này được cấp bằng bốc số ngẫu nhiên có thể kiểm chứng. Người được cấp giữ biên nhận; bất kỳ ai có biên nhận đều có thể <a href="/verify">kiểm tra nó</a> ngay trên trình duyệt.</p>
<dl>
<dt>Kho số</dt><dd><a href="/pools/{pool_href}">{pool}</a></dd>
<dt>Số được bốc</dt><dd>{number:05}</dd>
<dt>Cam kết (mục số)</dt><dd>{ci}, lúc {c}</dd>
<dt>Số còn lại khi cam kết</dt><dd>{avail}</dd>
<dt>Beacon và vòng</dt><dd>{beacon}, vòng {round}</dd>
<dt>Kết quả (mục số)</dt><dd>{ri}, lúc {r}</dd>
<dt>Số lần rút</dt><dd>{attempts}</dd>
<dt>Cam kết hồ sơ (băm có muối)</dt><dd><code>{commitment}</code></dd>
</dl>
<p><a href="/log/entries?start={ci}&amp;end={ci_end}">Tải mục cam kết</a> · <a href="/log/entries?start={ri}&amp;end={ri_end}">Tải mục kết quả</a></p>
"#,
        pool_href = seg(&d.pool_id),
        pool = esc(&d.pool_id),
        number = d.number,
        ci = d.commit_index,
        ci_end = d.commit_index + 1,
        c = when(d.committed_at_ms as i64),
        avail = count(u64::from(d.available_at_commit)),
        beacon = esc(&d.beacon_id),
        round = d.round,
        ri = d.result_index,
        ri_end = d.result_index + 1,
        r = when(d.resolved_at_ms as i64),
        attempts = d.attempts,
        commitment = esc(&d.commitment),
    );
    Some(layout(&format!("Biển số {}", d.plate), &body))
}

pub fn not_found(what: &str) -> String {
    layout(
        "Không tìm thấy",
        &format!(
            "<h1>Không tìm thấy</h1>\n<p>{}</p>\n<p><a href=\"/\">Về trang tổng quan</a></p>\n",
            esc(what)
        ),
    )
}

/// The downloads page.
pub fn log(s: &Shared) -> String {
    let size = s.view.size;
    let body = format!(
        r#"<h1>Tải nhật ký</h1>
<p>Nhật ký có {count} mục. Mỗi mục là chuỗi byte theo đặc tả (<code>contracts/draw/SPEC.md</code> §3), tải về dạng JSON (chỉ số và base64), tối đa 10.000 mục mỗi lần.</p>
<ul>
<li><a href="/log/checkpoint">Điểm kiểm tra mới nhất</a> (văn bản đã ký)</li>
<li><a href="/log/entries?start=0&amp;end={first}">Các mục 0–{last}</a></li>
<li><a href="/trust.json">Các khóa tin cậy</a> (<code>trust.json</code>, để kiểm tra biên nhận và kiểm toán)</li>
<li><a href="/log/rotations.json">Các lần đổi khóa của nhật ký</a></li>
</ul>
<p>Để phát lại toàn bộ nhật ký: <code>vrsctl audit --trust trust.json</code>.</p>
"#,
        count = count(size),
        first = size.min(10_000),
        last = size.min(10_000).saturating_sub(1),
    );
    layout("Tải nhật ký", &body)
}

/// The receipt checker: the trust the site pins is embedded as data (not
/// script) and shown with its fingerprints, to compare through another
/// channel; the receipt is read from a local file and never leaves the browser.
pub fn verify(s: &Shared) -> String {
    let mut keys = String::new();
    if let Some(t) = &s.trust {
        let _ = write!(
            keys,
            "<li>Khóa nhật ký <code>{}</code><br>dấu vân tay SHA-256: <code>{}</code></li>",
            esc(&t.log_key),
            fingerprint(&t.log_key)
        );
        for b in &t.beacons {
            let _ = write!(
                keys,
                "<li>Beacon <code>{}</code><br>dấu vân tay SHA-256: <code>{}</code></li>",
                esc(&b.beacon_id),
                fingerprint(&b.public_key)
            );
        }
    }
    let body = format!(
        r##"<h1>Kiểm tra biên nhận bốc số</h1>
<p>Chọn tệp biên nhận (<code>receipt-….json</code>) bạn nhận được khi bốc số. Tệp được kiểm tra ngay trong trình duyệt này: không gửi đi đâu, và vẫn kiểm tra được khi đã mất mạng sau khi trang tải xong.</p>
<form id="check" action="#">
<p><label for="receipt">Tệp biên nhận</label>
<input type="file" id="receipt" name="receipt" accept=".json,application/json"></p>
</form>
<div id="result" role="status" aria-live="polite"></div>
<section aria-labelledby="trust-h">
<h2 id="trust-h">Các khóa được tin cậy</h2>
<p>Trang kiểm tra với các khóa dưới đây. Hãy so dấu vân tay với một nguồn độc lập (công báo, trang của cơ quan đăng ký) trước khi tin kết quả.</p>
<ul>{keys}</ul>
</section>
<script type="application/json" id="trust">{trust}</script>
<script src="/static/verify.bundle.js"></script>
<script src="/static/verify-page.js"></script>
"##,
        keys = keys,
        // A data block, not script: entities are not decoded inside it, so
        // only a closing tag could break out; JSON may write `<` as \u003c.
        trust = s.trust_json.replace('<', "\\u003c"),
    );
    layout("Kiểm tra biên nhận", &body)
}
