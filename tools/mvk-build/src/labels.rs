//! The image's labels as one `LABEL` step for the classic builder. Given as build options
//! (`docker build --label`), the classic builder adds one `LABEL` instruction per label at the
//! end of the stage it builds, and each one not in its cache (a new release id, a new build
//! time) costs a container and a commit. Written into a copy of the Dockerfile instead, all of
//! them take one step. BuildKit keeps build-option labels as metadata, costing no step.

use std::collections::HashMap;

/// The Dockerfile `text` with one `LABEL` instruction holding every label, placed where the
/// classic builder puts build-option labels: at the end of the `target` stage (by default the
/// last one). `None` when that cannot be done safely (a value the instruction would have to
/// escape or expand, an unknown target, a last line that continues), so the labels go as
/// build options instead.
pub fn labelled(
    text: &str,
    target: Option<&str>,
    labels: &HashMap<String, String>,
) -> Option<String> {
    let escape = escape_char(text);
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '$' && c != escape && c != '\\')
    };
    if !labels
        .iter()
        .all(|(k, v)| plain(k) && (v.is_empty() || plain(v)))
    {
        return None;
    }
    let mut keys: Vec<&String> = labels.keys().collect();
    keys.sort();
    let pairs: Vec<String> = keys
        .iter()
        .map(|k| format!("\"{k}\"=\"{}\"", labels[*k]))
        .collect();
    let instruction = format!("LABEL {}\n", pairs.join(" "));

    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (froms, continues_at_end) = instructions(&lines, escape);
    let at = match target {
        None => lines.len(),
        Some(target) => {
            let stage = froms.iter().position(|(_, name)| {
                name.as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(target))
            })?;
            froms.get(stage + 1).map_or(lines.len(), |(line, _)| *line)
        }
    };
    if at == lines.len() && continues_at_end {
        return None;
    }
    let mut out: String = lines[..at].concat();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&instruction);
    out.push_str(&lines[at..].concat());
    Some(out)
}

/// The escape character: `\`, or what an `# escape=` parser directive at the top sets.
fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") {
            return value.trim().chars().next().unwrap_or('\\');
        }
    }
    '\\'
}

/// The `FROM` instructions (the line each starts on, and its stage name), and whether the last
/// instruction continues past the end of the text. Comment and empty lines inside a
/// continued instruction do not end it, as in Docker's parser.
fn instructions(lines: &[&str], escape: char) -> (Vec<(usize, Option<String>)>, bool) {
    let mut froms = Vec::new();
    let mut continuing = false;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !continuing {
            let mut words = trimmed.split_whitespace();
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case("from")) {
                let mut rest = words.skip_while(|w| w.starts_with("--")).skip(1);
                let name = rest
                    .next()
                    .filter(|w| w.eq_ignore_ascii_case("as"))
                    .and_then(|_| rest.next())
                    .map(str::to_string);
                froms.push((i, name));
            }
        }
        continuing = trimmed.ends_with(escape);
    }
    (froms, continuing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> HashMap<String, String> {
        [
            ("mvk.release", "abc123"),
            ("mvk.app", "shop"),
            ("org.opencontainers.image.created", "2026-11-27T13:00:00Z"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const ONE: &str = "LABEL \"mvk.app\"=\"shop\" \"mvk.release\"=\"abc123\" \"org.opencontainers.image.created\"=\"2026-11-27T13:00:00Z\"\n";

    #[test]
    fn one_instruction_at_the_end_of_the_last_stage() {
        let text = "FROM scratch\nCOPY app /app";
        assert_eq!(
            labelled(text, None, &labels()).unwrap(),
            format!("FROM scratch\nCOPY app /app\n{ONE}")
        );
    }

    #[test]
    fn at_the_end_of_the_target_stage() {
        let text = "FROM scratch AS base\nCOPY a /a\n\n# next\nFROM --platform=linux/amd64 base as Final\nCOPY b /b\nFROM final AS test\nRUN x\n";
        let out = labelled(text, Some("final"), &labels()).unwrap();
        assert_eq!(
            out,
            format!("FROM scratch AS base\nCOPY a /a\n\n# next\nFROM --platform=linux/amd64 base as Final\nCOPY b /b\n{ONE}FROM final AS test\nRUN x\n")
        );
        let out = labelled(text, Some("test"), &labels()).unwrap();
        assert!(out.ends_with(&format!("RUN x\n{ONE}")), "{out}");
        assert_eq!(labelled(text, Some("nope"), &labels()), None);
    }

    #[test]
    fn a_from_inside_a_continued_instruction_starts_no_stage() {
        let text =
            "FROM scratch AS a\nRUN echo \\\n# a comment\n\n  FROM x AS b\nFROM scratch AS c\n";
        let out = labelled(text, Some("a"), &labels()).unwrap();
        assert!(
            out.contains(&format!("  FROM x AS b\n{ONE}FROM scratch AS c\n")),
            "{out}"
        );
        assert_eq!(labelled(text, Some("b"), &labels()), None);
    }

    #[test]
    fn a_last_line_that_continues_or_an_odd_value_makes_no_instruction() {
        assert_eq!(labelled("FROM scratch\nRUN a \\\n", None, &labels()), None);
        assert_eq!(
            labelled("# escape=`\nFROM scratch\nRUN a `\n", None, &labels()),
            None
        );
        assert!(labelled("# escape=`\nFROM scratch\nRUN a \\\n", None, &labels()).is_some());
        for odd in ["a\"b", "$HOME", "a b", "a\\b", "é"] {
            let mut l = labels();
            l.insert("mvk.release".into(), odd.into());
            assert_eq!(labelled("FROM scratch\n", None, &l), None, "{odd}");
        }
    }
}
