//! A dossier: the declaration beside each agency's record with every
//! difference marked, the evidence kept, the history, the physical checks,
//! and the forms of what the workflow allows next.
//!
//! The forms shown follow the state, but registration decides: a form
//! posted at the wrong moment comes back with its refusal on this page.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use vrs_kit::html::{date, dong, esc, seg, when_rfc3339};
use vrs_proto::pb::customs::v1 as customs;
use vrs_proto::pb::identity::v1 as identity;
use vrs_proto::pb::register::v1 as register;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::tax::v1 as tax;

use crate::error::Problem;
use crate::i18n::{Lang, REJECT_REASONS};
use crate::view::{self, csrf};
use crate::{App, Posted, Signed};

use pb::ApplicationState as S;

pub async fn show(State(app): State<App>, signed: Signed, Path(id): Path<String>) -> Result<Response, Problem> {
    let inspected = app.registry.inspect(&signed.session, &id).await?;
    Ok(view::page(render(&signed, &inspected, "")))
}

/// One posted form: the action, then back to the dossier (or the dossier
/// again with the refusal, and the status that says why).
pub async fn act(
    State(app): State<App>,
    Path((id, action)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, Problem> {
    let l = posted.signed.lang;
    let outcome = run(&app, &id, &action, &posted).await;
    match outcome {
        Ok(done) => {
            tracing::info!(application_id = %id, action = %action, subject = %posted.signed.session.subject, "clerk action");
            app.sessions.flash(&posted.signed.cookie, done.to_owned());
            Ok(Redirect::to(&format!("/dossiers/{}", seg(&id))).into_response())
        }
        Err(Problem::Refused {
            status,
            message,
            fields,
        }) => {
            tracing::info!(application_id = %id, action = %action, %message, "clerk action refused");
            let inspected = app.registry.inspect(&posted.signed.session, &id).await?;
            let notice = view::refusal(l, &message, &fields);
            Ok((status, view::page(render(&posted.signed, &inspected, &notice))).into_response())
        }
        Err(other) => Err(other),
    }
}

async fn run(app: &App, id: &str, action: &str, p: &Posted) -> Result<&'static str, Problem> {
    let l = p.signed.lang;
    let mut c = app.registry.as_clerk(&p.signed.session)?;
    let application_id = id.to_owned();
    match action {
        "physical-check" => {
            c.record_physical_check(pb::RecordPhysicalCheckRequest {
                application_id,
                chassis_number: p.get("chassis_number"),
                engine_number: p.get("engine_number"),
                note: p.get("note"),
            })
            .await?;
            Ok(l.t("Đã ghi kết quả kiểm tra thực tế.", "The physical check is recorded."))
        }
        "approve" => {
            c.approve_application(pb::ApproveApplicationRequest {
                application_id,
                note: p.get("note"),
            })
            .await?;
            Ok(l.t("Đã duyệt hồ sơ.", "The dossier is approved."))
        }
        "reject" => {
            let reason = p.get("reason_code");
            let note = p.get("note");
            if !REJECT_REASONS.contains(&reason.as_str()) {
                return Err(Problem::bad_input(
                    "reason_code",
                    l.t("Hãy chọn lý do từ chối.", "Choose a reason."),
                ));
            }
            if reason == "OTHER" && note.is_empty() {
                return Err(Problem::bad_input(
                    "note",
                    l.t(
                        "Lý do khác: hãy ghi rõ trong phần ghi chú.",
                        "Other: explain in the note.",
                    ),
                ));
            }
            c.reject_application(pb::RejectApplicationRequest {
                application_id,
                reason_code: reason,
                note,
            })
            .await?;
            Ok(l.t("Đã từ chối hồ sơ.", "The dossier is rejected."))
        }
        "issue" => {
            c.issue_certificate(pb::IssueCertificateRequest { application_id })
                .await?;
            Ok(l.t(
                "Đã cấp giấy chứng nhận đăng ký xe.",
                "The registration certificate is issued.",
            ))
        }
        "reissue" => {
            let reason = p.get("reason_code");
            if !["LOST", "DAMAGED"].contains(&reason.as_str()) {
                return Err(Problem::bad_input(
                    "reason_code",
                    l.t("Hãy chọn lý do cấp lại.", "Choose why."),
                ));
            }
            c.reissue_certificate(pb::ReissueCertificateRequest {
                application_id,
                reason_code: reason,
            })
            .await?;
            Ok(l.t(
                "Đã cấp lại giấy chứng nhận; số cũ hết hiệu lực.",
                "The certificate is reissued; the old number is void.",
            ))
        }
        "revoke" => {
            let reason = p.get("reason_code");
            if !["OWNERSHIP_TRANSFER", "SCRAPPED", "COLOUR_CONVERSION"].contains(&reason.as_str()) {
                return Err(Problem::bad_input(
                    "reason_code",
                    l.t("Hãy chọn lý do thu hồi.", "Choose why."),
                ));
            }
            if p.get("confirm") != "yes" {
                return Err(Problem::bad_input(
                    "confirm",
                    l.t("Hãy đánh dấu ô xác nhận thu hồi.", "Tick the box to confirm."),
                ));
            }
            c.revoke_plate(pb::RevokePlateRequest {
                application_id,
                reason_code: reason,
            })
            .await?;
            Ok(l.t(
                "Đã thu hồi đăng ký; biển số được giữ lại cho chủ xe 5 năm.",
                "Deregistered; the plate is kept for the owner for five years.",
            ))
        }
        "deliver" => {
            c.confirm_delivery(pb::ConfirmDeliveryRequest { application_id })
                .await?;
            Ok(l.t("Đã ghi nhận trả giấy chứng nhận và biển số.", "Handed over."))
        }
        _ => Err(Problem::NotFound(action.to_owned())),
    }
}

/// One line of the comparison.
struct Row {
    label: String,
    declared: String,
    agency: String,
    recorded: String,
    /// None: shown for information, not compared.
    matches: Option<bool>,
}

fn row(label: &str, declared: &str, agency: &str, recorded: &str, matches: Option<bool>) -> Row {
    Row {
        label: label.to_owned(),
        declared: declared.to_owned(),
        agency: agency.to_owned(),
        recorded: recorded.to_owned(),
        matches,
    }
}

/// Chassis and engine numbers: compared as registration compares them
/// (case, spaces and dashes ignored).
fn same_number(a: &str, b: &str) -> bool {
    let n = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect::<String>()
    };
    n(a) == n(b)
}

