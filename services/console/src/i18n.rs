//! Vietnamese first, English second: the clerk's choice is a cookie, every
//! text is written in both languages where it is used (`lang.t("…", "…")`),
//! so a missing translation cannot hide in a table elsewhere.

use vrs_proto::pb::registration::v1 as pb;

/// The language cookie (not personal, not secret).
pub const COOKIE: &str = "vrs-lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch in the header.
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    pub fn t<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// A workflow state as the office names it.
    pub fn state(self, s: pb::ApplicationState) -> &'static str {
        use pb::ApplicationState as S;
        match s {
            S::Unspecified => self.t("Không rõ", "Unknown"),
            S::Submitted => self.t("Đã tiếp nhận", "Submitted"),
            S::AwaitingAgency => self.t("Chờ cơ quan trả lời", "Awaiting an agency"),
            S::Verified => self.t("Đã xác minh", "Verified"),
            S::NeedsCorrection => self.t("Cần bổ sung", "Needs correction"),
            S::Rejected => self.t("Từ chối", "Rejected"),
            S::Approved => self.t("Đã duyệt", "Approved"),
            S::PlateAssigned => self.t("Đã có biển số", "Plate assigned"),
            S::FeePaid => self.t("Đã nộp lệ phí", "Fee paid"),
            S::Issued => self.t("Đã cấp giấy đăng ký", "Certificate issued"),
            S::Delivered => self.t("Đã trả kết quả", "Delivered"),
            S::Withdrawn => self.t("Công dân rút hồ sơ", "Withdrawn"),
            S::Deregistered => self.t("Đã thu hồi đăng ký", "Deregistered"),
        }
    }

    /// A vehicle class.
    pub fn class(self, c: pb::VehicleClass) -> &'static str {
        match c {
            pb::VehicleClass::Car => self.t("Ô tô", "Car"),
            pb::VehicleClass::Motorbike => self.t("Mô tô, xe máy", "Motorbike"),
            pb::VehicleClass::Unspecified => "—",
        }
    }

    /// A vehicle's origin.
    pub fn origin(self, o: pb::VehicleOrigin) -> &'static str {
        match o {
            pb::VehicleOrigin::Imported => self.t("Nhập khẩu", "Imported"),
            pb::VehicleOrigin::Domestic => self.t("Sản xuất, lắp ráp trong nước", "Made in Viet Nam"),
            pb::VehicleOrigin::Unspecified => "—",
        }
    }

    /// A rejection reason offered to the clerk, by code.
    pub fn reject_reason(self, code: &str) -> &'static str {
        match code {
            "DOCUMENTS_FORGED" => self.t("Giấy tờ giả mạo", "Forged documents"),
            "NUMBERS_TAMPERED" => self.t("Số khung, số máy bị đục sửa", "Chassis or engine number tampered with"),
            "VEHICLE_NOT_PRESENTED" => self.t("Không đưa xe đến kiểm tra", "Vehicle not presented"),
            "VEHICLE_BANNED" => self.t("Xe thuộc diện cấm đăng ký", "Vehicle barred from registration"),
            "ALREADY_REGISTERED" => self.t("Xe đã được đăng ký", "Vehicle already registered"),
            "OWNER_NOT_ELIGIBLE" => self.t("Chủ xe không đủ điều kiện", "Owner not eligible"),
            _ => self.t("Lý do khác (ghi rõ)", "Other (explain in the note)"),
        }
    }
}

/// The rejection reasons a clerk picks from (the codes registration stores).
pub const REJECT_REASONS: &[&str] = &[
    "DOCUMENTS_FORGED",
    "NUMBERS_TAMPERED",
    "VEHICLE_NOT_PRESENTED",
    "VEHICLE_BANNED",
    "ALREADY_REGISTERED",
    "OWNER_NOT_ELIGIBLE",
    "OTHER",
];
