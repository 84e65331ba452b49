//! Metrics for node_exporter's textfile collector: gauge families in the Prometheus text
//! format, without sample timestamps (the collector rejects a file with them), replaced
//! atomically so the collector never reads half a file.

use anyhow::Result;
use std::fmt::Write;
use std::path::Path;

/// A textfile being put together, family by family.
#[derive(Default)]
pub struct Gauges(String);

impl Gauges {
    pub fn new() -> Gauges {
        Gauges::default()
    }

    /// One gauge family; each sample's labels come rendered (`app="shop"`, values escaped).
    pub fn family(&mut self, name: &str, help: &str, samples: &[(String, f64)]) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(self.0, "{name}{{{labels}}} {}", number(*value));
        }
    }

    pub fn text(self) -> String {
        self.0
    }

    pub fn write(self, path: &Path) -> Result<()> {
        crate::atomic::write(path, self.0.as_bytes())
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A value as the text format spells it (`+Inf`, not Rust's `inf`).
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_in_the_text_format() {
        let mut g = Gauges::new();
        g.family(
            "x_info",
            "An x.",
            &[(format!("v=\"{}\"", escape("a\"b\\c\nd")), 1.0)],
        );
        g.family("y", "A y.", &[("app=\"s\"".into(), f64::INFINITY)]);
        assert_eq!(
            g.text(),
            "# HELP x_info An x.\n# TYPE x_info gauge\nx_info{v=\"a\\\"b\\\\c\\nd\"} 1\n\
             # HELP y A y.\n# TYPE y gauge\ny{app=\"s\"} +Inf\n"
        );
    }
}