/// Names and makes: case and runs of spaces ignored, diacritics not.
fn same_text(a: &str, b: &str) -> bool {
    let n = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    n(a) == n(b)
}

fn agency_name(l: Lang, agency: &str) -> &'static str {
    match agency {
        "identity" => l.t("CSDL quốc gia về dân cư", "Population database"),
        "tax" => l.t("Cơ quan thuế", "Tax"),
        "customs" => l.t("Hải quan", "Customs"),
        "register" => l.t("Cục Đăng kiểm", "Vietnam Register"),
        _ => "—",
    }
}

/// The comparison of the declaration with every agency record.
fn compare(l: Lang, app: &pb::Application, records: &[pb::AgencyRecord]) -> Vec<Row> {
    let mut rows = Vec::new();
    let v = app.vehicle.clone().unwrap_or_default();
    for r in records {
        let agency = agency_name(l, &r.agency);
        match &r.record {
            Some(pb::agency_record::Record::Citizen(c)) => {
                if let Some(pb::owner::Kind::Individual(i)) = app.owner.as_ref().and_then(|o| o.kind.as_ref()) {
                    rows.push(row(
                        l.t("Số định danh cá nhân", "Personal ID"),
                        &i.personal_id,
                        agency,
                        &c.personal_id,
                        Some(i.personal_id == c.personal_id),
                    ));
                    rows.push(row(
                        l.t("Họ và tên chủ xe", "Owner's name"),
                        &i.full_name,
                        agency,
                        &c.full_name,
                        Some(same_text(&i.full_name, &c.full_name)),
                    ));
                }
                rows.push(row(
                    l.t("Ngày sinh", "Date of birth"),
                    "",
                    agency,
                    &date(&c.date_of_birth),
                    None,
                ));
                let alive = c.life_status() != identity::LifeStatus::Deceased;
                rows.push(row(
                    l.t("Tình trạng", "Status"),
                    "",
                    agency,
                    if alive {
                        l.t("Còn sống", "Alive")
                    } else {
                        l.t("Đã chết", "Deceased")
                    },
                    Some(alive),
                ));
                if let Some(res) = &c.residence {
                    rows.push(row(
                        l.t("Nơi thường trú (mã địa phương)", "Residence (locality code)"),
                        &app.locality_code,
                        agency,
                        &format!("{} · {}, {}", res.locality_code, res.address, res.province),
                        Some(res.locality_code == app.locality_code),
                    ));
                }
            }
            Some(pb::agency_record::Record::Organisation(o)) => {
                if let Some(pb::owner::Kind::Organisation(d)) = app.owner.as_ref().and_then(|o| o.kind.as_ref()) {
                    rows.push(row(
                        l.t("Mã số thuế", "Tax code"),
                        &d.tax_code,
                        agency,
                        &o.tax_code,
                        Some(d.tax_code == o.tax_code),
                    ));
                    rows.push(row(
                        l.t("Tên tổ chức", "Organisation"),
                        &d.name,
                        agency,
                        &o.name,
                        Some(same_text(&d.name, &o.name)),
                    ));
                }
                let active = o.status() != identity::OrganisationStatus::Closed;
                rows.push(row(
                    l.t("Tình trạng", "Status"),
                    "",
                    agency,
                    if active {
                        l.t("Đang hoạt động", "Active")
                    } else {
                        l.t("Đã giải thể / đóng mã số thuế", "Closed")
                    },
                    Some(active),
                ));
                if let Some(seat) = &o.seat {
                    rows.push(row(
                        l.t("Trụ sở (mã địa phương)", "Seat (locality code)"),
                        &app.locality_code,
                        agency,
                        &format!("{} · {}, {}", seat.locality_code, seat.address, seat.province),
                        Some(seat.locality_code == app.locality_code),
                    ));
                }
            }
            Some(pb::agency_record::Record::ImportDeclaration(d)) => {
                vehicle_rows(l, &mut rows, &v, agency, &VehicleRecord::from_customs(d))
            }
            Some(pb::agency_record::Record::QualityCertificate(q)) => {
                vehicle_rows(l, &mut rows, &v, agency, &VehicleRecord::from_register(q))
            }
            None if r.agency != "tax" => rows.push(row(
                l.t("Hồ sơ tại cơ quan", "Agency record"),
                "",
                agency,
                l.t("Không có hồ sơ", "No record"),
                Some(false),
            )),
            None => {}
        }
        if r.agency == "tax" {
            let fee = r
                .fee_records
                .iter()
                .find(|f| f.dossier_code == app.dossier_code)
                .or_else(|| r.fee_records.first());
            match fee {
                Some(f) => fee_rows(l, &mut rows, app, &v, agency, f),
                None => rows.push(row(
                    l.t("Lệ phí trước bạ", "Registration fee"),
                    "",
                    agency,
                    l.t("Không có tờ khai lệ phí", "No fee record"),
                    Some(false),
                )),
            }
        }
    }
    rows
}

