//! Text clean-up before extraction: line ends, odd spaces, quoted earlier messages, HTML.

/// Normalizes line ends and spaces (NBSP, ideographic space, full-width colon stays as is).
pub fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace(['\u{00A0}', '\u{2007}', '\u{202F}'], " ")
        .replace('\u{3000}', "  ")
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
        let next = lines.get(i + 1).map(|l| l.trim().to_lowercase()).unwrap_or_default();
        let reply_header = (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || lower.contains("-----original message-----")
            || lower.starts_with("-----原始邮件-----")
            || lower.starts_with("-----原始郵件-----")
            || (t.starts_with('在') && (t.ends_with("写道：") || t.ends_with("寫道：")))
            || ((lower.starts_with("from:") || lower.starts_with("发件人:") || lower.starts_with("发件人："))
                && (next.starts_with("sent:") || next.starts_with("date:") || next.starts_with("发送时间")));
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
            let start = lower[..at].rfind('<').filter(|_| !marker.starts_with('<')).unwrap_or(at);
            cut = cut.min(start);
        }
    }
    let kept = html.get(..cut).unwrap_or(html);
    mail_parser::decoders::html::html_to_text(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_replies_are_dropped() {
        let t = "Please add 2 x A (A1) @ 1.00\n\nOn Mon, 1 Jan 2025 Bob wrote:\n> 5 x B (B1) @ 2.00\n";
        assert_eq!(strip_quoted(t).trim(), "Please add 2 x A (A1) @ 1.00");
        let t = "new\n> old\nstill new";
        assert_eq!(strip_quoted(t), "new\nstill new");
        let t = "new\nFrom: Bob\nSent: Monday\nold";
        assert_eq!(strip_quoted(t), "new");
    }

    #[test]
    fn html_quote_is_cut() {
        let h = "<p>Order 3 x A</p><div class=\"gmail_quote\"><p>old 9 x B</p></div>";
        let t = html_to_text(h);
        assert!(t.contains("3 x A") && !t.contains("9 x B"), "{t}");
        let h = "<p>new</p><blockquote>old</blockquote>";
        assert!(!html_to_text(h).contains("old"));
    }
}
