//! The notice templates: minijinja files the operator edits in `[notices] templates_dir`,
//! `<notice>.<lang>.subject`, `<notice>.<lang>.txt` and optionally `<notice>.<lang>.html`
//! (auto-escaped). Undefined names are errors, so a typo in a template fails
//! `ordergate check` (which renders every template with a sample) instead of mailing a blank.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};

/// One built-in template: its file name and text.
macro_rules! t {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/notices/",
                $name
            )),
        )
    };
}
use serde::Serialize;

/// A rendered notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// One parcel as notices and the status page show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParcelView {
    /// Stable carrier code (`ups`).
    pub carrier: String,
    /// The carrier's name as reported (`UPS`), else the code.
    pub carrier_name: String,
    pub tracking_number: String,
    /// The carrier's tracking page, when known.
    pub tracking_url: Option<String>,
    /// Expected arrival, `YYYY-MM-DD` (UTC), when known.
    pub eta: Option<String>,
    /// Canonical tracking status (`in_transit`).
    pub status: String,
    /// Where it was last seen.
    pub location: Option<String>,
    /// Delivered on, `YYYY-MM-DD`.
    pub delivered: Option<String>,
}

/// A fact review found missing or doubtful (`needs_info`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingFact {
    /// The canonical path (`customer.phone`).
    pub path: String,
    /// The reason code (`contact_missing`).
    pub code: String,
    /// What is wrong, for people (English, never the value).
    pub message: String,
}

/// An overdue exception, for the department e-mail.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExceptionView {
    pub id: String,
    pub kind: String,
    pub department: String,
    pub severity: String,
    pub owner: Option<String>,
    pub order_id: Option<String>,
    pub due_at: Option<String>,
    pub reason: String,
}

/// What every template may use. Every field is always present (absent facts are `none`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NoticeContext {
    /// The notice (`shipped`).
    pub notice: String,
    /// The language (`en`, `zh`).
    pub lang: String,
    /// The order number the customer knows (`#1042`).
    pub order_number: String,
    pub customer_name: Option<String>,
    /// The parcels concerned (shipped: the order's; delayed: the late one).
    pub parcels: Vec<ParcelView>,
    /// needs_info: what is missing.
    pub missing: Vec<MissingFact>,
    /// rejected / cancelled / changed: the reason code and text, when given.
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    /// changed: the canonical fields changed.
    pub fields: Vec<String>,
    /// cancelled after shipment: a return was requested.
    pub return_requested: bool,
    /// delayed: `late` or `lost`.
    pub delay: Option<String>,
    /// delivered: the feedback link.
    pub feedback_url: Option<String>,
    /// The public status page.
    pub status_url: String,
    /// Where the customer replies.
    pub reply_to: String,
    /// The department e-mail's exception.
    pub exception: Option<ExceptionView>,
}

/// The template file names of a notice in a language, and whether each is required.
pub fn template_names(notice: &str, lang: &str) -> [(String, bool); 3] {
    [
        (format!("{notice}.{lang}.subject"), true),
        (format!("{notice}.{lang}.txt"), true),
        (format!("{notice}.{lang}.html"), false),
    ]
}

/// The loaded templates of one folder.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    dir: PathBuf,
}

impl Templates {
    /// Templates read from `dir` (lazily, each once).
    pub fn new(dir: &Path) -> Self {
        let mut env = Environment::new();
        env.set_loader(minijinja::path_loader(dir));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Bound the work a template may do (an edited template with a runaway loop).
        env.set_fuel(Some(200_000));
        Self {
            env,
            dir: dir.to_path_buf(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn exists(&self, name: &str) -> bool {
        self.dir.join(name).is_file()
    }

    /// Renders `notice` in `lang`; the error names the template file and the reason.
    pub fn render(
        &self,
        notice: &str,
        lang: &str,
        ctx: &NoticeContext,
    ) -> Result<Rendered, String> {
        let [(subject, _), (text, _), (html, _)] = template_names(notice, lang);
        let one = |name: &str| -> Result<String, String> {
            self.env
                .get_template(name)
                .and_then(|t| t.render(minijinja::value::Serde(ctx)))
                .map_err(|e| format!("template {}: {e:#}", self.dir.join(name).display()))
        };
        let subject_line = one(&subject)?;
        // A subject is one line.
        let subject_line = subject_line
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject: subject_line,
            text: one(&text)?,
            html: if self.exists(&html) {
                Some(one(&html)?)
            } else {
                None
            },
        })
    }

    /// Renders every template `notices` × `langs` needs with a sample, so a missing file, a
    /// syntax error or an unknown name is found before any customer is mailed. Returns one
    /// line per problem.
    pub fn check(&self, notices: &[&str], langs: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        for notice in notices {
            for lang in langs {
                for (name, required) in template_names(notice, lang) {
                    if required && !self.exists(&name) {
                        problems.push(format!(
                            "template {} is missing",
                            self.dir.join(&name).display()
                        ));
                    }
                }
                if let Err(e) = self.render(notice, lang, &sample(notice, lang)) {
                    problems.push(e);
                }
            }
        }
        problems
    }
}

/// The templates shipped in `templates/notices/`, built in: `(file name, text)`. The demo and a
/// fresh install write them where `[notices] templates_dir` points
/// ([`write_default_templates`]); the operator edits the files from there.
pub const DEFAULT_TEMPLATES: &[(&str, &str)] = &[
    t!("cancelled.en.subject"),
    t!("cancelled.en.txt"),
    t!("cancelled.zh.subject"),
    t!("cancelled.zh.txt"),
    t!("changed.en.subject"),
    t!("changed.en.txt"),
    t!("changed.zh.subject"),
    t!("changed.zh.txt"),
    t!("delayed.en.html"),
    t!("delayed.en.subject"),
    t!("delayed.en.txt"),
    t!("delayed.zh.html"),
    t!("delayed.zh.subject"),
    t!("delayed.zh.txt"),
    t!("delivered.en.html"),
    t!("delivered.en.subject"),
    t!("delivered.en.txt"),
    t!("delivered.zh.html"),
    t!("delivered.zh.subject"),
    t!("delivered.zh.txt"),
    t!("needs_info.en.subject"),
    t!("needs_info.en.txt"),
    t!("needs_info.zh.subject"),
    t!("needs_info.zh.txt"),
    t!("overdue.en.subject"),
    t!("overdue.en.txt"),
    t!("overdue.zh.subject"),
    t!("overdue.zh.txt"),
    t!("rejected.en.subject"),
    t!("rejected.en.txt"),
    t!("rejected.zh.subject"),
    t!("rejected.zh.txt"),
    t!("shipped.en.html"),
    t!("shipped.en.subject"),
    t!("shipped.en.txt"),
    t!("shipped.zh.html"),
    t!("shipped.zh.subject"),
    t!("shipped.zh.txt"),
];

/// Writes the built-in templates into `dir` (created if missing), leaving files that exist
/// alone (the operator's edits); returns how many were written.
pub fn write_default_templates(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut n = 0;
    for (name, text) in DEFAULT_TEMPLATES {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(path, text)?;
            n += 1;
        }
    }
    Ok(n)
}

