//! What supervisors (and auditors, reading) see beyond the queue: a clerk's
//! actions, the portal outbox and its dead letters, auction results, and
//! revoking a departed or compromised account's access. A clerk reaches
//! only their own actions; registration enforces each of these rules.

use std::fmt::Write;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vrs_kit::html::{count, esc, seg, when_rfc3339};
use vrs_kit::token::Role;
use vrs_proto::pb::registration::v1 as pb;

use crate::error::Problem;
use crate::view::{self, csrf};
use crate::{App, Posted, Signed};

#[derive(Deserialize)]
pub struct ActionsQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    page: String,
}

/// One actor's actions, newest first: the clerk's own, or anyone's for supervisors and auditors.
pub async fn actions(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<ActionsQuery>,
) -> Result<Response, Problem> {
    let l = signed.lang;
    let s = &signed.session;
    let reads_others = s.has(Role::Supervisor) || s.has(Role::Auditor);
    let actor = if reads_others && !q.actor.trim().is_empty() {
        q.actor.trim().to_owned()
    } else {
        s.subject.clone()
    };
    let mut b = String::new();
    if reads_others {
        let _ = write!(
            b,
            r#"<form method="get" action="/actions"><div class="field"><label for="actor">{}</label><input type="text" id="actor" name="actor" value="{}" autocomplete="off"> <button type="submit">{}</button></div></form>"#,
            l.t(
                "Tài khoản cán bộ (hoặc system, worker, portal)",
                "Officer account (or system, worker, portal)"
            ),
            esc(&actor),
            l.t("Xem", "Show"),
        );
    }
    let page = app
        .registry
        .as_clerk(s)?
        .list_actions(pb::ListActionsRequest {
            actor: actor.clone(),
            page_size: 50,
            page_token: q.page.clone(),
        })
        .await?
        .into_inner();
    let _ = write!(
        b,
        r#"<table id="actions"><caption>{} {}</caption>{}<tbody>"#,
        l.t("Thao tác của", "Actions of"),
        esc(&actor),
        view::head(
            l,
            &[
                ("Lúc", "When"),
                ("Hồ sơ", "Dossier"),
                ("Trạng thái", "State"),
                ("Mã lý do", "Reason"),
                ("Ghi chú", "Note")
            ]
        ),
    );
    if page.actions.is_empty() {
        let _ = write!(
            b,
            r#"<tr><td colspan="5">{}</td></tr>"#,
            l.t("Chưa có thao tác nào.", "No action yet.")
        );
    }
    for a in &page.actions {
        let c = a.change.clone().unwrap_or_default();
        let _ = write!(
            b,
            r#"<tr><td>{}</td><td><a href="/dossiers/{}">{}</a></td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>"#,
            when_rfc3339(&c.at),
            seg(&a.application_id),
            l.t("mở", "open"),
            crate::routes::dossier::transition(l, &c),
            esc(&c.reason_code),
            esc(&c.note),
        );
    }
    b.push_str("</tbody></table>");
    if !page.next_page_token.is_empty() {
        let _ = write!(
            b,
            r#"<nav class="pager" aria-label="{}"><a href="/actions?actor={}&amp;page={}" rel="next">{}</a></nav>"#,
            l.t("Trang", "Pages"),
            seg(&actor),
            seg(&page.next_page_token),
            l.t("Cũ hơn »", "Older »")
        );
    }
    Ok(view::page(view::layout(
        &signed.frame(),
        l.t("Thao tác đã làm", "Actions"),
        &b,
    )))
}