/// The vehicle as customs or Vietnam Register knows it.
struct VehicleRecord {
    number_label: (&'static str, &'static str),
    /// Customs' declaration, whose number the citizen declares too (Vietnam
    /// Register's certificate number is not declared).
    customs: bool,
    number: String,
    chassis: String,
    engine: String,
    make: String,
    model: String,
    seats: u32,
    about: String,
}

impl VehicleRecord {
    fn from_customs(d: &customs::ImportDeclaration) -> VehicleRecord {
        VehicleRecord {
            number_label: ("Số tờ khai hải quan", "Customs declaration"),
            customs: true,
            number: d.declaration_number.clone(),
            chassis: d.chassis_number.clone(),
            engine: d.engine_number.clone(),
            make: d.make.clone(),
            model: d.model.clone(),
            seats: d.seats,
            about: format!(
                "{} · {} · {} · {}",
                d.year_of_manufacture,
                d.country_of_origin,
                d.importer_name,
                date(&d.cleared_on)
            ),
        }
    }

    fn from_register(q: &register::QualityCertificate) -> VehicleRecord {
        VehicleRecord {
            number_label: ("Số phiếu kiểm tra chất lượng xuất xưởng", "Quality certificate"),
            customs: false,
            number: q.certificate_number.clone(),
            chassis: q.chassis_number.clone(),
            engine: q.engine_number.clone(),
            make: q.make.clone(),
            model: q.model.clone(),
            seats: q.seats,
            about: format!(
                "{} · {} · {}",
                q.year_of_manufacture,
                q.manufacturer,
                date(&q.issued_on)
            ),
        }
    }
}

