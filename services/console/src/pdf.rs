//! The registration certificate (Giấy chứng nhận đăng ký xe) as a one-page A4 PDF.
//!
//! Written directly with `pdf-writer` so the console needs no browser or
//! external renderer to print. The two DejaVu Sans faces are embedded as
//! Type0 / CIDFontType2 fonts (Identity-H), subset to the glyphs the page
//! uses, each with a ToUnicode CMap so that copying or `pdftotext` gives back
//! the Vietnamese text exactly. Characters map one-to-one to glyphs through
//! the font's cmap (DejaVu has the precomposed NFC letters); there is no
//! shaping, so callers should pass NFC text. The output depends only on the
//! input: no dates, no random file ids.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;
use ttf_parser::{Face, GlyphId};

static REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// A4 portrait in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
/// Left and right edge of the text block.
const LEFT: f32 = 56.0;
const RIGHT: f32 = PAGE_W - 56.0;
/// Where the values of the label/value rows start.
const VALUE_X: f32 = LEFT + 178.0;
/// Identity ordering: CIDs are the subset's glyph ids.
const IDENTITY: SystemInfo<'static> = SystemInfo {
    registry: Str(b"Adobe"),
    ordering: Str(b"Identity"),
    supplement: 0,
};

/// Everything printed on a certificate, already formatted for print (dates dd/mm/yyyy, Vietnamese text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The certificate's number, e.g. "PC30-000123", with "-R1" … on a reissue.
    pub certificate_number: String,
    /// The registered plate, e.g. "30A-482.17".
    pub plate: String,
    /// "Ô tô" or "Mô tô".
    pub vehicle_kind: String,
    /// The owner, a person ("Nguyễn Thị Hồng Nhung") or an organisation.
    pub owner_name: String,
    /// "Số định danh cá nhân" for a person, "Mã số thuế" for an organisation.
    pub owner_id_label: String,
    /// The number that label names.
    pub owner_id: String,
    /// The owner's address; may be empty. Wrapped to the value column.
    pub address: String,
    /// Nhãn hiệu.
    pub make: String,
    /// Số loại.
    pub model: String,
    /// Số khung.
    pub chassis_number: String,
    /// Số máy.
    pub engine_number: String,
    /// Số chỗ ngồi.
    pub seats: u32,
    /// "Không kinh doanh vận tải" or "Kinh doanh vận tải".
    pub usage: String,
    /// "Nền trắng, chữ đen", "Nền vàng, chữ đen" …
    pub plate_colour: String,
    /// Đăng ký lần đầu ngày, dd/mm/yyyy.
    pub first_registered: String,
    /// Date of issue, dd/mm/yyyy; the signature's dateline is derived from it.
    pub issued_on: String,
    /// The issuing office, e.g. "Phòng Cảnh sát giao thông Công an Hà Nội".
    pub office_name: String,
    /// The office's code, e.g. "PC-30", which heads the dateline.
    pub office_code: String,
    /// Mã hồ sơ.
    pub dossier_code: String,
    /// Empty, or e.g. "Cấp lại lần 1 (mất)", printed as a note under the rows.
    pub reissue_note: String,
}

/// Why a certificate could not be rendered. Both cases concern the fonts
/// compiled into the binary, so they indicate a broken build rather than bad input.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The font file does not parse as OpenType.
    #[error("the embedded font {font} could not be parsed: {source}")]
    FontParse {
        font: &'static str,
        #[source]
        source: ttf_parser::FaceParsingError,
    },
    /// The subsetter rejected the font or the glyph set.
    #[error("the embedded font {font} could not be subset: {source}")]
    Subset {
        font: &'static str,
        #[source]
        source: subsetter::Error,
    },
}

