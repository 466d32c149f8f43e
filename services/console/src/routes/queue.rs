//! The office's queue: states with their counts, filters, age, paging.
//!
//! A clerk sees their own office; supervisors and auditors pick an office.
//! The URL carries only states, a page size, the API's opaque page token
//! and an office code: nothing about a citizen.

use std::fmt::Write;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use vrs_kit::html::{count, esc, seg, when_rfc3339};
use vrs_kit::token::Role;
use vrs_proto::pb::registration::v1 as pb;

use crate::error::Problem;
use crate::view::{self, age};
use crate::{App, Signed};

/// What a clerk works on: everything between a verified dossier and a
/// handed-over certificate. The default filter.
pub const TO_DO: &[pb::ApplicationState] = &[
    pb::ApplicationState::Verified,
    pb::ApplicationState::Approved,
    pb::ApplicationState::PlateAssigned,
    pb::ApplicationState::FeePaid,
    pb::ApplicationState::Issued,
];

/// Every state, in workflow order.
pub const ALL: &[pb::ApplicationState] = &[
    pb::ApplicationState::Submitted,
    pb::ApplicationState::AwaitingAgency,
    pb::ApplicationState::Verified,
    pb::ApplicationState::NeedsCorrection,
    pb::ApplicationState::Approved,
    pb::ApplicationState::PlateAssigned,
    pb::ApplicationState::FeePaid,
    pb::ApplicationState::Issued,
    pb::ApplicationState::Delivered,
    pb::ApplicationState::Rejected,
    pb::ApplicationState::Withdrawn,
    pb::ApplicationState::Deregistered,
];

/// The queue's filters, from the query string.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub states: Vec<pb::ApplicationState>,
    pub size: u32,
    pub page: String,
    pub office: String,
}

impl Filter {
    pub fn parse(raw: &str) -> Filter {
        let mut f = Filter {
            size: 50,
            ..Filter::default()
        };
        let mut any_state = false;
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            match &*k {
                "state" => {
                    any_state = true;
                    if let Some(s) = pb::ApplicationState::from_str_name(&format!("APPLICATION_STATE_{v}"))
                        && s != pb::ApplicationState::Unspecified
                        && !f.states.contains(&s)
                    {
                        f.states.push(s);
                    }
                }
                "size" => f.size = v.parse::<u32>().map(|n| n.clamp(10, 200)).unwrap_or(50),
                "page" => f.page = v.into_owned(),
                "office" => f.office = v.trim().to_ascii_uppercase(),
                _ => {}
            }
        }
        if !any_state {
            f.states = TO_DO.to_vec();
        }
        f
    }

    /// The query string of this filter at another page.
    fn query(&self, page: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for s in &self.states {
            q.append_pair("state", short(*s));
        }
        if self.states.is_empty() {
            q.append_pair("state", "ALL");
        }
        q.append_pair("size", &self.size.to_string());
        if !self.office.is_empty() {
            q.append_pair("office", &self.office);
        }
        if !page.is_empty() {
            q.append_pair("page", page);
        }
        q.finish()
    }
}

/// `VERIFIED` for `APPLICATION_STATE_VERIFIED`.
pub fn short(s: pb::ApplicationState) -> &'static str {
    s.as_str_name().trim_start_matches("APPLICATION_STATE_")
}