fn vehicle_rows(l: Lang, rows: &mut Vec<Row>, v: &pb::Vehicle, agency: &str, r: &VehicleRecord) {
    let declared_number = if r.customs {
        v.customs_declaration_number.clone()
    } else {
        String::new()
    };
    let compared = (!declared_number.is_empty()).then(|| declared_number == r.number);
    rows.push(row(
        l.t(r.number_label.0, r.number_label.1),
        &declared_number,
        agency,
        &r.number,
        compared,
    ));
    rows.push(row(
        l.t("Số khung", "Chassis number"),
        &v.chassis_number,
        agency,
        &r.chassis,
        Some(same_number(&v.chassis_number, &r.chassis)),
    ));
    rows.push(row(
        l.t("Số máy", "Engine number"),
        &v.engine_number,
        agency,
        &r.engine,
        Some(same_number(&v.engine_number, &r.engine)),
    ));
    rows.push(row(
        l.t("Nhãn hiệu", "Make"),
        &v.make,
        agency,
        &r.make,
        Some(same_text(&v.make, &r.make)),
    ));
    rows.push(row(
        l.t("Số loại", "Model"),
        &v.model,
        agency,
        &r.model,
        Some(same_text(&v.model, &r.model)),
    ));
    rows.push(row(
        l.t("Số chỗ ngồi", "Seats"),
        &v.seats.to_string(),
        agency,
        &r.seats.to_string(),
        Some(v.seats == r.seats),
    ));
    rows.push(row(
        l.t("Năm sản xuất · nơi sản xuất · ngày", "Year · origin · date"),
        "",
        agency,
        &r.about,
        None,
    ));
}

fn owner_id(app: &pb::Application) -> String {
    match app.owner.as_ref().and_then(|o| o.kind.as_ref()) {
        Some(pb::owner::Kind::Individual(i)) => i.personal_id.clone(),
        Some(pb::owner::Kind::Organisation(o)) => o.tax_code.clone(),
        None => String::new(),
    }
}

fn fee_rows(l: Lang, rows: &mut Vec<Row>, app: &pb::Application, v: &pb::Vehicle, agency: &str, f: &tax::FeeRecord) {
    let owner = owner_id(app);
    rows.push(row(
        l.t("Người nộp lệ phí trước bạ", "Fee payer"),
        &owner,
        agency,
        &format!("{} · {}", f.payer_id, f.payer_name),
        Some(owner == f.payer_id),
    ));
    rows.push(row(
        l.t("Số khung (tờ khai lệ phí)", "Chassis (fee record)"),
        &v.chassis_number,
        agency,
        &f.chassis_number,
        Some(same_number(&v.chassis_number, &f.chassis_number)),
    ));
    rows.push(row(
        l.t("Số máy (tờ khai lệ phí)", "Engine (fee record)"),
        &v.engine_number,
        agency,
        &f.engine_number,
        Some(same_number(&v.engine_number, &f.engine_number)),
    ));
    let paid = f.status() == tax::PaymentStatus::Paid && f.fee_paid_vnd >= f.fee_due_vnd;
    rows.push(row(
        l.t("Lệ phí trước bạ", "Registration fee"),
        "",
        agency,
        &format!(
            "{} {} · {} {} · {}",
            l.t("phải nộp", "due"),
            dong(f.fee_due_vnd),
            l.t("đã nộp", "paid"),
            dong(f.fee_paid_vnd),
            date(&f.payment_date)
        ),
        Some(paid),
    ));
}

