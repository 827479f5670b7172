//! Text clean-up before extraction: line ends, odd spaces, quoted earlier messages, HTML.

/// Normalizes line ends and spaces (NBSP, ideographic space, full-width colon stays as is).
pub fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace(['\u{00A0}', '\u{2007}', '\u{202F}'], " ")
        .replace('\u{3000}', "  ")
}

/// Undoes double spacing (OCR often puts a blank line after every line): when most lines are
/// followed by exactly one blank line, single blank lines are dropped and longer runs become one.
pub fn undouble_spacing(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let blank = |i: usize| lines.get(i).is_none_or(|l| l.trim().is_empty());
    let filled = (0..lines.len()).filter(|&i| !blank(i)).count();
    let spaced = (0..lines.len())
        .filter(|&i| !blank(i) && blank(i + 1) && !blank(i + 2))
        .count();
    if filled < 4 || spaced * 10 < filled * 6 {
        return text.to_string();
    }
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let after_blank = i > 0 && blank(i - 1);
        // A single blank line is spacing; of a longer run the first blank line is kept.
        if blank(i) && (after_blank || !blank(i + 1)) {
            continue;
        }
        out.push(*line);
    }
    out.join("\n")
}

/// [`undouble_spacing`] page by page (pages separated by form feeds, as Tesseract writes a
/// multi-page TIFF): one page may be double spaced and the next not.
pub fn undouble_spacing_pages(text: &str) -> String {
    text.split('\u{000C}')
        .map(undouble_spacing)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Drops quoted earlier messages: lines starting with `>`, and everything from a reply
/// header (`On … wrote:`, `-----Original Message-----`, an Outlook `From:`/`Sent:` block,
/// `在…写道：`) to the end.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let lower = t.to_lowercase();
        let next = lines
            .get(i + 1)
            .map(|l| l.trim().to_lowercase())
            .unwrap_or_default();
        let reply_header = (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || lower.contains("-----original message-----")
            || lower.starts_with("-----原始邮件-----")
            || lower.starts_with("-----原始郵件-----")
            || (t.starts_with('在') && (t.ends_with("写道：") || t.ends_with("寫道：")))
            || ((lower.starts_with("from:")
                || lower.starts_with("发件人:")
                || lower.starts_with("发件人："))
                && (next.starts_with("sent:")
                    || next.starts_with("date:")
                    || next.starts_with("发送时间")));
        if reply_header {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        out.push(*line);
    }
    out.join("\n")
}

/// Plain text of an HTML body without its quoted block (`<blockquote>`, Gmail's
/// `gmail_quote`, Outlook's `divRplyFwdMsg`/`appendonsend`).
pub fn html_to_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut cut = html.len();
    for marker in [
        "<blockquote",
        "class=\"gmail_quote",
        "id=\"divrplyfwdmsg",
        "id=\"appendonsend",
    ] {
        if let Some(at) = lower.find(marker) {
            // Cut at the start of the tag that carries the marker.
            let start = lower[..at]
                .rfind('<')
                .filter(|_| !marker.starts_with('<'))
                .unwrap_or(at);
            cut = cut.min(start);
        }
    }
    let kept = html.get(..cut).unwrap_or(html);
    strip_tags(kept)
}

/// Text of HTML keeping its layout: paragraphs and rows are lines, table cells are separated
/// by tabs (so a table reads like a laid-out one), scripts and styles dropped, entities decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]).replace(['\n', '\r'], " "));
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[..gt].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        rest = &after[gt + 1..];
        if (name == "script" || name == "style") && !tag.starts_with('/') {
            let close = format!("</{name}");
            rest = rest
                .to_ascii_lowercase()
                .find(&close)
                .and_then(|at| rest.get(at..))
                .unwrap_or("");
            continue;
        }
        match name.as_str() {
            "br" => out.push('\n'),
            "tr" if !tag.starts_with('/') => out.push('\n'),
            "td" | "th" if tag.starts_with('/') => out.push('\t'),
            "p" | "div" | "h1" | "h2" | "h3" | "h4" | "li" | "table" | "ul" | "ol" => {
                out.push('\n')
            }
            _ => {}
        }
    }
    out.push_str(&decode_entities(rest));
    // Single spaces inside lines; at most one blank line in a row.
    let mut text = String::new();
    let mut blank = 0;
    for line in out.lines() {
        let line = line
            .split('\t')
            .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\t");
        let line = line.trim_matches([' ', '\t']);
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        text.push_str(line);
        text.push('\n');
    }
    text.trim_start().to_string()
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_replies_are_dropped() {
        let t =
            "Please add 2 x A (A1) @ 1.00\n\nOn Mon, 1 Jan 2025 Bob wrote:\n> 5 x B (B1) @ 2.00\n";
        assert_eq!(strip_quoted(t).trim(), "Please add 2 x A (A1) @ 1.00");
        let t = "new\n> old\nstill new";
        assert_eq!(strip_quoted(t), "new\nstill new");
        let t = "new\nFrom: Bob\nSent: Monday\nold";
        assert_eq!(strip_quoted(t), "new");
    }

    #[test]
    fn double_spacing_is_undone() {
        assert_eq!(
            undouble_spacing("a\n\nb\n\nc\n\n\nd\n\ne"),
            "a\nb\nc\n\nd\ne"
        );
        assert_eq!(undouble_spacing("a\nb\n\nc"), "a\nb\n\nc");
        // Page by page: a double-spaced page 1, a single-spaced page 2.
        assert_eq!(
            undouble_spacing_pages("a\n\nb\n\nc\n\nd\n\u{000C}e\nf\n\ng"),
            "a\nb\nc\nd\n\ne\nf\n\ng"
        );
    }

    #[test]
    fn html_quote_is_cut() {
        let h = "<p>Order 3 x A</p><div class=\"gmail_quote\"><p>old 9 x B</p></div>";
        let t = html_to_text(h);
        assert!(t.contains("3 x A") && !t.contains("9 x B"), "{t}");
        let h = "<p>new</p><blockquote>old</blockquote>";
        assert!(!html_to_text(h).contains("old"));
        let h = "<table><tr><th>SKU</th><th>Qty</th></tr><tr><td>A&amp;B</td><td>2</td></tr></table><p>x<br>y&#233;</p>";
        assert_eq!(html_to_text(h), "SKU\tQty\nA&B\t2\n\nx\nyé\n");
    }
}
