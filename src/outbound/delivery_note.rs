//! The delivery note (发货单): order number, customer, ship-to, products with spec and
//! quantity, ship date, delivery-note number and packing remarks (fragile, hazardous), in
//! three copies — warehouse, finance, customer — each marked as such. Rendered to HTML with a
//! minijinja template the operator can edit (`transport.delivery_note.template`; built in:
//! `templates/delivery-note.html`) and to PDF with printpdf, text as real text (a text layer
//! `pdftotext` reads) in an embedded, subset font with CJK glyphs (default WenQuanYi Zen Hei,
//! Debian `fonts-wqy-zenhei`). The ship stage stores both with the order when it ships.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::config::DeliveryNoteConfig;
use crate::model::CanonicalOrder;

/// The built-in template (the operator's copy replaces it).
pub const BUILT_IN_TEMPLATE: &str = include_str!("../../templates/delivery-note.html");

/// The copies of a delivery note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Copy {
    Warehouse,
    Finance,
    Customer,
}

impl Copy {
    /// Every copy, in print order.
    pub const ALL: [Copy; 3] = [Copy::Warehouse, Copy::Finance, Copy::Customer];

    /// The copy's name (`?copy=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Copy::Warehouse => "warehouse",
            Copy::Finance => "finance",
            Copy::Customer => "customer",
        }
    }

    /// The mark printed on it.
    pub fn label(self) -> &'static str {
        match self {
            Copy::Warehouse => "仓库联 Warehouse copy",
            Copy::Finance => "财务联 Finance copy",
            Copy::Customer => "客户联 Customer copy",
        }
    }

    /// The copy named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// A party on the note.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Party {
    pub name: String,
    pub company: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// Where the goods go.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShipTo {
    pub name: String,
    pub company: Option<String>,
    pub lines: Vec<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
    pub phone: Option<String>,
}

/// One product line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub sku: String,
    pub name: String,
    pub spec: Option<String>,
    pub quantity: String,
}

/// A parcel that carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parcel {
    pub carrier: String,
    pub tracking_number: String,
}

/// The facts of a delivery note (the same on every copy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub number: String,
    pub order_id: String,
    pub order_number: String,
    /// `YYYY-MM-DD`.
    pub ship_date: String,
    pub company: Option<String>,
    pub customer: Party,
    pub ship_to: ShipTo,
    pub lines: Vec<Line>,
    pub remarks: Vec<String>,
    pub parcels: Vec<Parcel>,
}

/// The delivery-note number of `order_id` shipped on `date`: `DN-<yyyymmdd>-<8 hex>`, stable.
pub fn note_number(order_id: &str, date: chrono::NaiveDate) -> String {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("delivery-note:{order_id}").as_bytes(),
    );
    let hex = id.simple().to_string();
    format!(
        "DN-{}-{}",
        date.format("%Y%m%d"),
        &hex[..8].to_ascii_uppercase()
    )
}

/// The note for `order` shipped on `date` in `parcels`; products' spec and packing remarks
/// come from the catalog where the order line has none.
pub fn note(
    order_id: &str,
    order: &CanonicalOrder,
    catalog: &Catalog,
    date: chrono::NaiveDate,
    parcels: Vec<Parcel>,
    company: Option<String>,
) -> Note {
    let addr = order.ship_to.as_ref().or(order.bill_to.as_ref());
    let pick = |f: fn(&crate::model::Address) -> Option<String>| addr.and_then(f);
    let customer_name = order
        .customer
        .name
        .clone()
        .or_else(|| pick(|a| a.name.clone()))
        .unwrap_or_default();
    let mut remarks = Vec::new();
    let lines = order
        .lines
        .iter()
        .filter_map(|l| {
            let quantity = l.quantity - l.cancelled_quantity;
            if quantity <= Decimal::ZERO {
                return None;
            }
            let sku = l.sku.clone().unwrap_or_default();
            let product = catalog.get(&sku);
            if let Some(p) = crate::stage::fulfil::packing_instruction(catalog, &sku) {
                let fragile = if product.is_some_and(|p| p.fragile) {
                    FRAGILE
                } else {
                    ""
                };
                remarks.push(format!("{fragile}{sku}: {p}"));
            }
            Some(Line {
                name: l
                    .name
                    .clone()
                    .or_else(|| product.map(|p| p.name.clone()))
                    .unwrap_or_else(|| sku.clone()),
                spec: l
                    .spec
                    .clone()
                    .or_else(|| product.and_then(|p| p.spec.clone())),
                quantity: quantity.normalize().to_string(),
                sku,
            })
        })
        .collect();
    Note {
        number: note_number(order_id, date),
        order_id: order_id.to_string(),
        order_number: order
            .source
            .external_number
            .clone()
            .unwrap_or_else(|| order.source.external_id.clone()),
        ship_date: date.format("%Y-%m-%d").to_string(),
        company,
        customer: Party {
            name: customer_name,
            company: order.customer.company.clone(),
            phone: order.customer.phone.clone(),
            email: order.customer.email.clone(),
        },
        ship_to: ShipTo {
            name: pick(|a| a.name.clone())
                .or_else(|| order.customer.name.clone())
                .unwrap_or_default(),
            company: pick(|a| a.company.clone()),
            lines: [pick(|a| a.line1.clone()), pick(|a| a.line2.clone())]
                .into_iter()
                .flatten()
                .collect(),
            city: pick(|a| a.city.clone()).unwrap_or_default(),
            region: pick(|a| a.region.clone()),
            postal_code: pick(|a| a.postal_code.clone()),
            country: pick(|a| a.country.clone()).unwrap_or_default(),
            phone: pick(|a| a.phone.clone()),
        },
        lines,
        remarks,
        parcels,
    }
}