/// The portal outbox: what waits, what is dead-lettered, and the retry.
pub async fn outbox(State(app): State<App>, signed: Signed) -> Result<Response, Problem> {
    let l = signed.lang;
    let st = app
        .registry
        .as_clerk(&signed.session)?
        .get_outbox_status(pb::GetOutboxStatusRequest { dead_letters: 100 })
        .await?
        .into_inner();
    let mut b = format!(
        r#"<p>{}</p><dl id="outbox"><dt>{}</dt><dd id="pending">{}</dd><dt>{}</dt><dd id="dead">{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>"#,
        l.t(
            "Mỗi thay đổi trạng thái được gửi sang Cổng dịch vụ công. Thư không gửi được sau nhiều lần thử nằm ở hộp thư chết cho đến khi được gửi lại.",
            "Every status change is pushed to the public service portal. One that failed every retry waits in the dead letters until retried.",
        ),
        l.t("Đang chờ gửi", "Pending"),
        count(st.pending),
        l.t("Thư chết (gửi thất bại)", "Dead letters"),
        count(st.dead),
        l.t("Đã gửi", "Delivered"),
        count(st.delivered),
        l.t("Thư chờ lâu nhất", "Oldest pending"),
        if st.oldest_pending_age_ms > 0 {
            format!("{} s", count(u64::try_from(st.oldest_pending_age_ms / 1000).unwrap_or(0)))
        } else {
            "—".into()
        },
    );
    if !st.dead_letters.is_empty() {
        let _ = write!(
            b,
            r#"<table id="dead-letters"><caption>{} ({} {})</caption>{}<tbody>"#,
            l.t("Thư chết, cũ nhất trước", "Dead letters, oldest first"),
            l.t("tối đa", "at most"),
            st.dead_letters.len(),
            view::head(
                l,
                &[
                    ("Lúc", "When"),
                    ("Hồ sơ", "Dossier"),
                    ("Thứ tự", "Seq"),
                    ("Trạng thái báo Cổng", "Status to tell"),
                    ("Số lần gửi", "Attempts"),
                    ("Lỗi cuối", "Last error"),
                ]
            ),
        );
        for d in &st.dead_letters {
            let status = pb::ApplicationState::from_str_name(&format!("APPLICATION_STATE_{}", d.status))
                .map_or_else(|| d.status.clone(), |s| l.state(s).to_owned());
            let _ = write!(
                b,
                r#"<tr><td>{}</td><td><a href="/dossiers/{}">{}</a></td><td class="num">{}</td><td>{} <code>{}</code></td><td class="num">{}</td><td><code>{}</code></td></tr>"#,
                when_rfc3339(&d.at),
                seg(&d.application_id),
                l.t("mở", "open"),
                d.seq,
                esc(&status),
                esc(&d.reason_code),
                d.attempts,
                esc(&d.last_error),
            );
        }
        b.push_str("</tbody></table>");
    }
    if st.dead > 0 {
        let _ = write!(
            b,
            r#"<form method="post" action="/supervisor/outbox/retry">{}<p>{}</p><button type="submit" id="retry">{}</button></form>"#,
            csrf(&signed.session),
            l.t(
                "Chỉ gửi lại sau khi Cổng đã được khắc phục.",
                "Retry only once the portal is fixed."
            ),
            l.t("Gửi lại các thư chết", "Retry the dead letters"),
        );
    }
    Ok(view::page(view::layout(
        &signed.frame(),
        l.t("Hộp thư đi sang Cổng", "Portal outbox"),
        &b,
    )))
}

pub async fn retry(State(app): State<App>, posted: Posted) -> Result<Response, Problem> {
    let l = posted.signed.lang;
    let r = app
        .registry
        .as_clerk(&posted.signed.session)?
        .retry_dead_letters(pb::RetryDeadLettersRequest {})
        .await?
        .into_inner();
    tracing::info!(subject = %posted.signed.session.subject, requeued = r.requeued, "dead letters requeued");
    app.sessions.flash(
        &posted.signed.cookie,
        format!("{} {}", l.t("Đã đưa lại vào hàng gửi:", "Requeued:"), count(r.requeued)),
    );
    Ok(Redirect::to("/supervisor/outbox").into_response())
}

/// Auction results (Decree 156/2024): a won number is entered for its winner.
/// The form, then the results recorded so far, newest first.
pub async fn auctions(State(app): State<App>, signed: Signed) -> Result<Response, Problem> {
    let l = signed.lang;
    let results = app
        .registry
        .as_clerk(&signed.session)?
        .list_auction_results(pb::ListAuctionResultsRequest { limit: 100 })
        .await?
        .into_inner()
        .results;
    let mut b = auction_form(&signed, "");
    let _ = write!(
        b,
        r#"<table id="auction-results"><caption>{}</caption>{}<tbody>"#,
        l.t("Kết quả đã ghi, mới nhất trước", "Results recorded, newest first"),
        view::head(
            l,
            &[
                ("Lúc", "When"),
                ("Biển số", "Plate"),
                ("Kho số", "Pool"),
                ("Người trúng đã nhận", "Claimed by the winner"),
            ]
        ),
    );
    if results.is_empty() {
        let _ = write!(
            b,
            r#"<tr><td colspan="4">{}</td></tr>"#,
            l.t("Chưa có kết quả nào.", "No result yet.")
        );
    }
    for r in &results {
        let claimed = if r.application_id.is_empty() {
            l.t("Chưa", "Not yet").to_owned()
        } else {
            format!(
                r#"<a href="/dossiers/{}">{}</a>"#,
                seg(&r.application_id),
                l.t("Đã nhận: xem hồ sơ", "Yes: the dossier")
            )
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{claimed}</td></tr>",
            when_rfc3339(&r.at),
            esc(&r.plate),
            esc(&r.pool_id),
        );
    }
    b.push_str("</tbody></table>");
    Ok(view::page(view::layout(
        &signed.frame(),
        l.t("Kết quả đấu giá biển số", "Plate auction results"),
        &b,
    )))
}

fn auction_page(signed: &Signed, notice: &str) -> String {
    let l = signed.lang;
    view::layout(
        &signed.frame(),
        l.t("Kết quả đấu giá biển số", "Plate auction results"),
        &auction_form(signed, notice),
    )
}

