//! Text clean-up before extraction: line ends, odd spaces, quoted earlier messages, HTML.

/// Normalizes line ends and spaces (NBSP, ideographic space, full-width colon stays as is),
/// and full-width digits (`６`, typed by Japanese and Chinese input methods) to ASCII ones.
pub fn normalize(text: &str) -> String {
    let chars: Vec<char> = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace(['\u{00A0}', '\u{2007}', '\u{202F}'], " ")
        .replace('\u{3000}', "  ")
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            _ => c,
        })
        .collect();
    // A full-width comma or full stop between digits groups or ends a number
    // (`６４，０４４円`, `１２．５`).
    let digit = |i: Option<&char>| i.is_some_and(char::is_ascii_digit);
    (0..chars.len())
        .map(|i| match chars[i] {
            '，' if i > 0 && digit(chars.get(i - 1)) && digit(chars.get(i + 1)) => ',',
            '．' if i > 0 && digit(chars.get(i - 1)) && digit(chars.get(i + 1)) => '.',
            c => c,
        })
        .collect()
}

/// A value read from [`normalize`]d text, as the sender wrote it: [`normalize`] turns the
/// ideographic space (U+3000, which Japanese and Chinese writers put between a company and its
/// department, "東海物産株式会社　第二倉庫") into ASCII spaces so that columns split, but a
/// string fact is the payload's own text. `None` when `written` holds no such space where the
/// value has one.
pub fn ideographic_spaces_as_written(written: &str, value: &str) -> Option<String> {
    if !written.contains('\u{3000}') || !value.contains(' ') {
        return None;
    }
    let pattern = value
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join("[ \u{3000}\u{00A0}]+");
    let found = regex::Regex::new(&pattern).ok()?.find(written)?;
    found
        .as_str()
        .contains('\u{3000}')
        .then(|| found.as_str().trim().to_string())
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

/// Words that end a reply header (`On Mon, 3 Nov 2025, Ann <a@b> wrote:`), by language.
const WROTE: &[&str] = &[
    "wrote",
    "schrieb",
    "a écrit",
    "escribió",
    "schreef",
    "ha scritto",
    "escreveu",
    "skrev",
    "napisał",
    "написал",
];

/// Header names of an Outlook-style quoted block, by language: `From:` then `Sent:`/`Date:`.
const FROM_HEADERS: &[&str] = &[
    "from:",
    "von:",
    "de :",
    "de:",
    "van:",
    "da:",
    "fra:",
    "från:",
    "od:",
    "差出人:",
    "差出人：",
    "发件人:",
    "发件人：",
    "寄件者:",
    "寄件者：",
    "寄件人:",
    "寄件人：",
    "מאת:",
    "من:",
    "보낸 사람:",
    "từ:",
    "від:",
    "от:",
    "kimden:",
    "feladó:",
];
/// Subject lines of a quoted or forwarded message's header block, by language.
const SUBJECT_HEADERS: &[&str] = &[
    "subject:",
    "betreff:",
    "objet:",
    "objet :",
    "asunto:",
    "onderwerp:",
    "oggetto:",
    "assunto:",
    "emne:",
    "ämne:",
    "aihe:",
    "temat:",
    "předmět:",
    "主题:",
    "主題:",
    "件名:",
];

const SENT_HEADERS: &[&str] = &[
    "sent:",
    "date:",
    "gesendet:",
    "datum:",
    "envoyé :",
    "envoyé:",
    "date :",
    "enviado:",
    "enviada:",
    "fecha:",
    "verzonden:",
    "inviato:",
    "data:",
    "送信日時:",
    "送信日時：",
    "发送时间",
    "發送時間",
    "寄件日期",
    "日期:",
    "日期：",
    "to:",
    "an:",
    "à :",
    "para:",
    "aan:",
    "a:",
    "sendt:",
    "skickat:",
    "wysłano:",
    "wysłane:",
    "odesláno:",
    "til:",
    "till:",
];

/// Lines that start a forwarded message, by language.
const FORWARD_MARKERS: &[&str] = &[
    "forwarded message",
    "begin forwarded message",
    "weitergeleitete nachricht",
    "message transféré",
    "mensaje reenviado",
    "mensagem encaminhada",
    "doorgestuurd bericht",
    "messaggio inoltrato",
    "転送されたメッセージ",
    "转发的邮件",
    "轉寄的郵件",
    "original message",
    "ursprüngliche nachricht",
    "message d'origine",
    "mensaje original",
    "mensagem original",
    "oorspronkelijk bericht",
    "messaggio originale",
    "原始邮件",
    "原始郵件",
];

/// Lines that start a forwarded message in more languages (Gmail's `---------- <words>
/// ----------` separator as each language writes it).
const FORWARD_MARKERS_MORE: &[&str] = &[
    "הודעה שהועברה",
    "رسالة مُعاد توجيهها",
    "رسالة معاد توجيهها",
    "전달된 메시지",
    "thư được chuyển tiếp",
    "пересланий лист",
    "пересланное сообщение",
    "пересылаемое сообщение",
    "wiadomość przekazana",
    "přeposlaná zpráva",
    "προωθημένο μήνυμα",
    "iletilen ileti",
    "továbbított üzenet",
    "mesaj redirecționat",
    "videresendt meddelelse",
    "videresendt melding",
    "vidarebefordrat meddelande",
    "välitetty viesti",
    "pesan yang diteruskan",
    "ข้อความที่ส่งต่อ",
];

/// Whether a line (in lower case) names a forwarded message in one of
/// [`FORWARD_MARKERS_MORE`]' languages.
fn forward_marker_more(lower: &str) -> bool {
    FORWARD_MARKERS_MORE.iter().any(|m| lower.contains(m))
}

/// Whether line `i` starts a quoted earlier message (a reply header, an Outlook header block,
/// a `-----Original Message-----` or forward separator).
fn quote_starts(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim();
    let lower = t.to_lowercase();
    let next = lines
        .get(i + 1)
        .map(|l| l.trim().to_lowercase())
        .unwrap_or_default();
    // The verb ends the line in English ("… wrote:"); German and Dutch put the name after it
    // ("Am … schrieb Ann <a@b>:").
    let wrote = |s: &str| {
        WROTE.iter().any(|w| {
            s.contains(&format!(" {w} ")) || s.trim_end_matches([':', '：', ' ']).ends_with(w)
        })
    };
    // "On … wrote:" (or wrapped: "On …, Ann <a@b>" / "wrote:").
    let reply = (lower.ends_with(':') || lower.ends_with('：'))
        && wrote(&lower)
        && (lower.contains('@') || lower.chars().any(|c| c.is_ascii_digit()));
    let wrapped = !lower.is_empty()
        && lower.contains('@')
        && WROTE
            .iter()
            .any(|w| next == format!("{w}:") || next == format!("{w} :"));
    let chinese = (t.starts_with('在') || t.contains('于') || t.contains('於'))
        && (t.ends_with("写道：") || t.ends_with("寫道：") || t.ends_with("写道:"));
    // Gmail in any language: "2026年2月1日(日) 10:00 山田 <yamada@x.example>:".
    let addressed = (lower.ends_with(">:") || lower.ends_with(">：") || lower.ends_with("> :"))
        && lower.contains('@')
        && lower.chars().any(|c| c.is_ascii_digit());
    // "---- On Mon, 01 Feb 2026 Bob <b@x> wrote ----".
    let dashed = lower.starts_with("----") && WROTE.iter().any(|w| lower.contains(w));
    let separator = lower.starts_with("-----")
        && (FORWARD_MARKERS.iter().any(|m| lower.contains(m)) || forward_marker_more(&lower))
        || lower.starts_with("________________")
            && FROM_HEADERS.iter().any(|h| next.starts_with(h));
    let outlook = outlook_header(lines, i);
    reply || wrapped || chinese || addressed || dashed || separator || outlook
}

/// Whether line `i` starts an Outlook header block: `From:` then `Sent:`/`Date:`/`To:`.
fn outlook_header(lines: &[&str], i: usize) -> bool {
    let lower = lines[i].trim().to_lowercase();
    let next = lines
        .get(i + 1)
        .map(|l| l.trim().to_lowercase())
        .unwrap_or_default();
    FROM_HEADERS.iter().any(|h| lower.starts_with(h))
        && SENT_HEADERS.iter().any(|h| next.starts_with(h))
}

/// Whether line `i` starts a forwarded message (its header block follows). Outlook forwards
/// under the same `-----Original Message-----` separator it quotes replies under, so in a
/// message whose subject says it is forwarded (`forwarded`) that separator starts one too.
fn forward_starts(line: &str, forwarded: bool) -> bool {
    let lower = line.trim().to_lowercase();
    let markers = if forwarded {
        FORWARD_MARKERS
    } else {
        &FORWARD_MARKERS[..11]
    };
    (lower.starts_with("---") || lower.starts_with("begin forwarded"))
        && (markers.iter().any(|m| lower.contains(m)) || forward_marker_more(&lower))
}

/// Whether a subject says its message is a reply (`Re:`, `AW:`, `Antw:`, `SV:`, `R:`,
/// `RIF:`, `RES:`, `回复:`, `答复:`, `返信:`).
pub fn reply_subject(subject: &str) -> bool {
    let lower = subject.trim().to_lowercase();
    [
        "re:",
        "re :",
        "aw:",
        "antw:",
        "antwort:",
        "sv:",
        "r:",
        "rif:",
        "res:",
        "rép:",
        "réf:",
        "回复:",
        "回复：",
        "答复:",
        "答复：",
        "回覆:",
        "回覆：",
        "返信:",
        "返信：",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

/// Whether a subject says its message is forwarded (`Fwd:`, `FW:`, `WG:`, `TR:`, `RV:`,
/// `Doorst:`, `I:`, `Enc:`, `转发:`), before any reply prefix.
pub fn forwarded_subject(subject: &str) -> bool {
    let lower = subject.trim().to_lowercase();
    [
        "fwd:",
        "fw:",
        "wg:",
        "tr:",
        "rv:",
        "doorst:",
        "i:",
        "enc:",
        "vs:",
        "vb:",
        "pd:",
        "fwd :",
        "tr :",
        "转发:",
        "转发：",
        "轉寄:",
        "轉寄：",
        "転送:",
        "転送：",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

/// Drops quoted earlier messages: lines starting with `>`, and everything from a reply
/// header (`On … wrote:`, `Am … schrieb …:`, `Le … a écrit :`, `-----Original Message-----`,
/// an Outlook `From:`/`Sent:` block in any of the usual languages, `在…写道：`) to the end.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut inline = false;
    for (i, line) in lines.iter().enumerate() {
        if !inline && quote_starts(&lines, i) {
            if inline_reply(&lines, i) {
                inline = true;
                continue;
            }
            break;
        }
        if line.trim().starts_with('>') {
            // Between inline answers a quoted line ends the answer above it, as a blank
            // line would.
            if inline && out.last().is_some_and(|l: &&str| !l.trim().is_empty()) {
                out.push("");
            }
            continue;
        }
        out.push(*line);
    }
    out.join("\n")
}

/// Whether the quoted message under the reply header at line `i` is answered inline: its
/// lines are `>`-quoted and the writer's own text stands between them at least twice
/// ("> How many do you want?" / "6 boxes" / "> Delivery to the usual place?" / "No, to …").
/// The writer's lines are then the message; only the `>` lines are the earlier one.
fn inline_reply(lines: &[&str], i: usize) -> bool {
    let rest = &lines[i + 1..];
    let quoted = |l: &str| l.trim_start().starts_with('>');
    if !rest
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| quoted(l))
    {
        return false;
    }
    // Runs of the writer's lines that a quoted line follows.
    let mut answers = 0;
    let mut in_answer = false;
    for l in rest {
        if quoted(l) {
            if in_answer {
                answers += 1;
            }
            in_answer = false;
        } else if !l.trim().is_empty() {
            in_answer = true;
        }
    }
    answers >= 2
}

/// The sender's own earlier order quoted below a reply: the body of the newest quoted message
/// whose header (`From: Fiona Grant <fiona@…>` in an Outlook block, `On …, Fiona <fiona@…>
/// wrote:`) names `own` (the reply's own From address), without its header and its `>`
/// marks, up to the next quoted message. `None` when no quoted message is the sender's.
pub fn own_quoted_message(text: &str, own: &str) -> Option<String> {
    let own = own.trim().to_lowercase();
    if own.is_empty() {
        return None;
    }
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            match t.strip_prefix('>') {
                Some(rest) => rest.trim_start_matches(['>', ' ']).to_string(),
                None => l.to_string(),
            }
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    // A separator line and the Outlook block under it start one quoted message.
    let mut starts: Vec<usize> = Vec::new();
    for i in 0..refs.len() {
        if quote_starts(&refs, i) && starts.last().is_none_or(|&s| s + 1 != i) {
            starts.push(i);
        }
    }
    for (n, &at) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(refs.len());
        // The header: an Outlook block's lines up to the first blank line (after a separator
        // line, if any), or the reply header's line (and its wrapped "wrote:").
        let first = refs[at].trim();
        let block = first.starts_with("---")
            || first.starts_with("___")
            || outlook_header(&refs, at)
            || (at + 1 < refs.len() && outlook_header(&refs, at + 1));
        let mut k = at + 1;
        let mut from = first.to_lowercase();
        if block {
            k = at;
            while k < end && !refs[k].trim().is_empty() {
                let lower = refs[k].trim().to_lowercase();
                if FROM_HEADERS.iter().any(|h| lower.starts_with(h)) {
                    from = lower;
                }
                k += 1;
            }
        } else if refs.get(k).is_some_and(|l| {
            let l = l.trim().to_lowercase();
            WROTE.iter().any(|w| l.starts_with(w))
        }) {
            from.push_str(&refs[k].to_lowercase());
            k += 1;
        }
        if !from.contains(&own) {
            continue;
        }
        while k < end && refs[k].trim().is_empty() {
            k += 1;
        }
        let body = refs[k.min(end)..end].join("\n");
        if !body.trim().is_empty() {
            return Some(body);
        }
    }
    None
}

/// Whether the newest message of a reply orders the quoted order again ("please go ahead with
/// the below again", "same again", "repeat the order below", "nochmal wie unten", "la même
/// commande"): the quoted order is the order, with any change it states.
pub fn orders_again(text: &str) -> bool {
    const AGAIN: &[&str] = &[
        "again",
        "same as below",
        "as below",
        "repeat",
        "repeat order",
        "nochmal",
        "noch einmal",
        "erneut",
        "wie unten",
        "encore",
        "de nouveau",
        "à nouveau",
        "otra vez",
        "de nuevo",
        "repetir",
        "di nuovo",
        "ancora",
        "ripetere",
        "opnieuw",
        "nogmaals",
        "zelfde",
        "novamente",
        "de novo",
    ];
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let spaced = format!(" {} ", words.join(" "));
    AGAIN.iter().any(|w| spaced.contains(&format!(" {w} ")))
}

/// Words with which the newest message of a thread asks to change the order it passes on
/// ("make it 18 rather than 12", "statt", "au lieu de", "変更"), by language. Matched as whole
/// words (or as written, for scripts without spaces).
const CHANGE_WORDS: &[&str] = &[
    // English
    "change",
    "changes",
    "changed",
    "amend",
    "amended",
    "amendment",
    "instead of",
    "rather than",
    "revised",
    "revise",
    "correction",
    "corrected",
    "increase",
    "reduce",
    "replace",
    "cancel",
    "remove",
    "add",
    "extra",
    // German
    "ändern",
    "änderung",
    "geändert",
    "statt",
    "anstatt",
    "anstelle",
    "korrektur",
    "korrigiert",
    "stornieren",
    "zusätzlich",
    "erhöhen",
    // French
    "au lieu de",
    "modifier",
    "modification",
    "modifié",
    "changer",
    "corriger",
    "rectification",
    "annuler",
    "ajouter",
    // Spanish, Portuguese
    "en lugar de",
    "en vez de",
    "cambiar",
    "cambio",
    "modificar",
    "corregir",
    "añadir",
    "agregar",
    "anular",
    "em vez de",
    "alterar",
    "alteração",
    "mudar",
    "acrescentar",
    // Dutch, Italian
    "in plaats van",
    "wijzigen",
    "wijziging",
    "aanpassen",
    "aanpassing",
    "toevoegen",
    "annuleren",
    "invece di",
    "modificare",
    "modifica",
    "cambiare",
    "correggere",
    "aggiungere",
    "annullare",
    // Nordic, Polish, Finnish, Turkish, Greek, Hungarian
    "istället för",
    "ändra",
    "ändring",
    "i stedet for",
    "ændre",
    "ændring",
    "endre",
    "endring",
    "zamiast",
    "zmiana",
    "zmienić",
    "muutos",
    "muuttaa",
    "sijaan",
    "yerine",
    "değişiklik",
    "αλλαγή",
    "αντί",
    "helyett",
    "módosítás",
    // Chinese, Japanese, Korean (no spaces: matched as written)
    "改为",
    "改成",
    "修改",
    "更改",
    "改為",
    "變更",
    "変更",
    "訂正",
    "修正",
    "追加",
    "取消",
    "キャンセル",
    "변경",
    "대신",
    "수정",
    "취소",
];

/// Why the note above a forwarded order (the thread's newest message) may change the order:
/// it asks for a change in words, or it states an amount the order does not. `None` when it
/// only passes the order on. The order is then held: the newest message wins, and applying
/// its change is a person's call.
pub fn note_changes_order(note: &str, order: &str) -> Option<&'static str> {
    let lower = note.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let spaced = format!(" {} ", words.join(" "));
    let asks = CHANGE_WORDS.iter().any(|w| {
        if w.chars()
            .next()
            .is_some_and(|c| c.is_ascii() || c.is_alphabetic() && !is_cjk(c))
        {
            spaced.contains(&format!(" {w} "))
        } else {
            lower.contains(w)
        }
    });
    if asks {
        return Some("the newest message above the forwarded order asks for a change");
    }
    // An amount written with a currency sign that the order does not state.
    let chars: Vec<char> = note.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if "$€£¥₹₩".contains(chars[i]) {
            let mut j = i + 1;
            while chars.get(j) == Some(&' ') {
                j += 1;
            }
            let start = j;
            while chars
                .get(j)
                .is_some_and(|c| c.is_ascii_digit() || ((*c == '.' || *c == ',') && j > start))
            {
                j += 1;
            }
            let amount: String = chars[start..j].iter().collect();
            let amount = amount.trim_end_matches(['.', ',']);
            if !amount.is_empty() && !order.contains(amount) {
                return Some("the newest message above the forwarded order states an amount the order does not");
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// Whether `c` is written without spaces between words (Chinese, Japanese, Korean).
fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// A forwarded message in `text`: the note above the forward marker, and the forwarded
/// message's body (its header block dropped) with the sender's name and address from its
/// `From:` line. `None` when nothing is forwarded.
pub fn split_forward(text: &str, forwarded: bool) -> Option<(String, String, Option<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    // Outlook may forward with no separator line, the header block alone ("Fra: … / Sendt:
    // …"): in a message whose subject says it is forwarded, that block starts it.
    let at = (0..lines.len()).find(|&i| {
        forward_starts(lines[i], forwarded) || (forwarded && outlook_header(&lines, i))
    })?;
    let note = lines[..at].join("\n");
    let mut from = None;
    let mut inner_forward = false;
    // The header block starts on the marker's line when there is no separator line.
    let mut k = at;
    // The header block: `Name: value` lines up to the first blank line.
    while k < lines.len() && !lines[k].trim().is_empty() {
        let l = lines[k].trim();
        let lower = l.to_lowercase();
        if FROM_HEADERS.iter().any(|h| lower.starts_with(h)) {
            from = l.split_once([':', '：']).map(|(_, v)| v.trim().to_string());
        }
        // The forwarded message is a forward itself ("Subject: FW: …").
        if SUBJECT_HEADERS.iter().any(|h| lower.starts_with(h)) {
            inner_forward = l
                .split_once([':', '：'])
                .is_some_and(|(_, v)| forwarded_subject(v));
        }
        k += 1;
    }
    while lines.get(k).is_some_and(|l| l.trim().is_empty()) {
        k += 1;
    }
    let rest = lines[k.min(lines.len())..].join("\n");
    // A forward of a forward (`FW: FW: …`): the order is the innermost forwarded message;
    // the notes passing it on are one note, the outermost (the sender's) last.
    if inner_forward {
        if let Some((inner_note, body, inner_from)) = split_forward(&rest, true) {
            // The sender's own note last: its signature ends the text, as in a single forward.
            return Some((format!("{inner_note}\n\n{note}"), body, inner_from.or(from)));
        }
    }
    let body = strip_quoted(&rest);
    Some((note, body, from))
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
    // Inside a table cell, paragraphs and breaks (Outlook wraps every cell's text in
    // `<p class=MsoNormal>`) are spaces, so a row stays one line.
    let mut in_cell = false;
    // Inside an Outlook `MsoNormal` paragraph.
    let mut mso = false;
    // Where the open `MsoNormal` paragraph's text starts in `out`.
    let mut mso_start = 0;
    // Cells that span rows below (`rowspan`): by column, the rows still to fill and the text.
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    // The column of the next cell in the row, and where the open cell's text starts in `out`
    // with the rows it spans.
    let mut column = 0;
    let mut open_cell: Option<(usize, usize)> = None;
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
        let closing = tag.starts_with('/');
        match name.as_str() {
            "td" | "th" => {
                in_cell = !closing;
                if closing {
                    if let Some((start, rows)) = open_cell.take() {
                        let text = out.get(start..).unwrap_or("").to_string();
                        spans.retain(|s| s.0 != column);
                        spans.push((column, rows, text));
                    }
                    out.push('\t');
                    column += 1;
                    fill_spans(&mut out, &mut spans, &mut column);
                } else {
                    let rows = row_span(&tag);
                    open_cell = (rows > 1).then_some((out.len(), rows - 1));
                }
            }
            "tr" | "table" => {
                in_cell = false;
                if !closing || name == "table" {
                    out.push('\n');
                }
                if name == "table" {
                    spans.clear();
                }
                column = 0;
                if name == "tr" && !closing {
                    fill_spans(&mut out, &mut spans, &mut column);
                }
            }
            // A break inside a cell is kept as a mark ([`CELL_BREAK`]): the row is laid out
            // once it is whole ([`cell_blocks`]).
            "br" | "p" | "div" | "h1" | "h2" | "h3" | "h4" | "li" | "ul" | "ol" if in_cell => {
                out.push(CELL_BREAK)
            }
            "br" => out.push('\n'),
            // Outlook writes every line as a paragraph without spacing (`<p
            // class=MsoNormal>`) and a blank line as an empty one: its paragraphs are lines.
            "p" if (closing && mso) || tag.contains("msonormal") => {
                let empty = out.get(mso_start..).is_some_and(|t| t.trim().is_empty());
                if closing && empty {
                    // An empty paragraph is Outlook's blank line.
                    out.truncate(mso_start);
                    out.push('\n');
                } else {
                    // The source's own line breaks between paragraphs are spaces by now.
                    while out.ends_with(' ') {
                        out.pop();
                    }
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                }
                mso = !closing;
                mso_start = out.len();
            }
            // A `<div>` is a line, without a margin (Gmail, Apple Mail: `<div>name</div>
            // <div>street</div>`; a blank line is `<div><br></div>`): no blank line between two.
            "div" if !out.ends_with('\n') => out.push('\n'),
            "p" | "h1" | "h2" | "h3" | "h4" | "li" | "ul" | "ol" => out.push('\n'),
            _ => {}
        }
    }
    out.push_str(&decode_entities(rest));
    // Single spaces inside lines; at most one blank line in a row.
    let mut text = String::new();
    let mut blank = 0;
    for line in out.lines().flat_map(cell_blocks) {
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

/// The rows a cell's tag spans (`rowspan="2"`), 1 when it says none; at most 100.
fn row_span(tag: &str) -> usize {
    let Some(at) = tag.find("rowspan") else {
        return 1;
    };
    let digits: String = tag[at + "rowspan".len()..]
        .trim_start_matches(|c: char| c == '=' || c == '"' || c == '\'' || c.is_whitespace())
        .chars()
        .take_while(char::is_ascii_digit)
        .take(3)
        .collect();
    digits.parse::<usize>().map_or(1, |n| n.clamp(1, 100))
}

/// Writes the cells that rows above span into this row at `column` (and the columns after,
/// while they are spanned too): a row whose first cell stands for two rows (`rowspan="2"`)
/// has one cell fewer in the next row, which would shift the next row's cells one column left.
fn fill_spans(out: &mut String, spans: &mut Vec<(usize, usize, String)>, column: &mut usize) {
    while let Some(at) = spans.iter().position(|s| s.0 == *column) {
        out.push_str(&spans[at].2);
        out.push('\t');
        spans[at].1 -= 1;
        if spans[at].1 == 0 {
            spans.remove(at);
        }
        *column += 1;
    }
}

/// A line break inside a table cell while the text is laid out (a control character no text
/// keeps: [`decode_entities`] output has it only from the source, where it means nothing).
const CELL_BREAK: char = '\u{1E}';

/// A table row laid out as text. Cells that are blocks of lines side by side (an ERP's
/// `Vendor | Ship To | Bill To`: two cells of two lines or more, or one of three or more, and
/// no cell that is only a number, as a line-table row has) become blocks one below the other,
/// each cell's lines its own lines and a blank line between blocks, so that a labelled block
/// reads as one. Otherwise the breaks in a cell are spaces and the row stays one line.
fn cell_blocks(row: &str) -> Vec<String> {
    if !row.contains(CELL_BREAK) {
        return vec![row.to_string()];
    }
    let cells: Vec<Vec<&str>> = row
        .split('\t')
        .map(|c| {
            c.split(CELL_BREAK)
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect()
        })
        .collect();
    let several = cells.iter().filter(|c| c.len() >= 2).count();
    let numeric = cells.iter().any(|c| {
        let t = c.join(" ");
        !t.is_empty()
            && t.chars().any(|ch| ch.is_ascii_digit())
            && t.chars()
                .all(|ch| ch.is_ascii_digit() || " .,'$€£¥%-+".contains(ch))
    });
    if (several >= 2 || cells.iter().any(|c| c.len() >= 3)) && !numeric {
        let mut out = vec![String::new()];
        for c in cells.iter().filter(|c| !c.is_empty()) {
            out.extend(c.iter().map(|p| p.to_string()));
            out.push(String::new());
        }
        return out;
    }
    vec![cells
        .iter()
        .map(|c| c.join(" "))
        .collect::<Vec<_>>()
        .join("\t")]
}

/// The character of an HTML named entity beyond the XML five: the Latin-1 set (`&uuml;`,
/// `&eacute;`, `&szlig;`) and the usual typographic ones (`&euro;`, `&ndash;`, `&rsquo;`).
fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "nbsp" => '\u{00A0}',
        "iexcl" => '\u{00A1}',
        "cent" => '\u{00A2}',
        "pound" => '\u{00A3}',
        "curren" => '\u{00A4}',
        "yen" => '\u{00A5}',
        "brvbar" => '\u{00A6}',
        "sect" => '\u{00A7}',
        "uml" => '\u{00A8}',
        "copy" => '\u{00A9}',
        "ordf" => '\u{00AA}',
        "laquo" => '\u{00AB}',
        "not" => '\u{00AC}',
        "shy" => '\u{00AD}',
        "reg" => '\u{00AE}',
        "macr" => '\u{00AF}',
        "deg" => '\u{00B0}',
        "plusmn" => '\u{00B1}',
        "sup2" => '\u{00B2}',
        "sup3" => '\u{00B3}',
        "acute" => '\u{00B4}',
        "micro" => '\u{00B5}',
        "para" => '\u{00B6}',
        "middot" => '\u{00B7}',
        "cedil" => '\u{00B8}',
        "sup1" => '\u{00B9}',
        "ordm" => '\u{00BA}',
        "raquo" => '\u{00BB}',
        "frac14" => '\u{00BC}',
        "frac12" => '\u{00BD}',
        "frac34" => '\u{00BE}',
        "iquest" => '\u{00BF}',
        "Agrave" => '\u{00C0}',
        "Aacute" => '\u{00C1}',
        "Acirc" => '\u{00C2}',
        "Atilde" => '\u{00C3}',
        "Auml" => '\u{00C4}',
        "Aring" => '\u{00C5}',
        "AElig" => '\u{00C6}',
        "Ccedil" => '\u{00C7}',
        "Egrave" => '\u{00C8}',
        "Eacute" => '\u{00C9}',
        "Ecirc" => '\u{00CA}',
        "Euml" => '\u{00CB}',
        "Igrave" => '\u{00CC}',
        "Iacute" => '\u{00CD}',
        "Icirc" => '\u{00CE}',
        "Iuml" => '\u{00CF}',
        "ETH" => '\u{00D0}',
        "Ntilde" => '\u{00D1}',
        "Ograve" => '\u{00D2}',
        "Oacute" => '\u{00D3}',
        "Ocirc" => '\u{00D4}',
        "Otilde" => '\u{00D5}',
        "Ouml" => '\u{00D6}',
        "times" => '\u{00D7}',
        "Oslash" => '\u{00D8}',
        "Ugrave" => '\u{00D9}',
        "Uacute" => '\u{00DA}',
        "Ucirc" => '\u{00DB}',
        "Uuml" => '\u{00DC}',
        "Yacute" => '\u{00DD}',
        "THORN" => '\u{00DE}',
        "szlig" => '\u{00DF}',
        "agrave" => '\u{00E0}',
        "aacute" => '\u{00E1}',
        "acirc" => '\u{00E2}',
        "atilde" => '\u{00E3}',
        "auml" => '\u{00E4}',
        "aring" => '\u{00E5}',
        "aelig" => '\u{00E6}',
        "ccedil" => '\u{00E7}',
        "egrave" => '\u{00E8}',
        "eacute" => '\u{00E9}',
        "ecirc" => '\u{00EA}',
        "euml" => '\u{00EB}',
        "igrave" => '\u{00EC}',
        "iacute" => '\u{00ED}',
        "icirc" => '\u{00EE}',
        "iuml" => '\u{00EF}',
        "eth" => '\u{00F0}',
        "ntilde" => '\u{00F1}',
        "ograve" => '\u{00F2}',
        "oacute" => '\u{00F3}',
        "ocirc" => '\u{00F4}',
        "otilde" => '\u{00F5}',
        "ouml" => '\u{00F6}',
        "divide" => '\u{00F7}',
        "oslash" => '\u{00F8}',
        "ugrave" => '\u{00F9}',
        "uacute" => '\u{00FA}',
        "ucirc" => '\u{00FB}',
        "uuml" => '\u{00FC}',
        "yacute" => '\u{00FD}',
        "thorn" => '\u{00FE}',
        "yuml" => '\u{00FF}',
        "euro" => '\u{20AC}',
        "ndash" => '\u{2013}',
        "mdash" => '\u{2014}',
        "lsquo" => '\u{2018}',
        "rsquo" => '\u{2019}',
        "sbquo" => '\u{201A}',
        "ldquo" => '\u{201C}',
        "rdquo" => '\u{201D}',
        "bdquo" => '\u{201E}',
        "bull" => '\u{2022}',
        "hellip" => '\u{2026}',
        "trade" => '\u{2122}',
        "permil" => '\u{2030}',
        "dagger" => '\u{2020}',
        "Dagger" => '\u{2021}',
        "lsaquo" => '\u{2039}',
        "rsaquo" => '\u{203A}',
        "OElig" => '\u{0152}',
        "oelig" => '\u{0153}',
        "Scaron" => '\u{0160}',
        "scaron" => '\u{0161}',
        "Yuml" => '\u{0178}',
        "fnof" => '\u{0192}',
        "circ" => '\u{02C6}',
        "tilde" => '\u{02DC}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "zwnj" => '\u{200C}',
        "zwj" => '\u{200D}',
        "lrm" => '\u{200E}',
        "rlm" => '\u{200F}',
        "minus" => '\u{2212}',
        "larr" => '\u{2190}',
        "rarr" => '\u{2192}',
        _ => return None,
    })
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
                _ if named_entity(name).is_some() => named_entity(name),
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
    fn an_inline_answered_reply_keeps_the_writers_lines() {
        let text = "Hi Tom,\nanswers below.\n\nOn 3 May 2026, Tom <tom@x.example> wrote:\n> How many mugs?\n12 mugs MG-1 at £3.00\n> And plates?\n6 plates PL-2 at £4.50\n> Anything else?\nNo thanks.\n";
        let kept = strip_quoted(text);
        assert!(kept.contains("12 mugs MG-1"));
        assert!(kept.contains("6 plates PL-2"));
        assert!(!kept.contains("How many"));
        // A reply quoted below, answered above only: cut at the header.
        let text = "12 mugs please.\n\nOn 3 May 2026, Tom <tom@x.example> wrote:\n> How many mugs?\n> Plates?\n\n-- \nAnn\n";
        assert_eq!(strip_quoted(text), "12 mugs please.\n");
    }

    #[test]
    fn an_ideographic_space_is_kept_as_written() {
        let written = "〒100-0001\n大和商事株式会社\u{3000}第二倉庫\n";
        assert_eq!(
            ideographic_spaces_as_written(written, "大和商事株式会社 第二倉庫").as_deref(),
            Some("大和商事株式会社\u{3000}第二倉庫")
        );
        assert_eq!(ideographic_spaces_as_written("A  B", "A B"), None);
    }

    /// Full-width digits, and a full-width comma or full stop between digits, are read as
    /// ASCII (`６４，０４４円` is 64,044 yen); elsewhere they stay.
    /// The sender's own message quoted below a reply, found by its header's address
    /// (an Outlook block, or a `>`-quoted reply header); another's is not theirs.
    #[test]
    fn the_senders_own_quoted_message() {
        let text = "Same again please.\n\n________________________________\n\
                    From: Priya <priya@linen.example>\nSent: 06 May 2026 11:20\nSubject: RE: Order\n\n\
                    All delivered.\n\n________________________________\n\
                    From: Fiona <fiona@hotel.example>\nSent: 04 May 2026 09:12\nSubject: Order\n\n\
                    Please can we order:\n2 x Sheet @ 3.00\n";
        assert_eq!(
            own_quoted_message(text, "Fiona@hotel.example").as_deref(),
            Some("Please can we order:\n2 x Sheet @ 3.00")
        );
        assert_eq!(
            own_quoted_message(text, "priya@linen.example").as_deref(),
            Some("All delivered.\n")
        );
        let text = "Again please.\n\nOn Mon, 4 May 2026, Fiona <fiona@hotel.example> wrote:\n\
                    > 2 x Sheet @ 3.00\n";
        assert_eq!(
            own_quoted_message(text, "fiona@hotel.example").as_deref(),
            Some("2 x Sheet @ 3.00")
        );
        assert_eq!(own_quoted_message(text, "other@hotel.example"), None);
        assert!(orders_again(
            "Please go ahead with the below again for June"
        ));
        assert!(orders_again("Bitte nochmal wie unten."));
        assert!(!orders_again("Please confirm the order below."));
    }

    #[test]
    fn full_width_number_separators() {
        assert_eq!(normalize("合計：６４，０４４円"), "合計：64,044円");
        assert_eq!(normalize("１２．５ kg"), "12.5 kg");
        assert_eq!(normalize("はい，そうです．"), "はい，そうです．");
    }

    #[test]
    fn a_cell_spanning_rows_stands_in_each_row() {
        let h = "<table><tr><th>Group</th><th>Code</th><th>Qty</th></tr>\
                 <tr><td rowspan=\"2\">Paper</td><td>P-1</td><td>3</td></tr>\
                 <tr><td>P-2</td><td>4</td></tr>\
                 <tr><td>Ink</td><td rowspan='2'>I-9</td><td>1</td></tr>\
                 <tr><td>Ink</td><td>2</td></tr></table>";
        let t = html_to_text(h);
        assert!(t.contains("Paper\tP-1\t3\nPaper\tP-2\t4\n"), "{t}");
        assert!(t.contains("Ink\tI-9\t1\nInk\tI-9\t2\n"), "{t}");
        // A span larger than the table's rows is only as long as the table.
        let t = html_to_text("<table><tr><td rowspan=999>A</td><td>1</td></tr></table><p>x</p>");
        assert!(t.ends_with("x\n"), "{t}");
    }

    #[test]
    fn address_blocks_side_by_side_in_a_row_become_blocks() {
        let h = "<table><tr><td><b>Vendor</b><br>Great Northern<br>800 Industrial Blvd<br>Minneapolis, MN 55413</td>\
                 <td><b>Ship To</b><br>Warehouse 2<br>2450 Commerce Park Dr<br>Madison, WI 53719</td></tr>\
                 <tr><td>GN-1180</td><td>Nitrile gloves<br>size L</td><td>40</td><td>$8.95</td></tr></table>";
        let t = html_to_text(h);
        assert!(
            t.contains("\nShip To\nWarehouse 2\n2450 Commerce Park Dr\nMadison, WI 53719\n"),
            "{t}"
        );
        assert!(t.contains("Minneapolis, MN 55413\n\nShip To"), "{t}");
        // A line-table row keeps its cells on one line, a break in a cell a space.
        assert!(
            t.contains("GN-1180\tNitrile gloves size L\t40\t$8.95"),
            "{t}"
        );
    }

    #[test]
    fn quoted_replies_are_dropped() {
        let t =
            "Please add 2 x A (A1) @ 1.00\n\nOn Mon, 1 Jan 2025 Bob wrote:\n> 5 x B (B1) @ 2.00\n";
        assert_eq!(strip_quoted(t).trim(), "Please add 2 x A (A1) @ 1.00");
        let t = "new\n> old\nstill new";
        assert_eq!(strip_quoted(t), "new\nstill new");
        let t = "new\nFrom: Bob\nSent: Monday\nold";
        assert_eq!(strip_quoted(t), "new");
        for header in [
            "Am 20.10.2025 um 09:12 schrieb Bestellservice <o@s.example>:",
            "Le lun. 20 oct. 2025 à 09:12, Service <o@s.example> a écrit :",
            "Op ma 20 okt 2025 om 09:12 schreef Orders <o@s.example>:",
            "Il giorno lun 20 ott 2025 alle ore 09:12 Ufficio <o@s.example> ha scritto:",
            "El lun, 20 oct 2025 a las 9:12, Pedidos (<o@s.example>) escribió:",
            "2025年10月20日(月) 9:12 山田 太郎 <yamada@s.example>:",
            "山田 <yamada@s.example> 于2025年10月20日周一 09:12写道：",
            "---- On Mon, 20 Oct 2025 Bob <b@s.example> wrote ----",
        ] {
            let t = format!("new\n{header}\nold order 9 x B");
            assert_eq!(strip_quoted(&t), "new", "{header}");
        }
        let t = "new\nVon: Bob\nGesendet: Montag\nold";
        assert_eq!(strip_quoted(t), "new");
    }

    #[test]
    fn forwarded_orders_are_found() {
        let t = "Resending.\n\n---------- Mensaje reenviado ---------\nDe: Jordi <j@p.example>\n\
                 Date: mié\nSubject: Pedido\n\nPedido nº 12\n> old";
        let (note, body, from) = split_forward(t, false).unwrap();
        assert_eq!(note.trim(), "Resending.");
        assert_eq!(body, "Pedido nº 12");
        assert_eq!(from.as_deref(), Some("Jordi <j@p.example>"));
        assert!(split_forward("no forward here", false).is_none());
    }

    #[test]
    fn a_note_that_changes_the_forwarded_order_is_found() {
        let order = "PO 7\nAB-1 Tea 12 £38.50\nTotal £734.50";
        // Passing the order on changes nothing.
        assert_eq!(
            note_changes_order("Please process the PO below.\n07700 900 431", order),
            None
        );
        // An amount the order states is no change.
        assert_eq!(note_changes_order("Total as below, £734.50.", order), None);
        // Words that change it, in several languages and scripts.
        for note in [
            "Make the tea 18 cases rather than 12.",
            "Bitte 18 statt 12.",
            "18 au lieu de 12 svp",
            "数量を18に変更してください",
            "数量改为18",
        ] {
            assert!(note_changes_order(note, order).is_some(), "{note}");
        }
        // An amount the order does not state.
        assert!(note_changes_order("New figure £965.50 ex VAT.", order).is_some());
        // A word that only contains a change word is none ("address", "exchange").
        assert_eq!(
            note_changes_order("Our address and Exchange St.", order),
            None
        );
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
        assert_eq!(
            html_to_text("K&uuml;che &amp; Stra&szlig;e &euro;5"),
            "Küche & Straße €5\n"
        );
        // Outlook: paragraphs inside cells keep the row on one line.
        let h = "<table><tr><td><p class=MsoNormal>A-1<o:p></o:p></p></td>\
                 <td><p class=MsoNormal>Cups<br>white</p></td><td><p>3</p></td></tr></table>";
        assert_eq!(html_to_text(h), "A-1\tCups white\t3\n");
    }

    /// Gmail's `<div>` lines are lines with no blank line between them; `<div><br></div>` is
    /// the blank line.
    #[test]
    fn html_divs_are_lines() {
        let h = "<div>Morada de entrega:</div><div>Café Ribeira Nova</div>\
                 <div>4050-552 Porto</div><div><br></div><div>Obrigado,</div>";
        assert_eq!(
            html_to_text(h),
            "Morada de entrega:\nCafé Ribeira Nova\n4050-552 Porto\n\nObrigado,\n"
        );
    }
}
#[cfg(test)]
mod nested_forward_tests {
    /// A forward of a forward: the order is the innermost message, its writer's From the
    /// sender; the notes of those who passed it on are one note.
    #[test]
    fn the_innermost_forward_is_the_order() {
        let t = "Please process.\n\n________________________________\nFrom: Ann <ann@x.example>\n\
                 Sent: Monday, March 9, 2026 4:12 PM\nSubject: FW: Order PO 7\n\nCan you forward?\n\n\
                 ________________________________\nFrom: Bob <bob@x.example>\nSent: Monday, March 9, \
                 2026 11:03 AM\nSubject: Order PO 7\n\n2 x Tea (T-1) @ $4.00\n";
        let (note, body, from) = super::split_forward(t, true).unwrap_or_default();
        assert!(body.starts_with("2 x Tea"), "{body}");
        assert!(note.contains("Please process") && note.contains("Can you forward"));
        assert_eq!(from.as_deref(), Some("Bob <bob@x.example>"));
        // A forwarded reply is not followed into the message it quotes.
        let t = "FYI\n\nFrom: Ann <ann@x.example>\nSent: Monday\nSubject: RE: Order\n\n\
                 Make it 3.\n\nFrom: Bob <bob@x.example>\nSent: Sunday\nSubject: Order\n\n2 x Tea\n";
        let (_, body, _) = super::split_forward(t, true).unwrap_or_default();
        assert_eq!(body.trim(), "Make it 3.");
    }
}
#[cfg(test)]
mod outlook_tests {
    /// Outlook writes each line as a `MsoNormal` paragraph and a blank line as an empty one:
    /// an address block stays one block, the blank paragraph ends it.
    #[test]
    fn outlook_paragraphs_are_lines() {
        let h = "<p class=\"MsoNormal\">PO Total: $7,610.40<o:p></o:p></p>\n\
                 <p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>\n\
                 <p class=\"MsoNormal\">Ship to:<o:p></o:p></p>\n\
                 <p class=\"MsoNormal\">Evergreen<o:p></o:p></p>\n\
                 <p class=\"MsoNormal\">Seattle, WA 98105<o:p></o:p></p>\n\
                 <p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>\n\
                 <p class=\"MsoNormal\">Keisha Brown<o:p></o:p></p>\n";
        assert_eq!(
            super::html_to_text(h),
            "PO Total: $7,610.40\n\nShip to:\nEvergreen\nSeattle, WA 98105\n\nKeisha Brown\n\n"
        );
    }

    /// Gmail's forward separator and header block in Hebrew: the note above, the forwarded
    /// order below with its writer.
    #[test]
    fn a_forward_in_hebrew_is_split() {
        let t = "מעבירה אליכם את ההזמנה.\nטל' 03-5176620\n\n---------- הודעה שהועברה ----------\n\
                 מאת: אבי לוי <avi@bistro.example.co.il>\nנושא: הזמנה מס' 5512\n\nהזמנה מס' 5512\n";
        let (note, body, from) = super::split_forward(t, true).unwrap();
        assert!(note.contains("03-5176620"));
        assert_eq!(body.trim(), "הזמנה מס' 5512");
        assert_eq!(from.as_deref(), Some("אבי לוי <avi@bistro.example.co.il>"));
    }
}