pub async fn queue(State(app): State<App>, signed: Signed, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let l = signed.lang;
    let s = &signed.session;
    let mut filter = Filter::parse(raw.as_deref().unwrap_or(""));
    // A clerk's queue is their office's; others choose one.
    let office = match (&s.office, s.has(Role::Clerk)) {
        (Some(o), true) => o.clone(),
        _ => filter.office.clone(),
    };
    filter.office = if s.has(Role::Clerk) {
        String::new()
    } else {
        office.clone()
    };
    let mut body = String::new();
    if !s.has(Role::Clerk) {
        let _ = write!(
            body,
            r#"<form method="get" action="/queue" class="no-print"><div class="field"><label for="office">{}</label>
<input type="text" id="office" name="office" value="{}" placeholder="PC-30" autocomplete="off"> <button type="submit">{}</button></div></form>"#,
            l.t("Đơn vị đăng ký (mã)", "Registry office (code)"),
            esc(&office),
            l.t("Xem", "Show"),
        );
        if office.is_empty() {
            let title = l.t("Hàng đợi hồ sơ", "Queue");
            return Ok(view::page(view::layout(&signed.frame(), title, &body)));
        }
    }
    let page = app
        .registry
        .as_clerk(s)?
        .list_applications(pb::ListApplicationsRequest {
            office_code: office.clone(),
            states: filter.states.iter().map(|s| *s as i32).collect(),
            page_size: filter.size,
            page_token: filter.page.clone(),
            with_counts: true,
        })
        .await
        .map_err(Problem::from)?
        .into_inner();

    // The counts, each a link to that state alone.
    let total: u64 = page.counts.iter().map(|c| c.count).sum();
    let _ = write!(
        body,
        r#"<h2 id="counts">{}</h2><ul class="counts" aria-labelledby="counts">"#,
        l.t("Số hồ sơ theo trạng thái", "Dossiers by state")
    );
    let _ = write!(
        body,
        r#"<li><a href="/queue?{}">{} <strong>{}</strong></a></li>"#,
        Filter {
            states: Vec::new(),
            ..filter_at(&filter)
        }
        .query(""),
        l.t("Tất cả", "All"),
        count(total)
    );
    for st in ALL {
        let n = page.counts.iter().find(|c| c.state() == *st).map_or(0, |c| c.count);
        if n == 0 {
            continue;
        }
        let current = filter.states == [*st];
        let _ = write!(
            body,
            r#"<li><a href="/queue?{}"{}>{} <strong>{}</strong></a></li>"#,
            Filter {
                states: vec![*st],
                ..filter_at(&filter)
            }
            .query(""),
            if current {
                r#" class="current" aria-current="true""#
            } else {
                ""
            },
            l.state(*st),
            count(n)
        );
    }
    body.push_str("</ul>");

    // The filter form: states and page size.
    let _ = write!(
        body,
        r#"<form method="get" action="/queue" class="no-print"><fieldset class="states"><legend>{}</legend>"#,
        l.t("Lọc theo trạng thái", "Filter by state")
    );
    for st in ALL {
        let id = format!("st-{}", short(*st));
        let _ = write!(
            body,
            r#"<label for="{id}"><input type="checkbox" id="{id}" name="state" value="{}"{}> {}</label>"#,
            short(*st),
            if filter.states.contains(st) { " checked" } else { "" },
            l.state(*st)
        );
    }
    body.push_str("</fieldset>");
    if !filter.office.is_empty() {
        let _ = write!(
            body,
            r#"<input type="hidden" name="office" value="{}">"#,
            esc(&filter.office)
        );
    }
    let _ = write!(
        body,
        r#"<label for="size">{}</label> <select id="size" name="size">"#,
        l.t("Số dòng mỗi trang", "Rows per page")
    );
    for n in [25u32, 50, 100, 200] {
        let _ = write!(
            body,
            r#"<option value="{n}"{}>{n}</option>"#,
            if n == filter.size { " selected" } else { "" }
        );
    }
    let _ = write!(
        body,
        r#"</select> <button type="submit">{}</button></form>"#,
        l.t("Lọc", "Filter")
    );

    // The page of dossiers, oldest first.
    let _ = write!(
        body,
        r#"<table id="queue"><caption>{} {} · {}</caption>{}<tbody>"#,
        l.t("Hồ sơ của", "Dossiers of"),
        esc(&office),
        l.t("cũ nhất trước", "oldest first"),
        view::head(
            l,
            &[
                ("Mã hồ sơ", "Dossier"),
                ("Chủ xe", "Owner"),
                ("Xe", "Vehicle"),
                ("Trạng thái", "State"),
                ("Đã nộp", "Submitted"),
                ("Tuổi hồ sơ", "Age"),
                ("Biển số", "Plate")
            ]
        ),
    );
    if page.applications.is_empty() {
        let _ = write!(
            body,
            r#"<tr><td colspan="7">{}</td></tr>"#,
            l.t(
                "Không có hồ sơ nào ở các trạng thái đã chọn.",
                "No dossier in the chosen states."
            )
        );
    }
    for a in &page.applications {
        let owner = match a.owner.as_ref().and_then(|o| o.kind.as_ref()) {
            Some(pb::owner::Kind::Individual(i)) => i.full_name.clone(),
            Some(pb::owner::Kind::Organisation(o)) => o.name.clone(),
            None => String::new(),
        };
        let vehicle = a
            .vehicle
            .as_ref()
            .map(|v| format!("{} · {} {}", l.class(v.vehicle_class()), v.make, v.model))
            .unwrap_or_default();
        let flag = if a.blocked_reason.is_empty() {
            String::new()
        } else {
            format!(r#" <span class="warning">({})</span>"#, esc(&a.blocked_reason))
        };
        let _ = write!(
            body,
            r#"<tr><td><a href="/dossiers/{}">{}</a></td><td>{}</td><td>{}</td><td class="state">{}{flag}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            seg(&a.application_id),
            esc(&a.dossier_code),
            esc(&owner),
            esc(&vehicle),
            l.state(a.state()),
            when_rfc3339(&a.created_at),
            age(l, &a.created_at),
            esc(&a.plate),
        );
    }
    body.push_str("</tbody></table>");
    let mut pager = String::new();
    if !filter.page.is_empty() {
        let _ = write!(
            pager,
            r#"<a href="/queue?{}">{}</a>"#,
            filter.query(""),
            l.t("« Trang đầu", "« First page")
        );
    }
    if !page.next_page_token.is_empty() {
        let _ = write!(
            pager,
            r#"<a href="/queue?{}" rel="next" id="next-page">{}</a>"#,
            filter.query(&page.next_page_token),
            l.t("Trang sau »", "Next page »")
        );
    }
    if !pager.is_empty() {
        let _ = write!(
            body,
            r#"<nav class="pager" aria-label="{}">{pager}</nav>"#,
            l.t("Trang", "Pages")
        );
    }
    let title = format!("{} {}", l.t("Hàng đợi hồ sơ", "Queue of"), office);
    Ok(view::page(view::layout(&signed.frame(), &title, &body)))
}

/// The filter's size and office, at the first page.
fn filter_at(f: &Filter) -> Filter {
    Filter {
        states: Vec::new(),
        size: f.size,
        page: String::new(),
        office: f.office.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_and_write_the_query() {
        let f = Filter::parse("state=VERIFIED&state=FEE_PAID&state=BOGUS&size=25&page=abc");
        assert_eq!(
            f.states,
            vec![pb::ApplicationState::Verified, pb::ApplicationState::FeePaid]
        );
        assert_eq!(f.size, 25);
        assert_eq!(Filter::parse(&f.query("abc")), f);
        // No state asked: the clerk's to-do states; "ALL" alone: every state.
        assert_eq!(Filter::parse("").states, TO_DO);
        assert!(Filter::parse("state=ALL").states.is_empty());
        assert_eq!(Filter::parse("size=100000").size, 200);
    }
}