fn owner_line(l: Lang, app: &pb::Application) -> String {
    match app.owner.as_ref().and_then(|o| o.kind.as_ref()) {
        Some(pb::owner::Kind::Individual(i)) => format!(
            "{} · {} {}{}",
            i.full_name,
            l.t("số định danh", "ID"),
            i.personal_id,
            if i.guardian_consent {
                l.t(" · có người giám hộ đồng ý", " · guardian consent")
            } else {
                ""
            }
        ),
        Some(pb::owner::Kind::Organisation(o)) => format!("{} · {} {}", o.name, l.t("MST", "tax code"), o.tax_code),
        None => "—".into(),
    }
}

/// The whole dossier page; `notice` (a refusal) goes on top.
pub fn render(signed: &Signed, inspected: &pb::InspectApplicationResponse, notice: &str) -> String {
    let l = signed.lang;
    let s = &signed.session;
    let app = inspected.application.clone().unwrap_or_default();
    let v = app.vehicle.clone().unwrap_or_default();
    let mut b = String::from(notice);

    // Summary.
    let _ = write!(
        b,
        r#"<dl class="summary"><dt>{}</dt><dd class="state" id="state">{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{} · {} {} · {} · {}</dd><dt>{}</dt><dd>{} ({} {})</dd><dt>{}</dt><dd>{} · {} {}</dd>"#,
        l.t("Trạng thái", "State"),
        l.state(app.state()),
        l.t("Chủ xe", "Owner"),
        esc(&owner_line(l, &app)),
        l.t("Xe", "Vehicle"),
        l.class(v.vehicle_class()),
        esc(&v.make),
        esc(&v.model),
        l.origin(v.origin()),
        if v.commercial_use {
            l.t("kinh doanh vận tải", "commercial")
        } else {
            l.t("không kinh doanh vận tải", "private")
        },
        l.t("Đơn vị", "Office"),
        esc(&app.office_code),
        l.t("mã địa phương", "locality"),
        esc(&app.locality_code),
        l.t("Ngày nộp", "Submitted"),
        when_rfc3339(&app.created_at),
        l.t("cập nhật", "updated"),
        when_rfc3339(&app.updated_at),
    );
    if !app.plate.is_empty() {
        let _ = write!(
            b,
            r#"<dt>{}</dt><dd id="plate">{}</dd>"#,
            l.t("Biển số", "Plate"),
            esc(&app.plate)
        );
    }
    if app.fee_due_vnd > 0 {
        let _ = write!(
            b,
            "<dt>{}</dt><dd>{} <span class=\"detail\">({})</span></dd>",
            l.t("Lệ phí cấp giấy và biển", "Certificate and plate fee"),
            dong(app.fee_due_vnd),
            esc(&app.fee_legal_source)
        );
    }
    if !app.certificate_number.is_empty() {
        let _ = write!(
            b,
            r#"<dt>{}</dt><dd><span id="certificate-number">{}</span> · <a href="/dossiers/{id}/certificate" id="print-link">{}</a> · <a href="/dossiers/{id}/certificate.pdf" id="pdf-link">PDF</a></dd>"#,
            l.t("Số giấy chứng nhận", "Certificate number"),
            esc(&app.certificate_number),
            l.t("Xem và in giấy chứng nhận", "View and print the certificate"),
            id = seg(&app.application_id),
        );
    }
    if app.physical_check_required {
        let _ = write!(
            b,
            "<dt>{}</dt><dd>{}</dd>",
            l.t("Kiểm tra thực tế", "Physical check"),
            l.t("Bắt buộc trước khi duyệt", "Required before approval")
        );
    }
    if !app.blocked_reason.is_empty() {
        let _ = write!(
            b,
            r#"<dt>{}</dt><dd class="warning">{}</dd>"#,
            l.t("Đang bị chặn", "Blocked"),
            esc(&app.blocked_reason)
        );
    }
    b.push_str("</dl>");
    for (title, list) in [
        (l.t("Lý do", "Reasons"), &app.reasons),
        (l.t("Cảnh báo", "Warnings"), &app.warnings),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(b, r#"<h2>{title}</h2><ul class="warning">"#);
        for r in list {
            let _ = write!(
                b,
                r#"<li><code>{}</code> {} <span class="detail" lang="en">{}</span></li>"#,
                esc(&r.code),
                esc(&r.field),
                esc(&r.message)
            );
        }
        b.push_str("</ul>");
    }

    // The comparison.
    let rows = compare(l, &app, &inspected.records);
    let differs = rows.iter().filter(|r| r.matches == Some(false)).count();
    let _ = write!(
        b,
        r#"<h2 id="compare">{}</h2><p id="differences">{}</p><table aria-labelledby="compare">{}<tbody>"#,
        l.t(
            "Đối chiếu tờ khai với dữ liệu các cơ quan",
            "Declaration against the agencies' records"
        ),
        if differs == 0 {
            l.t("Không có điểm khác.", "No difference.").to_owned()
        } else {
            format!("{} {differs}", l.t("Số điểm khác:", "Differences:"))
        },
        view::head(
            l,
            &[
                ("Thông tin", "Item"),
                ("Tờ khai", "Declared"),
                ("Cơ quan", "Agency"),
                ("Dữ liệu cơ quan", "Agency record"),
                ("Kết quả", "Result"),
            ]
        ),
    );
    for r in &rows {
        let (class, mark) = match r.matches {
            Some(true) => ("", format!(r#"<span class="same">✓ {}</span>"#, l.t("Khớp", "Same"))),
            Some(false) => (r#" class="differs""#, format!("✗ {}", l.t("Khác", "Differs"))),
            None => ("", String::new()),
        };
        let _ = write!(
            b,
            r#"<tr{class}><th scope="row">{}</th><td>{}</td><td>{}</td><td>{}</td><td class="mark">{mark}</td></tr>"#,
            esc(&r.label),
            esc(&r.declared),
            esc(&r.agency),
            esc(&r.recorded),
        );
    }
    b.push_str("</tbody></table>");

    // The forms.
    b.push_str(&forms(l, s, &app));

    // The physical checks.
    if !app.physical_checks.is_empty() {
        let _ = write!(
            b,
            r#"<h2>{}</h2><table>{}<tbody>"#,
            l.t("Kiểm tra thực tế", "Physical checks"),
            view::head(
                l,
                &[
                    ("Lúc", "When"),
                    ("Cán bộ", "Officer"),
                    ("Số khung", "Chassis"),
                    ("Số máy", "Engine"),
                    ("Ghi chú", "Note")
                ]
            ),
        );
        for c in &app.physical_checks {
            let ok = |m: bool| {
                if m {
                    l.t("✓ khớp", "✓ same")
                } else {
                    l.t("✗ khác", "✗ differs")
                }
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when_rfc3339(&c.at),
                esc(&c.actor),
                ok(c.chassis_matches),
                ok(c.engine_matches),
                esc(&c.note)
            );
        }
        b.push_str("</tbody></table>");
    }

    // The evidence.
    let _ = write!(
        b,
        r#"<h2>{}</h2><p class="detail">{}</p><table>{}<tbody>"#,
        l.t("Chứng cứ đã lưu", "Evidence kept"),
        l.t(
            "Mã băm SHA-256 của câu hỏi và câu trả lời mà việc xác minh đã dùng, và của câu trả lời hiện nay (khác nhau vì mỗi câu trả lời mang thời điểm của nó).",
            "SHA-256 of the request and of the answer the verification used, and of the answer now (they differ: every answer carries its own time).",
        ),
        view::head(
            l,
            &[
                ("Cơ quan", "Agency"),
                ("Kết quả", "Outcome"),
                ("Lúc lấy", "Fetched"),
                ("Băm câu hỏi / trả lời đã dùng", "Request / answer used"),
                ("Băm trả lời hiện nay", "Answer now"),
            ]
        ),
    );
    for e in &app.evidence {
        let now = inspected
            .records
            .iter()
            .find(|r| r.agency == e.agency)
            .map(|r| r.response_sha256.as_str())
            .unwrap_or("");
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code><br><code>{}</code></td><td><code>{}</code></td></tr>",
            agency_name(l, &e.agency),
            esc(&e.outcome),
            when_rfc3339(&e.fetched_at),
            esc(&e.request_sha256),
            esc(&e.response_sha256),
            esc(now),
        );
    }
    b.push_str("</tbody></table>");

    // The history.
    let _ = write!(
        b,
        r#"<h2>{}</h2><table id="history">{}<tbody>"#,
        l.t("Lịch sử xử lý", "History"),
        view::head(
            l,
            &[
                ("Lúc", "When"),
                ("Trạng thái", "State"),
                ("Người thực hiện", "By"),
                ("Mã lý do", "Reason"),
                ("Ghi chú", "Note")
            ]
        ),
    );
    for h in &app.history {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            when_rfc3339(&h.at),
            transition(l, h),
            esc(&h.actor),
            esc(&h.reason_code),
            esc(&h.note)
        );
    }
    b.push_str("</tbody></table>");
    let title = format!("{} {}", l.t("Hồ sơ", "Dossier"), app.dossier_code);
    view::layout(&signed.frame(), &title, &b)
}

/// `A → B`, or `B` alone for the first entry (from no state).
pub fn transition(l: Lang, h: &pb::StateChange) -> String {
    if h.from_state() == S::Unspecified {
        l.state(h.to_state()).to_owned()
    } else {
        format!("{} → {}", l.state(h.from_state()), l.state(h.to_state()))
    }
}

/// The forms the state allows (registration has the last word).
fn forms(l: Lang, s: &crate::session::Session, app: &pb::Application) -> String {
    if !s.has(vrs_kit::token::Role::Clerk) {
        return String::new();
    }
    let state = app.state();
    let id = seg(&app.application_id);
    let token = csrf(s);
    let mut f = String::new();
    let before_approval = matches!(state, S::Verified | S::PlateAssigned | S::FeePaid);
    if before_approval {
        let v = app.vehicle.clone().unwrap_or_default();
        let _ = write!(
            f,
            r#"<form method="post" action="/dossiers/{id}/physical-check" id="form-physical-check"><h3>{}</h3>{token}
<p class="detail">{} {} · {} {}</p>
<div class="field"><label for="pc-chassis">{}</label><input type="text" id="pc-chassis" name="chassis_number" required autocomplete="off"></div>
<div class="field"><label for="pc-engine">{}</label><input type="text" id="pc-engine" name="engine_number" required autocomplete="off"></div>
<div class="field"><label for="pc-note">{}</label><input type="text" id="pc-note" name="note" autocomplete="off"></div>
<button type="submit">{}</button></form>"#,
            l.t(
                "Kiểm tra thực tế số khung, số máy",
                "Physical check of chassis and engine numbers"
            ),
            l.t("Tờ khai: số khung", "Declared: chassis"),
            esc(&v.chassis_number),
            l.t("số máy", "engine"),
            esc(&v.engine_number),
            l.t("Số khung đọc trên xe", "Chassis number read on the vehicle"),
            l.t("Số máy đọc trên xe", "Engine number read on the vehicle"),
            l.t("Ghi chú", "Note"),
            l.t("Ghi kết quả kiểm tra", "Record the check"),
        );
    }
    if matches!(state, S::Verified | S::FeePaid) {
        let _ = write!(
            f,
            r#"<form method="post" action="/dossiers/{id}/approve" id="form-approve"><h3>{}</h3>{token}
<div class="field"><label for="ap-note">{}</label><input type="text" id="ap-note" name="note" autocomplete="off"></div>
<button type="submit" id="approve">{}</button></form>"#,
            l.t("Duyệt hồ sơ", "Approve"),
            l.t("Ghi chú", "Note"),
            l.t("Duyệt", "Approve"),
        );
    }
    if matches!(state, S::Approved | S::FeePaid) && app.certificate_number.is_empty() && !app.plate.is_empty() {
        let _ = write!(
            f,
            r#"<form method="post" action="/dossiers/{id}/issue" id="form-issue"><h3>{}</h3>{token}
<p class="detail">{} {}</p><button type="submit" id="issue">{}</button></form>"#,
            l.t("Cấp giấy chứng nhận đăng ký xe", "Issue the registration certificate"),
            l.t("Biển số", "Plate"),
            esc(&app.plate),
            l.t("Cấp giấy chứng nhận", "Issue the certificate"),
        );
    }
    if state == S::Issued {
        let _ = write!(
            f,
            r#"<form method="post" action="/dossiers/{id}/deliver" id="form-deliver"><h3>{}</h3>{token}
<button type="submit">{}</button></form>"#,
            l.t("Trả giấy chứng nhận và biển số tại đơn vị", "Hand over at the office"),
            l.t("Xác nhận đã trả", "Confirm handed over"),
        );
    }
    if matches!(state, S::Issued | S::Delivered) {
        let _ = write!(
            f,
            r#"<form method="post" action="/dossiers/{id}/reissue" id="form-reissue"><h3>{}</h3>{token}
<div class="field"><label for="re-reason">{}</label><select id="re-reason" name="reason_code" required><option value="">—</option><option value="LOST">{}</option><option value="DAMAGED">{}</option></select></div>
<button type="submit" class="secondary">{}</button></form>"#,
            l.t("Cấp lại giấy chứng nhận", "Reissue the certificate"),
            l.t("Lý do", "Reason"),
            l.t("Bị mất", "Lost"),
            l.t("Bị hỏng", "Damaged"),
            l.t("Cấp lại", "Reissue"),
        );
        let _ = write!(
            f,
            r#"<form method="post" action="/dossiers/{id}/revoke" id="form-revoke"><h3>{}</h3>{token}
<div class="field"><label for="rv-reason">{}</label><select id="rv-reason" name="reason_code" required><option value="">—</option><option value="OWNERSHIP_TRANSFER">{}</option><option value="SCRAPPED">{}</option><option value="COLOUR_CONVERSION">{}</option></select></div>
<div class="field"><label for="rv-confirm"><input type="checkbox" id="rv-confirm" name="confirm" value="yes" required> {}</label></div>
<button type="submit" class="danger">{}</button></form>"#,
            l.t("Thu hồi đăng ký, biển số", "Deregister"),
            l.t("Lý do", "Reason"),
            l.t("Chuyển quyền sở hữu", "Ownership transfer"),
            l.t("Xe hết niên hạn, hủy bỏ", "Scrapped"),
            l.t("Chuyển màu biển (kinh doanh vận tải)", "Plate colour conversion"),
            l.t(
                "Tôi xác nhận thu hồi đăng ký của xe này",
                "I confirm deregistering this vehicle"
            ),
            l.t("Thu hồi", "Deregister"),
        );
    }
    if !state_is_final(state) {
        let mut options = String::from(r#"<option value="">—</option>"#);
        for code in REJECT_REASONS {
            let _ = write!(options, r#"<option value="{code}">{}</option>"#, l.reject_reason(code));
        }
        let _ = write!(
            f,
            r#"<form method="post" action="/dossiers/{id}/reject" id="form-reject"><h3>{}</h3>{token}
<div class="field"><label for="rj-reason">{}</label><select id="rj-reason" name="reason_code" required>{options}</select></div>
<div class="field"><label for="rj-note">{}</label><textarea id="rj-note" name="note" rows="2"></textarea></div>
<button type="submit" class="danger">{}</button></form>"#,
            l.t("Từ chối hồ sơ", "Reject"),
            l.t("Lý do từ chối", "Reason"),
            l.t("Ghi chú (bắt buộc với lý do khác)", "Note (required for Other)"),
            l.t("Từ chối", "Reject"),
        );
    }
    if f.is_empty() {
        return String::new();
    }
    format!(r#"<h2>{}</h2><div class="actions">{f}</div>"#, l.t("Xử lý", "Act"))
}

/// States from which a clerk no longer rejects: ended, or certificate issued.
fn state_is_final(s: S) -> bool {
    matches!(
        s,
        S::Rejected | S::Withdrawn | S::Deregistered | S::Issued | S::Delivered | S::Unspecified
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_compare_as_registration_does() {
        assert!(same_number("rl4-bb 12", "RL4BB12"));
        assert!(!same_number("RL4BB12", "RL4BB13"));
        assert!(same_text("Nguyễn  Văn An", "nguyễn văn an"));
        assert!(!same_text("Nguyễn Văn An", "Nguyen Van An"), "diacritics count");
    }
}
