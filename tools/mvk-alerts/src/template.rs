//! Alert annotations, defined once and rendered two ways: as the Go template Prometheus
//! expands (`{{ $value | humanizePercentage }}`), and expanded here exactly as Prometheus's
//! template functions would, so the text mvk-alerts reports and posts is the text
//! Prometheus would have sent.

use crate::tsdb::Labels;

#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    /// `{{ $value | humanizePercentage }}`
    Percentage,
    /// `{{ $value | humanizeDuration }}`
    Duration,
    /// `{{ $labels.NAME }}`
    Label(String),
}

pub type Template = Vec<Piece>;

pub fn text(s: &str) -> Piece {
    Piece::Text(s.into())
}

/// The template as Prometheus reads it.
pub fn source(template: &[Piece]) -> String {
    template
        .iter()
        .map(|p| match p {
            Piece::Text(s) => s.clone(),
            Piece::Percentage => "{{ $value | humanizePercentage }}".into(),
            Piece::Duration => "{{ $value | humanizeDuration }}".into(),
            Piece::Label(name) => format!("{{{{ $labels.{name} }}}}"),
        })
        .collect()
}

/// The template expanded for an alert's value and labels.
pub fn render(template: &[Piece], value: f64, labels: &Labels) -> String {
    template
        .iter()
        .map(|p| match p {
            Piece::Text(s) => s.clone(),
            Piece::Percentage => format!("{}%", go_g4(value * 100.0)),
            Piece::Duration => humanize_duration(value),
            // Go's text/template prints a missing map key as "<no value>".
            Piece::Label(name) => labels.get(name).unwrap_or("<no value>").to_string(),
        })
        .collect()
}

/// Prometheus's `humanizeDuration`.
fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return go_g4(v);
    }
    if v == 0.0 {
        return format!("{}s", go_g4(v));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let whole = v as i64;
        let (days, hours, minutes, seconds) = (
            whole / 86_400,
            whole / 3600 % 24,
            whole / 60 % 60,
            whole % 60,
        );
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", go_g4(v))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g4(v))
}

/// Go's `fmt.Sprintf("%.4g", v)`: four significant digits, trailing zeros dropped, the
/// exponent form (`1.235e+05`) below 1e-4 and from 1e4 on.
pub fn go_g4(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust rounds to 4 significant digits the way Go does (exact, ties to even).
    let sci = format!("{:.3e}", v);
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponents are integers");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let sign = if negative { "-" } else { "" };
    if !(-4..4).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_percent_point_4g() {
        let cases = [
            (0.3, "0.3"),
            (30.0, "30"),
            (33.333333, "33.33"),
            (100.0, "100"),
            (1234.5678, "1235"),
            (9999.5, "1e+04"),
            (12345.0, "1.234e+04"),
            (0.0001234, "0.0001234"),
            (0.00001234, "1.234e-05"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (0.1 + 0.2, "0.3"),
            (5.0, "5"),
        ];
        for (v, want) in cases {
            assert_eq!(go_g4(v), want, "{v}");
        }
        assert_eq!(go_g4(f64::NAN), "NaN");
        assert_eq!(go_g4(f64::INFINITY), "+Inf");
    }

    #[test]
    fn humanizes_like_prometheus() {
        assert_eq!(humanize_duration(0.3), "300ms");
        assert_eq!(humanize_duration(0.0005), "500us");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(61.0), "1m 1s");
        assert_eq!(humanize_duration(3725.0), "1h 2m 5s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(f64::NAN), "NaN");
        let t = vec![
            text("down: "),
            Piece::Label("instance".into()),
            text(" at "),
            Piece::Percentage,
        ];
        assert_eq!(
            source(&t),
            "down: {{ $labels.instance }} at {{ $value | humanizePercentage }}"
        );
        let labels = Labels::new([("instance", "127.0.0.1:8000")]);
        assert_eq!(render(&t, 0.0512, &labels), "down: 127.0.0.1:8000 at 5.12%");
        assert_eq!(
            render(&[Piece::Label("job".into())], 0.0, &labels),
            "<no value>"
        );
    }
}