/// The certificate as a one-page A4 PDF (fonts embedded as subsets, text extractable).
pub fn certificate_pdf(c: &Certificate) -> Result<Vec<u8>, PdfError> {
    let mut page = Page {
        content: Content::new(),
        regular: Font::load(b"F1", "DejaVuSans", REGULAR_TTF)?,
        bold: Font::load(b"F2", "DejaVuSans-Bold", BOLD_TTF)?,
    };
    draw(c, &mut page);

    let mut pdf = Pdf::new();
    let (catalog, pages, page_id, content_id, info) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5));
    let regular_id = Ref::new(10);
    let bold_id = Ref::new(20);
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page_id]).count(1);
    let mut p = pdf.page(page_id);
    p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
        .parent(pages)
        .contents(content_id);
    p.resources()
        .fonts()
        .pair(Name(page.regular.resource), regular_id)
        .pair(Name(page.bold.resource), bold_id);
    p.finish();
    let title = format!("Giấy chứng nhận đăng ký xe {}", c.certificate_number);
    pdf.document_info(info)
        .title(TextStr(&title))
        .producer(TextStr("vrs-console"));

    let content = deflate(&page.content.finish().into_vec());
    pdf.stream(content_id, &content).filter(Filter::FlateDecode);
    write_font(&mut pdf, &page.regular, regular_id)?;
    write_font(&mut pdf, &page.bold, bold_id)?;
    Ok(pdf.finish())
}

