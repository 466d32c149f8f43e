//! The certificate of registration: a printable page (its print stylesheet
//! leaves only the sheet) and the same certificate as PDF.
//!
//! Both are built from one [`Certificate`], made from what registration
//! returns for the dossier: the declaration, the plate and number, the dates
//! from the history, and the owner's address from the population database's
//! (or the tax register's) record.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use vrs_kit::html::{date, esc, seg};
use vrs_proto::pb::registration::v1 as pb;

use crate::error::Problem;
use crate::pdf::{self, Certificate};
use crate::view;
use crate::{App, Signed};

/// The certificate of a dossier, or NotFound while none is issued.
pub fn certificate_of(inspected: &pb::InspectApplicationResponse) -> Result<Certificate, Problem> {
    let app = inspected.application.clone().unwrap_or_default();
    if app.certificate_number.is_empty() {
        return Err(Problem::NotFound(
            "no certificate has been issued for this application yet".into(),
        ));
    }
    let v = app.vehicle.clone().unwrap_or_default();
    let (owner_name, owner_id_label, owner_id) = match app.owner.as_ref().and_then(|o| o.kind.as_ref()) {
        Some(pb::owner::Kind::Individual(i)) => (i.full_name.clone(), "Số định danh cá nhân", i.personal_id.clone()),
        Some(pb::owner::Kind::Organisation(o)) => (o.name.clone(), "Mã số thuế", o.tax_code.clone()),
        None => (String::new(), "", String::new()),
    };
    let address = inspected
        .records
        .iter()
        .find_map(|r| match &r.record {
            Some(pb::agency_record::Record::Citizen(c)) => c.residence.clone(),
            Some(pb::agency_record::Record::Organisation(o)) => o.seat.clone(),
            _ => None,
        })
        .map(|r| {
            [r.address, r.province]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let issued: Vec<&pb::StateChange> = app
        .history
        .iter()
        .filter(|h| h.to_state() == pb::ApplicationState::Issued)
        .collect();
    let first = issued.first().map(|h| date(&h.at)).unwrap_or_default();
    let last = issued.last().map(|h| date(&h.at)).unwrap_or_default();
    // A reissued number ends in -R<n> (registration's rule).
    let reissue_note = app
        .certificate_number
        .rsplit_once("-R")
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .map(|n| format!("Cấp lại lần {n}; các số trước đã hết hiệu lực."))
        .unwrap_or_default();
    let province = app
        .office_code
        .strip_prefix("PC-")
        .and_then(vrs_kit::world::province_of)
        .map(|p| format!("Công an {p}"))
        .unwrap_or_default();
    Ok(Certificate {
        certificate_number: app.certificate_number.clone(),
        plate: app.plate.clone(),
        vehicle_kind: match v.vehicle_class() {
            pb::VehicleClass::Motorbike => "Mô tô".into(),
            _ => "Ô tô".into(),
        },
        owner_name,
        owner_id_label: owner_id_label.into(),
        owner_id,
        address,
        make: v.make.clone(),
        model: v.model.clone(),
        chassis_number: v.chassis_number.clone(),
        engine_number: v.engine_number.clone(),
        seats: v.seats,
        usage: if v.commercial_use {
            "Kinh doanh vận tải"
        } else {
            "Không kinh doanh vận tải"
        }
        .into(),
        plate_colour: if v.commercial_use {
            "Nền vàng, chữ đen"
        } else {
            "Nền trắng, chữ đen"
        }
        .into(),
        first_registered: first,
        issued_on: last,
        office_name: if province.is_empty() {
            "Phòng Cảnh sát giao thông".into()
        } else {
            format!("Phòng Cảnh sát giao thông {province}")
        },
        office_code: app.office_code.clone(),
        dossier_code: app.dossier_code.clone(),
        reissue_note,
    })
}

async fn load(app: &App, signed: &Signed, id: &str) -> Result<Certificate, Problem> {
    certificate_of(&app.registry.inspect(&signed.session, id).await?)
}

/// The printable page.
pub async fn sheet(State(app): State<App>, signed: Signed, Path(id): Path<String>) -> Result<Response, Problem> {
    let c = load(&app, &signed, &id).await?;
    let l = signed.lang;
    let mut b = format!(
        r#"<p class="no-print"><button type="button" data-print hidden>{}</button> <a href="/dossiers/{id}/certificate.pdf" id="pdf-link">{}</a> · <a href="/dossiers/{id}">{}</a></p>"#,
        l.t("In giấy chứng nhận", "Print the certificate"),
        l.t("Tải bản PDF", "Download the PDF"),
        l.t("Về hồ sơ", "Back to the dossier"),
        id = seg(&id),
    );
    let _ = write!(
        b,
        r#"<article class="certificate" lang="vi" aria-label="Giấy chứng nhận đăng ký xe">
<p class="nation">CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</p><p class="motto">Độc lập - Tự do - Hạnh phúc</p>
<p class="issuer">BỘ CÔNG AN</p><p>{office}</p>
<h2>GIẤY CHỨNG NHẬN ĐĂNG KÝ XE {kind}</h2><p class="number">Số: <strong>{number}</strong></p>
<dl>
<dt>Tên chủ xe</dt><dd>{owner}</dd>
<dt>{id_label}</dt><dd>{owner_id}</dd>
<dt>Địa chỉ</dt><dd>{address}</dd>
<dt>Nhãn hiệu</dt><dd>{make}</dd>
<dt>Số loại</dt><dd>{model}</dd>
<dt>Loại xe</dt><dd>{kind_lower}</dd>
<dt>Số khung</dt><dd>{chassis}</dd>
<dt>Số máy</dt><dd>{engine}</dd>
<dt>Số chỗ ngồi</dt><dd>{seats}</dd>
<dt>Mục đích sử dụng</dt><dd>{usage}</dd>
<dt>Màu biển</dt><dd>{colour}</dd>
<dt>Biển số đăng ký</dt><dd class="plate">{plate}</dd>
<dt>Đăng ký lần đầu ngày</dt><dd>{first}</dd>
<dt>Mã hồ sơ</dt><dd>{dossier}</dd>
</dl>{reissue}
<p class="signed">{dated}<br><strong>TRƯỞNG PHÒNG</strong></p>
</article>"#,
        office = esc(&c.office_name),
        kind = esc(&c.vehicle_kind.to_uppercase()),
        kind_lower = esc(&c.vehicle_kind),
        number = esc(&c.certificate_number),
        owner = esc(&c.owner_name),
        id_label = esc(&c.owner_id_label),
        owner_id = esc(&c.owner_id),
        address = esc(&c.address),
        make = esc(&c.make),
        model = esc(&c.model),
        chassis = esc(&c.chassis_number),
        engine = esc(&c.engine_number),
        seats = c.seats,
        usage = esc(&c.usage),
        colour = esc(&c.plate_colour),
        plate = esc(&c.plate),
        first = esc(&c.first_registered),
        dossier = esc(&c.dossier_code),
        reissue = if c.reissue_note.is_empty() {
            String::new()
        } else {
            format!("<p>{}</p>", esc(&c.reissue_note))
        },
        dated = esc(&pdf::dated_line(&c.office_code, &c.issued_on)),
    );
    let title = format!("{} {}", l.t("Giấy chứng nhận", "Certificate"), c.certificate_number);
    Ok(view::page(view::layout(&signed.frame(), &title, &b)))
}

/// The same certificate as PDF (a download named by its number, not by the owner).
pub async fn pdf(State(app): State<App>, signed: Signed, Path(id): Path<String>) -> Result<Response, Problem> {
    let c = load(&app, &signed, &id).await?;
    let bytes = pdf::certificate_pdf(&c).map_err(|e| Problem::Internal(format!("certificate PDF: {e}")))?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    let name = format!(
        "attachment; filename=\"giay-chung-nhan-{}.pdf\"",
        seg(&c.certificate_number)
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
