//! The report: one row per figure, each a ratio to a baseline measured in the same run, rendered
//! as a Markdown table and as JSON.

use serde::Serialize;

/// Whether a figure met its goal.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Measured, counts verified, goal met.
    Pass,
    /// Measured, counts verified, goal missed.
    Miss,
    /// Not measurable on this branch yet (the feature does not exist); the reason says why.
    NotYet,
    /// The measurement could not be trusted (a count did not verify, a service failed).
    Invalid,
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Miss => "**miss**",
            Verdict::NotYet => "not yet",
            Verdict::Invalid => "**INVALID**",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `N1/shopify`, `P1`, `M1/idle`.
    pub id: String,
    /// What ordergate does in it.
    pub measure: String,
    /// ordergate's figure.
    pub value: Option<f64>,
    /// Unit of `value` and `baseline`.
    pub unit: String,
    /// The same-run baseline's figure.
    pub baseline: Option<f64>,
    /// What the baseline does.
    pub baseline_measure: String,
    /// `value / baseline` (None for absolute goals such as memory).
    pub ratio: Option<f64>,
    /// The goal as text (`≥ 0.25`, `≤ 40 MB`).
    pub goal: String,
    pub verdict: Verdict,
    /// Counts verified, extra figures (p99), or why it is not measured.
    pub note: String,
}

impl Row {
    /// A ratio figure: `value / baseline` against `min_ratio`.
    #[allow(clippy::too_many_arguments)]
    pub fn ratio(
        id: impl Into<String>,
        measure: impl Into<String>,
        unit: &str,
        value: f64,
        baseline_measure: impl Into<String>,
        baseline: f64,
        min_ratio: f64,
        note: impl Into<String>,
    ) -> Self {
        let ratio = if baseline > 0.0 {
            value / baseline
        } else {
            0.0
        };
        Row {
            id: id.into(),
            measure: measure.into(),
            value: Some(value),
            unit: unit.to_string(),
            baseline: Some(baseline),
            baseline_measure: baseline_measure.into(),
            ratio: Some(ratio),
            goal: format!("≥ {min_ratio}"),
            verdict: if ratio >= min_ratio {
                Verdict::Pass
            } else {
                Verdict::Miss
            },
            note: note.into(),
        }
    }

    /// An absolute figure with an upper limit (memory).
    pub fn at_most(
        id: impl Into<String>,
        measure: impl Into<String>,
        unit: &str,
        value: f64,
        limit: f64,
        note: impl Into<String>,
    ) -> Self {
        Row {
            id: id.into(),
            measure: measure.into(),
            value: Some(value),
            unit: unit.to_string(),
            baseline: None,
            baseline_measure: "—".into(),
            ratio: None,
            goal: format!("≤ {limit} {unit}"),
            verdict: if value <= limit {
                Verdict::Pass
            } else {
                Verdict::Miss
            },
            note: note.into(),
        }
    }

    /// A figure that cannot be measured yet; the baseline is still reported when it was measured.
    pub fn not_yet(
        id: impl Into<String>,
        measure: impl Into<String>,
        goal: &str,
        baseline: Option<(String, f64, &str)>,
        why: impl Into<String>,
    ) -> Self {
        let (baseline_measure, baseline, unit) = match baseline {
            Some((m, b, u)) => (m, Some(b), u.to_string()),
            None => ("—".to_string(), None, String::new()),
        };
        Row {
            id: id.into(),
            measure: measure.into(),
            value: None,
            unit,
            baseline,
            baseline_measure,
            ratio: None,
            goal: goal.to_string(),
            verdict: Verdict::NotYet,
            note: why.into(),
        }
    }

    /// A measurement that failed or whose counts did not verify.
    pub fn invalid(
        id: impl Into<String>,
        measure: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Row {
            id: id.into(),
            measure: measure.into(),
            value: None,
            unit: String::new(),
            baseline: None,
            baseline_measure: "—".into(),
            ratio: None,
            goal: String::new(),
            verdict: Verdict::Invalid,
            note: why.into(),
        }
    }
}

/// Everything the run found.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// Cores, CPU, fsync latency, versions, settings, message sizes.
    pub machine: Vec<(String, String)>,
    pub rows: Vec<Row>,
    /// Wall time of the whole suite, seconds.
    pub wall_seconds: f64,
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

impl Report {
    /// The Markdown report: the table, then the machine and settings.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| id | ordergate | value | baseline (same run) | baseline value | ratio | goal | verdict | notes |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let unit = if r.unit.is_empty() {
                String::new()
            } else {
                format!(" {}", r.unit)
            };
            let value = match r.value {
                Some(_) => format!("{}{unit}", num(r.value)),
                None => "—".into(),
            };
            let baseline = match r.baseline {
                Some(_) => format!("{}{unit}", num(r.baseline)),
                None => "—".into(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.id,
                r.measure,
                value,
                r.baseline_measure,
                baseline,
                num(r.ratio),
                r.goal,
                r.verdict.word(),
                r.note.replace('|', "/")
            ));
        }
        out.push_str("\n| machine and settings | |\n|---|---|\n");
        for (k, v) in &self.machine {
            out.push_str(&format!("| {k} | {} |\n", v.replace('|', "/")));
        }
        out.push_str(&format!(
            "| suite wall time | {:.0} s |\n",
            self.wall_seconds
        ));
        out
    }

    /// True when a figure could not be trusted.
    pub fn any_invalid(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Verdict::Invalid)
    }
}