/// Why a note could not be rendered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoteError {
    /// The template does not compile or fails on the note.
    #[error("delivery-note template {origin}: {message}")]
    Template { origin: String, message: String },
    /// The font cannot be read or parsed.
    #[error("delivery-note font {path}: {message}")]
    Font { path: String, message: String },
}

/// Renders notes: the template compiled once, the font loaded on first use.
///
/// The PDF embeds a subset of the font with the glyphs the note uses. Subsetting a CJK font
/// means parsing its glyph, character-map and name tables (tens of thousands of glyphs), so it
/// is not done per PDF: when the font is loaded, one subset is made with every character of the
/// notes' own labels and of Latin text ([`common_chars`]), and a note whose text needs nothing
/// else (most notes) is drawn with it; a note that needs more (a CJK name or address) gets one
/// subset of its own for all its copies. Each PDF then keeps only the glyphs its page uses of
/// that small font, so the PDFs are as small as before.
pub struct Renderer {
    env: minijinja::Environment<'static>,
    origin: String,
    font_path: std::path::PathBuf,
    font_index: usize,
    font: OnceLock<Result<Fonts, NoteError>>,
    /// Subsets made of the whole font for a note (not counting the common one).
    note_subsets: AtomicU64,
}

/// The configured face and its common subset.
struct Fonts {
    full: printpdf::ParsedFont,
    common: printpdf::ParsedFont,
    /// The characters `common` draws: those of [`common_chars`] the face has.
    common_chars: HashSet<char>,
}

/// The characters every note may need without a subset of its own: its labels (all copies,
/// every optional line), the fragile mark, printable ASCII, Latin-1 and Latin Extended-A,
/// general punctuation and the euro sign.
fn common_chars() -> BTreeSet<char> {
    let probe = Note {
        number: String::new(),
        order_id: String::new(),
        order_number: String::new(),
        ship_date: String::new(),
        company: Some(String::new()),
        customer: Party {
            company: Some(String::new()),
            ..Party::default()
        },
        ship_to: ShipTo::default(),
        lines: (0..40)
            .map(|_| Line {
                sku: String::new(),
                name: String::new(),
                spec: None,
                quantity: String::new(),
            })
            .collect(),
        remarks: vec![FRAGILE.to_string()],
        parcels: vec![Parcel {
            carrier: String::new(),
            tracking_number: String::new(),
        }],
    };
    let mut chars: BTreeSet<char> = Copy::ALL
        .iter()
        .flat_map(|c| layout(&probe, *c))
        .flatten()
        .flat_map(|t| t.text.chars().collect::<Vec<_>>())
        .collect();
    chars.extend(FRAGILE.chars());
    chars.extend(' '..='~');
    chars.extend('\u{a0}'..='\u{17f}');
    chars.extend('\u{2010}'..='\u{2027}');
    chars.insert('€');
    chars
}

/// The glyphs of `full` that draw `chars` (those it has), with the text each stands for.
fn glyphs_of(
    full: &printpdf::ParsedFont,
    chars: impl IntoIterator<Item = char>,
) -> BTreeMap<u16, String> {
    chars
        .into_iter()
        .filter_map(|c| Some((full.lookup_glyph_index(u32::from(c))?, c.to_string())))
        .collect()
}