/// A context with every field filled, for checking templates.
pub fn sample(notice: &str, lang: &str) -> NoticeContext {
    NoticeContext {
        notice: notice.into(),
        lang: lang.into(),
        order_number: "#1001".into(),
        customer_name: Some("Sample Customer".into()),
        parcels: vec![ParcelView {
            carrier: "ups".into(),
            carrier_name: "UPS".into(),
            tracking_number: "1Z999AA10123456784".into(),
            tracking_url: crate::tracking::carrier::tracking_url("ups", "1Z999AA10123456784"),
            eta: Some("2026-01-02".into()),
            status: "in_transit".into(),
            location: Some("Louisville, KY".into()),
            delivered: Some("2026-01-02".into()),
        }],
        missing: vec![MissingFact {
            path: "customer.phone".into(),
            code: "contact_missing".into(),
            message: "no phone number".into(),
        }],
        reason_code: Some("sample".into()),
        reason: Some("sample reason".into()),
        fields: vec!["ship_to.line1".into()],
        return_requested: false,
        delay: Some("late".into()),
        feedback_url: Some("https://example.com/feedback/token".into()),
        status_url: "https://example.com/status".into(),
        reply_to: "orders@example.com".into(),
        exception: Some(ExceptionView {
            id: "exc_sample".into(),
            kind: "carrier_delay".into(),
            department: "logistics".into(),
            severity: "error".into(),
            owner: None,
            order_id: Some("og_sample".into()),
            due_at: Some("2026-01-01 12:00 UTC".into()),
            reason: "sample".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_templates_render_in_both_languages() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/notices");
        let t = Templates::new(&dir);
        let mut notices: Vec<&str> = crate::config::NOTICE_KINDS.to_vec();
        notices.push(crate::config::DEPARTMENT_NOTICE);
        let problems = t.check(&notices, &["en".into(), "zh".into()]);
        assert!(problems.is_empty(), "{problems:#?}");
        let r = t.render("shipped", "zh", &sample("shipped", "zh")).unwrap();
        assert!(r.text.contains("1Z999AA10123456784"), "{}", r.text);
        // `/` is written `&#x2f;` in HTML (minijinja escapes it); a browser reads both alike.
        assert!(r
            .html
            .unwrap()
            .contains("https:&#x2f;&#x2f;www.ups.com&#x2f;track"));
    }

    #[test]
    fn the_built_in_templates_are_the_shipped_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/notices");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let built_in: Vec<&str> = DEFAULT_TEMPLATES.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            files, built_in,
            "templates/notices and DEFAULT_TEMPLATES differ"
        );
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("shipped.en.txt"), "edited").unwrap();
        assert_eq!(
            write_default_templates(out.path()).unwrap(),
            built_in.len() - 1
        );
        assert_eq!(
            std::fs::read_to_string(out.path().join("shipped.en.txt")).unwrap(),
            "edited"
        );
    }

    #[test]
    fn a_typo_in_a_template_is_reported_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("shipped.en.subject"),
            "Order {{ order_numbr }}",
        )
        .unwrap();
        std::fs::write(dir.path().join("shipped.en.txt"), "x").unwrap();
        let problems = Templates::new(dir.path()).check(&["shipped"], &["en".into()]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("shipped.en.subject"), "{problems:?}");
        let problems = Templates::new(dir.path()).check(&["delayed"], &["en".into()]);
        assert!(problems
            .iter()
            .any(|p| p.contains("delayed.en.txt is missing")));
    }
}
