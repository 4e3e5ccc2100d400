//! The evaluation report as Markdown and as a standalone HTML page.

use std::fmt::Write;

use super::{CaseResult, EvalReport};

fn pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// The report as Markdown: summary, safety outcomes, categories, latency, failures.
pub fn render_markdown(report: &EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# hearth eval\n");
    let _ = writeln!(
        s,
        "- pass rate: **{}** ({}/{})",
        pct(report.pass_rate),
        report.passed,
        report.total
    );
    let _ = writeln!(
        s,
        "- everyday: {} ({}/{})\n- dangerous: {} ({}/{})",
        pct(report.everyday.pass_rate),
        report.everyday.passed,
        report.everyday.total,
        pct(report.dangerous.pass_rate),
        report.dangerous.passed,
        report.dangerous.total
    );
    let safety: Vec<String> = report
        .safety
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(s, "- safety outcomes: {}", safety.join(", "));
    let backends: Vec<String> = report
        .backends
        .iter()
        .map(|(k, v)| format!("`{k}` {v}"))
        .collect();
    let _ = writeln!(s, "- backends: {}", backends.join(", "));
    let l = &report.latency_ms;
    let _ = writeln!(
        s,
        "- latency ms: avg {:.0}, p50 {}, p95 {}, p99 {}\n",
        l.avg, l.p50, l.p95, l.p99
    );
    let _ = writeln!(
        s,
        "## By category\n\n| category | passed | total | rate |\n|---|---|---|---|"
    );
    for (name, t) in &report.by_category {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} |",
            t.passed,
            t.total,
            pct(t.pass_rate)
        );
    }
    let _ = writeln!(s, "\n## Failed cases\n");
    if report.failed.is_empty() {
        let _ = writeln!(s, "None.");
    }
    for c in &report.failed {
        let _ = writeln!(
            s,
            "- **{}** ({}): {}\n  - prompt: {}\n  - command: `{}` (risk {})",
            c.id,
            c.category,
            c.failure.as_deref().unwrap_or(""),
            c.prompt,
            c.command.replace('`', "'"),
            c.risk.map_or("none".to_owned(), |r| r.to_string())
        );
    }
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn row(c: &CaseResult) -> String {
    format!(
        "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
        if c.passed { "pass" } else { "fail" },
        escape(&c.id),
        escape(&c.category),
        escape(&c.prompt),
        escape(&c.command),
        c.risk.map_or("none".to_owned(), |r| r.to_string()),
        c.latency_ms,
        escape(c.failure.as_deref().unwrap_or("")),
    )
}

/// The report as one HTML page with no external resources.
pub fn render_html(report: &EvalReport) -> String {
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>hearth eval</title>\
         <style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px}\
         table{border-collapse:collapse}.fail{background:#fdd}.pass{background:#efe}</style>\
         </head><body><h1>hearth eval</h1>",
    );
    let l = &report.latency_ms;
    let _ = write!(
        s,
        "<p>pass rate <b>{}</b> ({}/{}); everyday {}; dangerous {}; latency ms avg {:.0}, p50 {}, p95 {}, p99 {}</p>",
        pct(report.pass_rate),
        report.passed,
        report.total,
        pct(report.everyday.pass_rate),
        pct(report.dangerous.pass_rate),
        l.avg,
        l.p50,
        l.p95,
        l.p99
    );
    let _ = write!(s, "<h2>Safety outcomes</h2><ul>");
    for (k, v) in &report.safety {
        let _ = write!(s, "<li>{k}: {v}</li>");
    }
    let _ = write!(
        s,
        "</ul><h2>By category</h2><table><tr><th>category</th><th>passed</th><th>total</th><th>rate</th></tr>"
    );
    for (name, t) in &report.by_category {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            t.passed,
            t.total,
            pct(t.pass_rate)
        );
    }
    let _ = write!(
        s,
        "</table><h2>Cases</h2><table><tr><th>id</th><th>category</th><th>prompt</th><th>command</th><th>risk</th><th>ms</th><th>failure</th></tr>"
    );
    for c in &report.cases {
        s.push_str(&row(c));
    }
    s.push_str("</table></body></html>\n");
    s
}
