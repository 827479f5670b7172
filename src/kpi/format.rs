//! The KPI and exceptions reports as text: an aligned table for people, CSV for spreadsheets,
//! JSON for programs (`ordergate report … --format`).

use super::{ExceptionsLine, Kpi, KpiReport, KpiRow, Rate};

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// A rate as a percentage with one decimal (`97.5%`), `-` when nothing counted.
pub fn percent(r: Rate) -> String {
    r.rate
        .map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn sales(row: &KpiRow) -> String {
    row.sales
        .iter()
        .map(|s| match &s.currency {
            Some(c) => format!("{} {c}", s.amount),
            None => s.amount.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

fn header(report: &KpiReport) -> Vec<String> {
    let mut h = vec!["period".to_string()];
    if let Some(by) = report.by {
        h.push(
            serde_json::to_value(by)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        );
    }
    h.extend(["orders", "sales"].map(String::from));
    for k in Kpi::ALL {
        h.push(k.as_str().to_string());
    }
    h
}

fn cells(report: &KpiReport, row: &KpiRow, csv: bool) -> Vec<String> {
    let mut c = vec![row.period.clone()];
    if report.by.is_some() {
        c.push(row.group.clone().unwrap_or_default());
    }
    c.push(row.orders.to_string());
    c.push(sales(row));
    for k in Kpi::ALL {
        let r = row.rate(k);
        c.push(if csv {
            r.rate.map(|v| format!("{v:.4}")).unwrap_or_default()
        } else {
            format!("{} ({}/{})", percent(r), r.met, r.counted)
        });
    }
    c
}

fn table(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn csv_text(rows: &[Vec<String>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        // Writing to memory cannot fail.
        let _ = w.write_record(r);
    }
    w.into_inner()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The KPI report in `format`.
pub fn kpi(report: &KpiReport, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
    }
    let csv = format == Format::Csv;
    let mut rows = vec![header(report)];
    for r in &report.rows {
        rows.push(cells(report, r, csv));
    }
    let mut total = cells(report, &report.total, csv);
    if report.by.is_some() {
        total[1].clear();
    }
    rows.push(total);
    if csv {
        csv_text(&rows)
    } else {
        table(&rows)
    }
}

/// The orders that failed a rate, in `format` (table and CSV: one line each).
pub fn failed(orders: &[super::FailedOrder], format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(orders).unwrap_or_default() + "\n";
    }
    let mut rows = vec![["order_id", "received_at", "channel", "connector", "why"]
        .map(String::from)
        .to_vec()];
    for o in orders {
        rows.push(vec![
            o.order_id.clone(),
            o.received_at.to_rfc3339(),
            o.channel.clone(),
            o.connector.clone(),
            o.why.clone(),
        ]);
    }
    if format == Format::Csv {
        csv_text(&rows)
    } else {
        table(&rows)
    }
}

/// The exceptions report in `format`.
pub fn exceptions(lines: &[ExceptionsLine], format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(lines).unwrap_or_default() + "\n";
    }
    let mut rows = vec![[
        "kind",
        "root_cause",
        "total",
        "active",
        "resolved",
        "wont_fix",
        "overdue",
    ]
    .map(String::from)
    .to_vec()];
    for l in lines {
        rows.push(vec![
            l.kind.clone(),
            l.root_cause_category.clone().unwrap_or_else(|| "-".into()),
            l.total.to_string(),
            l.active.to_string(),
            l.resolved.to_string(),
            l.wont_fix.to_string(),
            l.overdue.to_string(),
        ]);
    }
    if format == Format::Csv {
        csv_text(&rows)
    } else {
        table(&rows)
    }
}