/// A font of the glyphs `glyphs` of `full` (with their characters), parsed.
fn subset(
    full: &printpdf::ParsedFont,
    glyphs: &BTreeMap<u16, String>,
    path: &str,
) -> Result<printpdf::ParsedFont, NoteError> {
    let error = |message: String| NoteError::Font {
        path: path.to_string(),
        message,
    };
    let bytes = printpdf::subset_font(full, glyphs).map_err(|e| error(format!("subset: {e}")))?;
    printpdf::ParsedFont::from_bytes(&bytes.bytes, 0, &mut Vec::new())
        .ok_or_else(|| error("its subset is not a usable font".to_string()))
}

const TEMPLATE: &str = "delivery-note.html";

/// The mark a fragile product's packing remark starts with.
const FRAGILE: &str = "易碎品 ";

impl Renderer {
    /// The renderer `cfg` describes; a template that does not compile is an error naming it.
    pub fn new(cfg: &DeliveryNoteConfig) -> Result<Self, NoteError> {
        let (origin, source) = match &cfg.template {
            Some(path) => (
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|e| NoteError::Template {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                })?,
            ),
            None => ("(built in)".to_string(), BUILT_IN_TEMPLATE.to_string()),
        };
        let mut env = minijinja::Environment::new();
        // A template is the operator's; it may not loop forever.
        env.set_fuel(Some(1_000_000));
        env.add_template_owned(TEMPLATE, source)
            .map_err(|e| NoteError::Template {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            env,
            origin,
            font_path: cfg.font.clone(),
            font_index: cfg.font_index,
            font: OnceLock::new(),
            note_subsets: AtomicU64::new(0),
        })
    }

    /// One copy as HTML.
    pub fn html(&self, note: &Note, copy: Copy) -> Result<String, NoteError> {
        let template_error = |e: minijinja::Error| NoteError::Template {
            origin: self.origin.clone(),
            message: e.to_string(),
        };
        let template = self.env.get_template(TEMPLATE).map_err(template_error)?;
        let mut ctx = serde_json::to_value(note).unwrap_or_default();
        ctx["copy"] = serde_json::json!(copy.as_str());
        ctx["copy_label"] = serde_json::json!(copy.label());
        template
            .render(minijinja::context! { note => minijinja::Value::from(minijinja::value::Serde(&ctx)) })
            .map_err(template_error)
    }

    fn fonts(&self) -> Result<&Fonts, NoteError> {
        self.font
            .get_or_init(|| {
                let path = self.font_path.display().to_string();
                let bytes = std::fs::read(&self.font_path).map_err(|e| NoteError::Font {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let full =
                    printpdf::ParsedFont::from_bytes(&bytes, self.font_index, &mut Vec::new())
                        .ok_or(NoteError::Font {
                            path: path.clone(),
                            message: format!(
                                "face {} is not a usable TrueType/OpenType font",
                                self.font_index
                            ),
                        })?;
                let chars = common_chars();
                let common = subset(&full, &glyphs_of(&full, chars.iter().copied()), &path)?;
                let common_chars = chars
                    .into_iter()
                    .filter(|c| full.lookup_glyph_index(u32::from(*c)).is_some())
                    .collect();
                Ok(Fonts {
                    full,
                    common,
                    common_chars,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Checks that the font loads (for `ordergate check`).
    pub fn check_font(&self) -> Result<(), NoteError> {
        self.fonts().map(|_| ())
    }

    /// Subsets of the whole font made for a single note so far (a note whose text the common
    /// subset draws makes none).
    pub fn note_subsets(&self) -> u64 {
        self.note_subsets.load(Ordering::Relaxed)
    }

    /// One copy as PDF (A4, one page per 30 lines).
    pub fn pdf(&self, note: &Note, copy: Copy) -> Result<Vec<u8>, NoteError> {
        let pages = layout(note, copy);
        let font = self.font_for(std::slice::from_ref(&pages))?;
        Ok(render_pdf(note, copy, pages, &font))
    }

    /// Every copy as PDF, in [`Copy::ALL`]'s order, drawn with one font for the note.
    pub fn pdfs(&self, note: &Note) -> Result<Vec<(Copy, Vec<u8>)>, NoteError> {
        let layouts: Vec<_> = Copy::ALL.iter().map(|c| layout(note, *c)).collect();
        let font = self.font_for(&layouts)?;
        Ok(Copy::ALL
            .into_iter()
            .zip(layouts)
            .map(|(copy, pages)| (copy, render_pdf(note, copy, pages, &font)))
            .collect())
    }

    /// The font that draws every text of `layouts`: the common subset when it has all the
    /// characters the face has glyphs for, else a subset of the face made for them.
    fn font_for(
        &self,
        layouts: &[Vec<Vec<Text>>],
    ) -> Result<Cow<'_, printpdf::ParsedFont>, NoteError> {
        let fonts = self.fonts()?;
        let chars: BTreeSet<char> = layouts
            .iter()
            .flatten()
            .flatten()
            .flat_map(|t| t.text.chars())
            .collect();
        let drawn_by_common = |c: &char| {
            fonts.common_chars.contains(c) || fonts.full.lookup_glyph_index(u32::from(*c)).is_none()
        };
        if chars.iter().all(drawn_by_common) {
            return Ok(Cow::Borrowed(&fonts.common));
        }
        self.note_subsets.fetch_add(1, Ordering::Relaxed);
        let glyphs = glyphs_of(&fonts.full, chars);
        subset(&fonts.full, &glyphs, &self.font_path.display().to_string()).map(Cow::Owned)
    }
}

/// One copy's pages as a PDF with `font` (whose glyphs printpdf subsets once more to the page's).
fn render_pdf(
    note: &Note,
    copy: Copy,
    pages: Vec<Vec<Text>>,
    font: &printpdf::ParsedFont,
) -> Vec<u8> {
    use printpdf::{Mm, PdfDocument, PdfPage, PdfSaveOptions};
    let mut doc = PdfDocument::new(&format!(
        "Delivery note {} ({})",
        note.number,
        copy.as_str()
    ));
    let id = doc.add_font(font);
    let pages = pages
        .into_iter()
        .map(|texts| {
            let mut ops = Vec::new();
            for t in texts {
                text_ops(&mut ops, &id, t);
            }
            PdfPage::new(Mm(210.0), Mm(297.0), ops)
        })
        .collect();
    let doc = doc.with_pages(pages);
    // printpdf's own save deflates every stream at the best level, which took a quarter of the
    // ship stage's CPU for a page of text; the fast level costs a fraction of that for a few
    // percent more bytes.
    let opts = PdfSaveOptions {
        optimize: false,
        ..PdfSaveOptions::default()
    };
    let mut pdf = doc.to_lopdf_document(&opts, &mut Vec::new());
    deflate_streams(&mut pdf);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = pdf.save_to(&mut out);
    out
}

/// Deflates (fast level) each stream of `pdf` that has no filter yet and may be compressed,
/// where that saves bytes: what `lopdf::Document::compress` does at the best level.
fn deflate_streams(pdf: &mut lopdf::Document) {
    use std::io::Write;
    for object in pdf.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        if !stream.allows_compression || stream.dict.get(b"Filter").is_ok() {
            continue;
        }
        let mut enc = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(stream.content.len() / 2),
            flate2::Compression::fast(),
        );
        let Ok(deflated) = enc.write_all(&stream.content).and_then(|()| enc.finish()) else {
            continue;
        };
        if deflated.len() + 19 < stream.content.len() {
            stream.dict.set("Filter", "FlateDecode");
            stream.set_content(deflated);
        }
    }
}

/// A piece of text at a place on a page (millimetres from the bottom left).
#[derive(Debug, Clone, PartialEq)]
struct Text {
    x: f32,
    y: f32,
    size: f32,
    text: String,
}

fn text_ops(ops: &mut Vec<printpdf::Op>, font: &printpdf::FontId, t: Text) {
    use printpdf::{Mm, Op, PdfFontHandle, Point, Pt, TextItem};
    ops.extend([
        Op::StartTextSection,
        Op::SetTextCursor {
            pos: Point {
                x: Mm(t.x).into(),
                y: Mm(t.y).into(),
            },
        },
        Op::SetFont {
            font: PdfFontHandle::External(font.clone()),
            size: Pt(t.size),
        },
        Op::ShowText {
            items: vec![TextItem::Text(t.text)],
        },
        Op::EndTextSection,
    ]);
}

/// `s` cut to `n` characters (table cells).
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The texts of each page of one copy.
fn layout(note: &Note, copy: Copy) -> Vec<Vec<Text>> {
    let t = |x: f32, y: f32, size: f32, text: String| Text { x, y, size, text };
    let mut page = vec![
        t(140.0, 282.0, 12.0, copy.label().to_string()),
        t(15.0, 280.0, 18.0, "发货单 Delivery note".into()),
    ];
    let mut y = 268.0;
    let line = |page: &mut Vec<Text>, y: &mut f32, size: f32, text: String| {
        page.push(t(15.0, *y, size, text));
        *y -= size * 0.5 + 1.5;
    };
    if let Some(c) = &note.company {
        line(&mut page, &mut y, 10.0, c.clone());
    }
    line(
        &mut page,
        &mut y,
        11.0,
        format!("送货单号 Delivery note no.: {}", note.number),
    );
    line(
        &mut page,
        &mut y,
        11.0,
        format!("订单号 Order no.: {}", note.order_number),
    );
    line(
        &mut page,
        &mut y,
        11.0,
        format!("发货日期 Ship date: {}", note.ship_date),
    );
    y -= 3.0;
    let mut customer = note.customer.name.clone();
    if let Some(c) = &note.customer.company {
        customer.push_str(&format!(", {c}"));
    }
    line(
        &mut page,
        &mut y,
        11.0,
        format!("客户 Customer: {customer}"),
    );
    let s = &note.ship_to;
    let mut to = vec![s.name.clone()];
    to.extend(s.company.clone());
    to.extend(s.lines.iter().cloned());
    let place = [
        s.postal_code.clone().unwrap_or_default(),
        s.city.clone(),
        s.region.clone().unwrap_or_default(),
        s.country.clone(),
    ]
    .into_iter()
    .filter(|x| !x.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    to.push(place);
    line(&mut page, &mut y, 11.0, "收货地址 Ship to:".into());
    for l in to {
        line(&mut page, &mut y, 11.0, format!("    {l}"));
    }
    if !note.parcels.is_empty() {
        let p: Vec<String> = note
            .parcels
            .iter()
            .map(|p| format!("{} {}", p.carrier, p.tracking_number))
            .collect();
        line(
            &mut page,
            &mut y,
            11.0,
            format!("承运 Carrier: {}", p.join("; ")),
        );
    }
    y -= 4.0;
    let header = |page: &mut Vec<Text>, y: f32| {
        for (x, h) in [
            (15.0, "#"),
            (22.0, "SKU"),
            (60.0, "品名 Product"),
            (125.0, "规格 Spec"),
            (180.0, "数量 Qty"),
        ] {
            page.push(t(x, y, 10.0, h.into()));
        }
    };
    header(&mut page, y);
    y -= 7.0;
    let mut pages = Vec::new();
    for (i, l) in note.lines.iter().enumerate() {
        if y < 30.0 {
            pages.push(std::mem::take(&mut page));
            page.push(t(140.0, 282.0, 12.0, copy.label().to_string()));
            page.push(t(
                15.0,
                282.0,
                11.0,
                format!("{} ({})", note.number, pages.len() + 1),
            ));
            y = 268.0;
            header(&mut page, y);
            y -= 7.0;
        }
        for (x, v) in [
            (15.0, (i + 1).to_string()),
            (22.0, cut(&l.sku, 18)),
            (60.0, cut(&l.name, 28)),
            (125.0, cut(l.spec.as_deref().unwrap_or(""), 24)),
            (180.0, l.quantity.clone()),
        ] {
            page.push(t(x, y, 10.0, v));
        }
        y -= 6.5;
    }
    if !note.remarks.is_empty() {
        y -= 4.0;
        page.push(t(15.0, y, 11.0, "包装备注 Packing remarks:".into()));
        y -= 6.5;
        for r in &note.remarks {
            page.push(t(18.0, y, 10.0, cut(r, 95)));
            y -= 6.0;
        }
    }
    pages.push(page);
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Note {
        Note {
            number: "DN-20261203-ABCDEF12".into(),
            order_id: "og_1".into(),
            order_number: "#1001".into(),
            ship_date: "2026-12-03".into(),
            company: None,
            customer: Party {
                name: "张三".into(),
                ..Party::default()
            },
            ship_to: ShipTo {
                name: "张三".into(),
                lines: vec!["浦东新区世纪大道100号".into()],
                city: "上海".into(),
                country: "CN".into(),
                ..ShipTo::default()
            },
            lines: vec![Line {
                sku: "MUG-01".into(),
                name: "<b>Mug</b>".into(),
                spec: Some("350ml".into()),
                quantity: "2".into(),
            }],
            remarks: vec!["易碎品 MUG-01: FRAGILE".into()],
            parcels: vec![],
        }
    }

    #[test]
    fn html_copies_are_marked_and_escaped() {
        let r = Renderer::new(&DeliveryNoteConfig::default()).unwrap();
        let html = r.html(&sample(), Copy::Finance).unwrap();
        assert!(html.contains("财务联 Finance copy"), "{html}");
        assert!(html.contains("DN-20261203-ABCDEF12"));
        assert!(
            html.contains("&lt;b&gt;Mug") && !html.contains("<b>Mug"),
            "escaped: {html}"
        );
        assert!(html.contains("易碎品"));
    }

    /// The text layer of `pdf`, as `pdftotext` reads it.
    fn pdftotext(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("note.pdf");
        std::fs::write(&path, pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils; deploy/dev/services.sh installs it)");
        assert!(out.status.success(), "pdftotext failed");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn every_copy_is_drawn_with_one_font_subset_per_note() {
        let r = Renderer::new(&DeliveryNoteConfig::default()).unwrap();
        // Latin text (accents included) is drawn with the common subset: no subset of its own.
        let mut latin = sample();
        latin.customer.name = "Chloé Bergeron".into();
        latin.ship_to = ShipTo {
            name: "Chloé Bergeron".into(),
            lines: vec!["388 Palmerston Blvd".into()],
            city: "Toronto".into(),
            country: "CA".into(),
            ..ShipTo::default()
        };
        let pdfs = r.pdfs(&latin).unwrap();
        assert_eq!(r.note_subsets(), 0, "the common subset draws a Latin note");
        assert_eq!(
            pdfs.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
            Copy::ALL.to_vec()
        );
        for (copy, pdf) in &pdfs {
            let text = pdftotext(pdf);
            for want in [
                copy.label(),
                "发货单 Delivery note",
                "Chloé Bergeron",
                "388 Palmerston Blvd",
                "易碎品 MUG-01: FRAGILE",
                "DN-20261203-ABCDEF12",
            ] {
                assert!(text.contains(want), "{want:?} not in {copy:?}:\n{text}");
            }
        }
        // A CJK address needs glyphs beyond it: one subset for the three copies.
        let pdfs = r.pdfs(&sample()).unwrap();
        assert_eq!(r.note_subsets(), 1, "one subset for all copies of the note");
        for (copy, pdf) in &pdfs {
            let text = pdftotext(pdf);
            for want in [copy.label(), "张三", "浦东新区世纪大道100号", "上海"] {
                assert!(text.contains(want), "{want:?} not in {copy:?}:\n{text}");
            }
        }
        // One copy alone reads the same.
        let text = pdftotext(&r.pdf(&sample(), Copy::Finance).unwrap());
        assert!(
            text.contains("财务联 Finance copy") && text.contains("张三"),
            "{text}"
        );
    }

    #[test]
    fn the_pdf_streams_are_deflated() {
        let r = Renderer::new(&DeliveryNoteConfig::default()).unwrap();
        let pdf = r.pdf(&sample(), Copy::Customer).unwrap();
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let mut deflated = 0;
        for object in doc.objects.values() {
            if let lopdf::Object::Stream(s) = object {
                let filter = s.dict.get(b"Filter").ok().and_then(|f| f.as_name().ok());
                if filter == Some(b"FlateDecode".as_slice()) {
                    deflated += 1;
                    // What it inflates to is what was drawn.
                    assert!(!s.decompressed_content().unwrap().is_empty());
                }
            }
        }
        // The page's content stream and the font's ToUnicode map at least.
        assert!(deflated >= 2, "{deflated} deflated streams");
        let text = pdftotext(&pdf);
        assert!(
            text.contains("客户联 Customer copy") && text.contains("张三"),
            "{text}"
        );
    }

    #[test]
    fn a_template_that_does_not_compile_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.html");
        std::fs::write(&p, "{% for x in %}").unwrap();
        let e = Renderer::new(&DeliveryNoteConfig {
            template: Some(p),
            ..DeliveryNoteConfig::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("bad.html"), "{e}");
    }

    #[test]
    fn many_lines_make_more_pages() {
        let mut n = sample();
        n.lines = (0..70)
            .map(|i| Line {
                sku: format!("S{i}"),
                name: "x".into(),
                spec: None,
                quantity: "1".into(),
            })
            .collect();
        assert!(layout(&n, Copy::Customer).len() >= 3);
        assert_eq!(
            note_number(
                "og_1",
                chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
            )
            .len(),
            20
        );
    }
}