fn auction_form(signed: &Signed, notice: &str) -> String {
    let l = signed.lang;
    format!(
        r#"{notice}<p>{}</p>
<form method="post" action="/supervisor/auctions" id="form-auction">{}
<div class="field"><label for="au-pool">{}</label><input type="text" id="au-pool" name="pool_id" required placeholder="30-car-white-A" autocomplete="off"></div>
<div class="field"><label for="au-number">{}</label><input type="text" id="au-number" name="number" required inputmode="numeric" pattern="[0-9]{{1,5}}" autocomplete="off"></div>
<div class="field"><label for="au-owner">{}</label><input type="text" id="au-owner" name="owner_id" required autocomplete="off"></div>
<button type="submit">{}</button></form>"#,
        l.t(
            "Nhập kết quả đấu giá biển số từ nền tảng đấu giá quốc gia. Số trúng đấu giá phải đang được giữ lại trong kho số; lần bốc số tiếp theo của người trúng ở địa phương và loại xe đó sẽ xác nhận số này thay vì bốc.",
            "Enter an auction result from the national auction platform. The number must be withheld in its pool; the winner's next draw in that locality and class confirms it instead of drawing.",
        ),
        csrf(&signed.session),
        l.t("Kho số (mã)", "Pool"),
        l.t("Số trúng đấu giá (5 chữ số)", "Number won (5 digits)"),
        l.t("Số định danh hoặc mã số thuế người trúng", "Winner's personal ID or tax code"),
        l.t("Ghi kết quả", "Record the result"),
    )
}

pub async fn record_auction(State(app): State<App>, posted: Posted) -> Result<Response, Problem> {
    let l = posted.signed.lang;
    let Ok(number) = posted.get("number").parse::<u32>() else {
        let refused = Problem::bad_input(
            "number",
            l.t("Số trúng đấu giá phải là số.", "The number must be digits."),
        );
        return settle(&app, &posted, Err(refused), "/supervisor/auctions", auction_page);
    };
    let result = app
        .registry
        .as_clerk(&posted.signed.session)?
        .record_auction_win(pb::RecordAuctionWinRequest {
            pool_id: posted.get("pool_id"),
            number,
            owner_id: posted.get("owner_id"),
        })
        .await;
    let done = result.map_err(Problem::from).map(|r| {
        let plate = r.into_inner().plate;
        format!(
            "{} {plate}",
            l.t(
                "Đã ghi kết quả đấu giá cho biển số",
                "Auction result recorded for plate"
            )
        )
    });
    settle(&app, &posted, done, "/supervisor/auctions", auction_page)
}

/// After a supervisor's form: back to its page with `done` as the flash,
/// or the page again with the refusal and the status that says why.
fn settle(
    app: &App,
    posted: &Posted,
    done: Result<String, Problem>,
    back: &str,
    page: fn(&Signed, &str) -> String,
) -> Result<Response, Problem> {
    match done {
        Ok(message) => {
            app.sessions.flash(&posted.signed.cookie, message);
            Ok(Redirect::to(back).into_response())
        }
        Err(Problem::Refused {
            status,
            message,
            fields,
        }) => {
            let notice = view::refusal(posted.signed.lang, &message, &fields);
            Ok((status, view::page(page(&posted.signed, &notice))).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Revoking an account's access at once (a departed clerk, a lost device).
pub async fn access(signed: Signed) -> Result<Response, Problem> {
    Ok(view::page(access_page(&signed, "")))
}

fn access_page(signed: &Signed, notice: &str) -> String {
    let l = signed.lang;
    let b = format!(
        r#"{notice}<p>{}</p><form method="post" action="/supervisor/access" id="form-access">{}
<div class="field"><label for="ac-subject">{}</label><input type="text" id="ac-subject" name="subject" required autocomplete="off"></div>
<div class="field"><label for="ac-reason">{}</label><input type="text" id="ac-reason" name="reason" required autocomplete="off"></div>
<button type="submit" class="danger">{}</button></form>"#,
        l.t(
            "Mọi phiên và mã truy cập đã cấp cho tài khoản này bị từ chối ngay trên mọi máy chủ đăng ký.",
            "Every token issued to this account so far is refused at once on every registration server.",
        ),
        csrf(&signed.session),
        l.t("Tài khoản", "Account"),
        l.t("Lý do", "Reason"),
        l.t("Thu hồi quyền truy cập", "Revoke access"),
    );
    view::layout(&signed.frame(), l.t("Thu hồi quyền truy cập", "Revoke access"), &b)
}

pub async fn revoke_access(State(app): State<App>, posted: Posted) -> Result<Response, Problem> {
    let l = posted.signed.lang;
    let subject = posted.get("subject");
    let result = app
        .registry
        .as_clerk(&posted.signed.session)?
        .revoke_access(pb::RevokeAccessRequest {
            token_id: String::new(),
            subject: subject.clone(),
            reason: posted.get("reason"),
        })
        .await;
    let done = result.map_err(Problem::from).map(|_| {
        tracing::info!(by = %posted.signed.session.subject, %subject, "access revoked");
        format!(
            "{} {subject}",
            l.t("Đã thu hồi quyền truy cập của", "Access revoked for")
        )
    });
    settle(&app, &posted, done, "/supervisor/access", access_page)
}