/// The certificate's layout, top to bottom, in the order of the printed form.
fn draw(c: &Certificate, page: &mut Page) {
    // A thin double frame, as on the printed form.
    page.content.set_line_width(1.0);
    page.content.rect(28.0, 28.0, PAGE_W - 56.0, PAGE_H - 56.0).stroke();
    page.content.set_line_width(0.4);
    page.content.rect(32.0, 32.0, PAGE_W - 64.0, PAGE_H - 64.0).stroke();

    // Header: the issuing ministry and office on the left, the national motto on the right.
    let left_mid = LEFT + 100.0;
    let right_mid = RIGHT - 135.0;
    let mut y = PAGE_H - 72.0;
    page.centred(Style::Regular, 10.0, left_mid, y, "BỘ CÔNG AN");
    page.centred(Style::Bold, 10.0, right_mid, y, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM");
    y -= 14.0;
    let motto = "Độc lập - Tự do - Hạnh phúc";
    page.centred(Style::Bold, 10.5, right_mid, y, motto);
    let half = page.font(Style::Bold).width(motto, 10.5) / 2.0;
    page.rule(right_mid - half, right_mid + half, y - 4.0, 0.6);
    let mut office_y = y;
    for line in page.font(Style::Bold).wrap(&c.office_name, 9.5, 200.0) {
        page.centred(Style::Bold, 9.5, left_mid, office_y, &line);
        office_y -= 12.0;
    }
    page.rule(left_mid - 30.0, left_mid + 30.0, office_y + 5.0, 0.6);

    // Title and number.
    y = office_y.min(y) - 48.0;
    page.centred(Style::Bold, 18.0, PAGE_W / 2.0, y, "GIẤY CHỨNG NHẬN ĐĂNG KÝ XE");
    y -= 16.0;
    page.content.set_fill_gray(0.35);
    page.centred(
        Style::Regular,
        10.0,
        PAGE_W / 2.0,
        y,
        "Vehicle registration certificate",
    );
    page.content.set_fill_gray(0.0);
    y -= 22.0;
    let prefix = "Số (No.): ";
    let prefix_w = page.font(Style::Regular).width(prefix, 12.0);
    let number_w = page.font(Style::Bold).width(&c.certificate_number, 12.0);
    let x = (PAGE_W - prefix_w - number_w) / 2.0;
    page.text(Style::Regular, 12.0, x, y, prefix);
    page.text(Style::Bold, 12.0, x + prefix_w, y, &c.certificate_number);

    // The label/value rows.
    y -= 36.0;
    let id_english = match c.owner_id_label.as_str() {
        "Số định danh cá nhân" => "Personal identification number",
        "Mã số thuế" => "Tax code",
        _ => "Identification number",
    };
    let seats = c.seats.to_string();
    let rows: [(&str, &str, &str, Style, f32); 14] = [
        ("Tên chủ xe", "Owner's full name", &c.owner_name, Style::Bold, 12.0),
        (&c.owner_id_label, id_english, &c.owner_id, Style::Regular, 11.0),
        ("Địa chỉ", "Address", &c.address, Style::Regular, 11.0),
        ("Nhãn hiệu", "Brand", &c.make, Style::Regular, 11.0),
        ("Số loại", "Model code", &c.model, Style::Regular, 11.0),
        ("Loại xe", "Type of vehicle", &c.vehicle_kind, Style::Regular, 11.0),
        ("Số khung", "Chassis number", &c.chassis_number, Style::Regular, 11.0),
        ("Số máy", "Engine number", &c.engine_number, Style::Regular, 11.0),
        ("Số chỗ ngồi", "Seats", &seats, Style::Regular, 11.0),
        ("Mục đích sử dụng", "Purpose of use", &c.usage, Style::Regular, 11.0),
        ("Màu biển", "Plate colour", &c.plate_colour, Style::Regular, 11.0),
        ("Biển số đăng ký", "Number plate", &c.plate, Style::Bold, 22.0),
        (
            "Đăng ký lần đầu ngày",
            "First registration date",
            &c.first_registered,
            Style::Regular,
            11.0,
        ),
        ("Mã hồ sơ", "Dossier code", &c.dossier_code, Style::Regular, 11.0),
    ];
    for (label, english, value, style, size) in rows {
        y = page.row(label, english, value, style, size, y);
    }

    if !c.reissue_note.is_empty() {
        y -= 6.0;
        let note = format!("Ghi chú (Note): {}", c.reissue_note);
        for line in page.font(Style::Bold).wrap(&note, 10.5, RIGHT - LEFT) {
            page.text(Style::Bold, 10.5, LEFT, y, &line);
            y -= 14.0;
        }
    }

    // Place and date, then the signer's title and room for signature and seal.
    let sign_mid = RIGHT - 115.0;
    y = (y - 24.0).min(200.0);
    let dated = dated_line(&c.office_code, &c.issued_on);
    page.centred(Style::Oblique, 10.5, sign_mid, y, &dated);
    page.centred(Style::Bold, 11.0, sign_mid, y - 18.0, "TRƯỞNG PHÒNG");
    page.centred(Style::Oblique, 8.5, sign_mid, y - 31.0, "(Ký, ghi rõ họ tên, đóng dấu)");
}

/// "PC-30, ngày 05 tháng 03 năm 2024" from "05/03/2024", the way Vietnamese
/// documents date themselves; anything not dd/mm/yyyy is printed as given.
pub fn dated_line(office_code: &str, issued_on: &str) -> String {
    let parts: Vec<&str> = issued_on.split('/').collect();
    let numeric = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let date = match parts.as_slice() {
        [d, m, y] if [d, m, y].iter().all(|p| numeric(p)) => {
            format!("ngày {d} tháng {m} năm {y}")
        }
        _ => format!("ngày {issued_on}"),
    };
    if office_code.is_empty() {
        let mut chars = date.chars();
        chars
            .next()
            .map_or(date.clone(), |first| first.to_uppercase().chain(chars).collect())
    } else {
        format!("{office_code}, {date}")
    }
}

#[derive(Clone, Copy)]
enum Style {
    Regular,
    Bold,
    /// The regular face slanted, for the dateline: no italic face is embedded.
    Oblique,
}

/// The page being drawn and the fonts whose glyph use it records.
struct Page {
    content: Content,
    regular: Font,
    bold: Font,
}

impl Page {
    fn font(&self, style: Style) -> &Font {
        match style {
            Style::Regular | Style::Oblique => &self.regular,
            Style::Bold => &self.bold,
        }
    }

    fn text(&mut self, style: Style, size: f32, x: f32, y: f32, s: &str) {
        let font = match style {
            Style::Regular | Style::Oblique => &mut self.regular,
            Style::Bold => &mut self.bold,
        };
        let encoded = font.encode(s);
        let skew = if matches!(style, Style::Oblique) { 0.2 } else { 0.0 };
        self.content
            .begin_text()
            .set_font(Name(font.resource), size)
            .set_text_matrix([1.0, 0.0, skew, 1.0, x, y])
            .show(Str(&encoded))
            .end_text();
    }

    fn centred(&mut self, style: Style, size: f32, mid: f32, y: f32, s: &str) {
        let w = self.font(style).width(s, size);
        self.text(style, size, mid - w / 2.0, y, s);
    }

    fn rule(&mut self, x1: f32, x2: f32, y: f32, width: f32) {
        self.content.set_line_width(width);
        self.content.move_to(x1, y).line_to(x2, y).stroke();
    }

    /// One label/value row with its baseline at `y`: the Vietnamese label, its
    /// English below in small grey, the value wrapped to the right column.
    /// Returns the next row's baseline.
    fn row(&mut self, label: &str, english: &str, value: &str, style: Style, size: f32, y: f32) -> f32 {
        // Tall values (the plate) sit lower so their cap height lines up with the row.
        let value_y = y - (size - 11.0).max(0.0) * 0.6;
        let leading = size * 1.3;
        let lines = self.font(style).wrap(value, size, RIGHT - VALUE_X);
        self.text(Style::Regular, 10.5, LEFT, y, label);
        self.content.set_fill_gray(0.35);
        self.text(Style::Regular, 7.5, LEFT, y - 10.0, english);
        self.content.set_fill_gray(0.0);
        for (i, line) in lines.iter().enumerate() {
            self.text(style, size, VALUE_X, value_y - i as f32 * leading, line);
        }
        // The row ends below whichever is lower, the English label's descenders or
        // the value's last line; a faint rule separates it from the next row.
        let value_bottom = (y - value_y) + lines.len().saturating_sub(1) as f32 * leading + size * 0.25;
        let rule_y = y - value_bottom.max(12.5) - 3.5;
        self.content.set_stroke_gray(0.8);
        self.rule(LEFT, RIGHT, rule_y, 0.3);
        self.content.set_stroke_gray(0.0);
        rule_y - 14.0
    }
}

/// An embedded font face and the glyphs the page has used from it so far.
struct Font {
    /// The name under which the page's resources list it.
    resource: &'static [u8],
    postscript_name: &'static str,
    data: &'static [u8],
    face: Face<'static>,
    /// Assigns the subset's glyph ids (= CIDs) in order of first use; .notdef is 0.
    remapper: GlyphRemapper,
    /// For each CID written: the original glyph's advance (font units) and the
    /// character it stands for, from which the `W` array and ToUnicode are written.
    used: BTreeMap<u16, (u16, char)>,
}

impl Font {
    fn load(resource: &'static [u8], postscript_name: &'static str, data: &'static [u8]) -> Result<Self, PdfError> {
        let face = Face::parse(data, 0).map_err(|source| PdfError::FontParse {
            font: postscript_name,
            source,
        })?;
        Ok(Font {
            resource,
            postscript_name,
            data,
            face,
            remapper: GlyphRemapper::new(),
            used: BTreeMap::new(),
        })
    }

    /// The glyph drawn for `ch`: .notdef when the font lacks it.
    fn glyph(&self, ch: char) -> GlyphId {
        self.face.glyph_index(ch).unwrap_or(GlyphId(0))
    }

    fn advance(&self, glyph: GlyphId) -> u16 {
        self.face.glyph_hor_advance(glyph).unwrap_or(0)
    }

    /// Width of `s` at `size` points, from the advance widths (no kerning, as drawn).
    fn width(&self, s: &str, size: f32) -> f32 {
        let units: u32 = s.chars().map(|ch| u32::from(self.advance(self.glyph(ch)))).sum();
        units as f32 * size / f32::from(self.face.units_per_em())
    }

    /// The two-byte CIDs for `s` under Identity-H, recording each glyph as used.
    fn encode(&mut self, s: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len() * 2);
        for ch in s.chars() {
            let glyph = self.glyph(ch);
            let cid = self.remapper.remap(glyph.0);
            // .notdef stands for every missing character, so it extracts as U+FFFD;
            // a glyph two characters share extracts as the first one drawn.
            let text = if glyph.0 == 0 { char::REPLACEMENT_CHARACTER } else { ch };
            let advance = self.advance(glyph);
            self.used.entry(cid).or_insert((advance, text));
            out.extend_from_slice(&cid.to_be_bytes());
        }
        out
    }

    /// Breaks `s` at whitespace into lines no wider than `width`; a word wider
    /// than a whole line is broken between characters so nothing leaves the page.
    fn wrap(&self, s: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in s.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if self.width(&candidate, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for ch in word.chars() {
                line.push(ch);
                if self.width(&line, size) > width && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::replace(&mut line, ch.to_string()));
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// A subset tag ("ABCDEF+") derived from the glyph set, so that different
    /// subsets get different names but the same input always the same one.
    fn subset_tag(&self) -> String {
        let mut hash: u32 = 0x811c_9dc5;
        for gid in self.remapper.remapped_gids() {
            for b in gid.to_be_bytes() {
                hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
        }
        (0..6)
            .map(|i| char::from(b'A' + ((hash >> (i * 5)) % 26) as u8))
            .collect()
    }
}

/// Writes the Type0 font at `type0`, and its CIDFont, descriptor, subset
/// program and ToUnicode CMap at the four following object numbers.
fn write_font(pdf: &mut Pdf, font: &Font, type0: Ref) -> Result<(), PdfError> {
    let (cid_ref, descriptor_ref, file_ref, cmap_ref) = (
        Ref::new(type0.get() + 1),
        Ref::new(type0.get() + 2),
        Ref::new(type0.get() + 3),
        Ref::new(type0.get() + 4),
    );
    let program = subsetter::subset(font.data, 0, &font.remapper).map_err(|source| PdfError::Subset {
        font: font.postscript_name,
        source,
    })?;
    let base_name = format!("{}+{}", font.subset_tag(), font.postscript_name);
    let base = Name(base_name.as_bytes());
    let per_unit = 1000.0 / f32::from(font.face.units_per_em());

    pdf.type0_font(type0)
        .base_font(base)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_ref)
        .to_unicode(cmap_ref);

    let mut cid = pdf.cid_font(cid_ref);
    cid.subtype(CidFontType::Type2)
        .base_font(base)
        .system_info(IDENTITY)
        .font_descriptor(descriptor_ref)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    // CIDs are dense from 0 (the remapper numbers glyphs in order of use), so
    // one run covers them all.
    let last = font.used.keys().next_back().copied().unwrap_or(0);
    let widths = (0..=last).map(|c| font.used.get(&c).map_or(0.0, |&(adv, _)| f32::from(adv) * per_unit));
    cid.widths().consecutive(0, widths);
    cid.finish();

    let bbox = font.face.global_bounding_box();
    let scaled = |v: i16| f32::from(v) * per_unit;
    let bold = font.face.is_bold();
    pdf.font_descriptor(descriptor_ref)
        .name(base)
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(
            scaled(bbox.x_min),
            scaled(bbox.y_min),
            scaled(bbox.x_max),
            scaled(bbox.y_max),
        ))
        .italic_angle(font.face.italic_angle())
        .ascent(scaled(font.face.ascender()))
        .descent(scaled(font.face.descender()))
        .cap_height(scaled(font.face.capital_height().unwrap_or(font.face.ascender())))
        .stem_v(if bold { 140.0 } else { 80.0 })
        .font_file2(file_ref);

    let compressed = deflate(&program);
    pdf.stream(file_ref, &compressed)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), i32::try_from(program.len()).unwrap_or(i32::MAX));

    let mut cmap = UnicodeCmap::new(Name(b"Custom"), IDENTITY);
    for (&cid, &(_, ch)) in &font.used {
        cmap.pair(cid, ch);
    }
    let cmap = deflate(&cmap.finish().into_vec());
    pdf.cmap(cmap_ref, &cmap)
        .name(Name(b"Custom"))
        .system_info(IDENTITY)
        .filter(Filter::FlateDecode);
    Ok(())
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Certificate {
        Certificate {
            certificate_number: "PC30-000123".into(),
            plate: "30A-482.17".into(),
            vehicle_kind: "Ô tô".into(),
            owner_name: "Nguyễn Thị Hồng Nhung".into(),
            owner_id_label: "Số định danh cá nhân".into(),
            owner_id: "001190012345".into(),
            address: "Số 12 phố Hàng Bạc, phường Hàng Bạc, quận Hoàn Kiếm, thành phố Hà Nội, \
                      Việt Nam (nhà riêng, tầng 3)"
                .into(),
            make: "VinFast".into(),
            model: "VF 8 Eco".into(),
            chassis_number: "RLLV8E1A5PV000731".into(),
            engine_number: "EM3PT0004821".into(),
            seats: 5,
            usage: "Không kinh doanh vận tải".into(),
            plate_colour: "Nền trắng, chữ đen".into(),
            first_registered: "14/02/2023".into(),
            issued_on: "05/03/2024".into(),
            office_name: "Phòng Cảnh sát giao thông Công an Hà Nội".into(),
            office_code: "PC-30".into(),
            dossier_code: "HS-2024-0307-0042".into(),
            reissue_note: "Cấp lại lần 1 (mất)".into(),
        }
    }

    #[test]
    fn is_a_small_complete_pdf() {
        let pdf = certificate_pdf(&sample()).expect("renders");
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
        assert!(pdf.len() < 150_000, "{} bytes", pdf.len());
    }

    #[test]
    fn is_deterministic() {
        let c = sample();
        assert_eq!(
            certificate_pdf(&c).expect("renders"),
            certificate_pdf(&c).expect("renders")
        );
    }

    #[test]
    fn wraps_long_values_within_the_column_and_survives_missing_glyphs() {
        let font = Font::load(b"F1", "DejaVuSans", REGULAR_TTF).expect("font");
        let width = RIGHT - VALUE_X;
        let lines = font.wrap(&sample().address, 11.0, width);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| font.width(l, 11.0) <= width));
        assert_eq!(
            lines.join(" "),
            sample().address.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        let long = font.wrap(&"X".repeat(200), 11.0, width);
        assert!(long.len() > 1 && long.iter().all(|l| font.width(l, 11.0) <= width));

        let mut c = sample();
        c.owner_name = "漢字 \u{10FFFF} Nguyễn".into();
        assert!(certificate_pdf(&c).is_ok());
    }

    #[test]
    fn dates_the_signature_line() {
        assert_eq!(dated_line("PC-30", "05/03/2024"), "PC-30, ngày 05 tháng 03 năm 2024");
        assert_eq!(dated_line("", "soon"), "Ngày soon");
    }

    #[test]
    fn text_extracts_with_pdftotext() {
        let has_pdftotext = std::process::Command::new("pdftotext").arg("-v").output().is_ok();
        if !has_pdftotext {
            if std::env::var("VRS_REQUIRE_PDFTOTEXT").as_deref() == Ok("1") {
                panic!("pdftotext not installed but VRS_REQUIRE_PDFTOTEXT=1");
            }
            eprintln!("skipped: pdftotext not installed");
            return;
        }
        let c = sample();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("certificate.pdf");
        std::fs::write(&path, certificate_pdf(&c).expect("renders")).expect("write");
        let out = std::process::Command::new("pdftotext")
            .arg("-layout")
            .arg(&path)
            .arg("-")
            .output()
            .expect("run pdftotext");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).expect("utf-8");
        for expected in [
            "Nguyễn Thị Hồng Nhung",
            "30A-482.17",
            "PC30-000123",
            "GIẤY CHỨNG NHẬN ĐĂNG KÝ XE",
            "RLLV8E1A5PV000731",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "PC-30, ngày 05 tháng 03 năm 2024",
            "Cấp lại lần 1 (mất)",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
        for word in c.address.split_whitespace() {
            assert!(text.contains(word), "address word {word:?} missing from:\n{text}");
        }
    }
}
