//! `man/mvk.7`: the contract, docs/DESIGN.md, as a man page. The Markdown it uses is small
//! (headings, paragraphs, tables, code blocks, `code`, **bold**), and so is this renderer.

/// The man page for the Markdown text of DESIGN.md.
pub fn man_page(markdown: &str, version: &str) -> Vec<u8> {
    let mut out = format!(
        ".TH mvk 7 \"\" \"mvk {version}\" \"Maverick\"\n.SH NAME\nmvk \\- the Maverick design contract: \
         release record, rules every tool keeps, host layout\n"
    );
    let mut lines = markdown.lines().peekable();
    let (mut in_code, mut in_table) = (false, false);
    while let Some(line) = lines.next() {
        let table = !in_code && line.starts_with('|');
        if line.starts_with("```") {
            out.push_str(if in_code {
                ".fi\n.RE\n"
            } else {
                ".RS 2\n.nf\n"
            });
            in_code = !in_code;
        } else if in_code {
            out.push_str(&verbatim(line));
            out.push('\n');
        } else if let Some(code) = line.strip_prefix("    ") {
            // An indented block: consecutive indented lines, verbatim.
            out.push_str(".RS 2\n.nf\n");
            out.push_str(&verbatim(code));
            out.push('\n');
            while let Some(next) = lines.next_if(|l| l.starts_with("    ")) {
                out.push_str(&verbatim(&next[4..]));
                out.push('\n');
            }
            out.push_str(".fi\n.RE\n");
        } else if line.starts_with("# ") {
            // The title is the NAME section.
        } else if let Some(heading) = line.strip_prefix("## ") {
            out.push_str(&format!(
                ".SH \"{}\"\n",
                escape(&heading.replace('`', "")).to_uppercase()
            ));
        } else if table {
            // The header row names the columns, which the tagged form does not need.
            if in_table {
                table_row(line, &mut out);
            }
        } else if line.trim().is_empty() {
            out.push_str(".PP\n");
        } else {
            out.push_str(&inline(line));
            out.push('\n');
        }
        in_table = table;
    }
    out.into_bytes()
}

/// A table row as a tagged paragraph: the first cell as the tag, the others below it (the
/// `|---|` rule is left out).
fn table_row(line: &str, out: &mut String) {
    let cells: Vec<&str> = line
        .trim()
        .trim_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect();
    if cells
        .iter()
        .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | '|')))
    {
        return;
    }
    out.push_str(".TP\n");
    out.push_str(&inline(cells[0]));
    out.push('\n');
    let rest: Vec<String> = cells[1..]
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| inline(c))
        .collect();
    out.push_str(&rest.join(" \\(em "));
    out.push('\n');
}

/// `code` and **bold** in bold, *emphasis* in italics, the rest escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("\\fB{}\\fR", escape(part)));
        } else {
            for (j, piece) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    out.push_str(&format!("\\fB{}\\fR", escape(piece)));
                } else {
                    for (k, plain) in piece.split('*').enumerate() {
                        if k % 2 == 1 {
                            out.push_str(&format!("\\fI{}\\fR", escape(plain)));
                        } else {
                            out.push_str(&escape(plain));
                        }
                    }
                }
            }
        }
    }
    guard(out.trim_start().to_string())
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// A verbatim line, escaped; one starting with `.` or `'` would be read as a request.
fn verbatim(text: &str) -> String {
    guard(escape(text))
}

fn guard(line: String) -> String {
    if line.starts_with(['.', '\'']) {
        format!("\\&{line}")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(md: &str) -> String {
        String::from_utf8(man_page(md, "1")).unwrap()
    }

    #[test]
    fn headings_paragraphs_code_and_tables() {
        let page = render(
            "# T\n\n## 1. The record (`v1`)\n\nOne `--x` **object**, *a* record.\n\n```json\n{\"a\": \"\\\\n\"}\n```\n\n\
             | rule | detail |\n|---|---|\n| stdout | only `the record` |\n\n    a | b\n    .c\n",
        );
        assert!(page.contains(".SH \"1. THE RECORD (V1)\"\n"), "{page}");
        assert!(
            page.contains("One \\fB\\-\\-x\\fR \\fBobject\\fR, \\fIa\\fR record.\n"),
            "{page}"
        );
        assert!(page.contains(".nf\n{\"a\": \"\\e\\en\"}\n.fi\n"), "{page}");
        assert!(
            page.contains(".TP\nstdout\nonly \\fBthe record\\fR\n"),
            "{page}"
        );
        assert!(
            !page.contains(".TP\nrule"),
            "the header row is left out: {page}"
        );
        assert!(page.contains(".nf\na | b\n\\&.c\n.fi\n"), "{page}");
    }
}
