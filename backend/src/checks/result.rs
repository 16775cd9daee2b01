//! One check's result in Nagios/Icinga terms (state, first line, long output,
//! perfdata) and the parser that turns a plugin's exit code and stdout into one.
//! Plugin output is untrusted text: the parser skips what it cannot read, never panics.

use std::fmt;

use pequod_api::checks::CheckState;
use serde::{Deserialize, Serialize};

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub state: CheckState,
    /// The first line, shown in lists and in the status lamp's reasons.
    pub output: String,
    /// Any further lines, for the detail view.
    pub long_output: String,
    pub perfdata: Vec<Perfdata>,
    /// False when the check has nothing to judge on this node (no NTP server, no AMI
    /// login, no data sync, no software RAID): its UNKNOWN is then no "cannot tell"
    /// and lights no lamp.
    pub configured: bool,
}

impl CheckResult {
    pub fn new(state: CheckState, output: impl Into<String>) -> Self {
        Self {
            state,
            output: output.into(),
            long_output: String::new(),
            perfdata: Vec::new(),
            configured: true,
        }
    }

    /// The check is legitimately not set up here; `why` says what is missing. The
    /// state is UNKNOWN (neither OK nor a problem), marked as not configured.
    pub fn not_configured(why: impl Into<String>) -> Self {
        Self {
            configured: false,
            ..Self::unknown(why)
        }
    }

    pub fn ok(output: impl Into<String>) -> Self {
        Self::new(CheckState::Ok, output)
    }

    pub fn warning(output: impl Into<String>) -> Self {
        Self::new(CheckState::Warning, output)
    }

    pub fn critical(output: impl Into<String>) -> Self {
        Self::new(CheckState::Critical, output)
    }

    pub fn unknown(output: impl Into<String>) -> Self {
        Self::new(CheckState::Unknown, output)
    }

    pub fn with_long_output(mut self, long_output: impl Into<String>) -> Self {
        self.long_output = long_output.into();
        self
    }

    pub fn with_perfdata(mut self, perfdata: Perfdata) -> Self {
        self.perfdata.push(perfdata);
        self
    }

    /// A plugin's result: the state comes from the exit code (`None` when a signal
    /// killed it), text and perfdata from its stdout.
    pub fn from_plugin(exit_code: Option<i32>, stdout: &str) -> Self {
        let parsed = parse_plugin_output(stdout);
        Self {
            state: state_from_exit_code(exit_code),
            output: parsed.output,
            long_output: parsed.long_output,
            perfdata: parsed.perfdata,
            configured: true,
        }
    }
}

/// The Nagios plugin API's exit codes. Anything else — a crash, `exit 7`, a signal —
/// means the plugin itself failed, which says nothing about the subject: UNKNOWN.
pub fn state_from_exit_code(code: Option<i32>) -> CheckState {
    match code {
        Some(0) => CheckState::Ok,
        Some(1) => CheckState::Warning,
        Some(2) => CheckState::Critical,
        _ => CheckState::Unknown,
    }
}

/// Upper-case name as plugins print it ("DISK CRITICAL - ...").
pub fn state_label(state: CheckState) -> &'static str {
    match state {
        CheckState::Ok => "OK",
        CheckState::Warning => "WARNING",
        CheckState::Critical => "CRITICAL",
        CheckState::Unknown => "UNKNOWN",
    }
}

/// The text parts of a plugin's stdout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginOutput {
    pub output: String,
    pub long_output: String,
    pub perfdata: Vec<Perfdata>,
}

/// Splits plugin stdout the way Nagios does:
///
/// ```text
/// TEXT OUTPUT | PERFDATA
/// LONG TEXT LINE 1
/// LONG TEXT LINE N | PERFDATA LINE 2
/// PERFDATA LINE 3
/// ```
///
/// The first `|` after the first line starts perfdata that runs to the end.
pub fn parse_plugin_output(stdout: &str) -> PluginOutput {
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or_default();
    let (output, first_perf) = split_pipe(first);

    let mut perf_text = String::from(first_perf.unwrap_or_default());
    let mut long_lines = Vec::new();
    let mut in_perfdata = false;
    for line in lines {
        if in_perfdata {
            perf_text.push(' ');
            perf_text.push_str(line);
            continue;
        }
        match split_pipe(line) {
            (text, Some(perf)) => {
                long_lines.push(text);
                perf_text.push(' ');
                perf_text.push_str(perf);
                in_perfdata = true;
            }
            (text, None) => long_lines.push(text),
        }
    }
    // A trailing "|" leaves an empty last long-output line; it carries nothing.
    while long_lines.last().is_some_and(|l| l.trim().is_empty()) {
        long_lines.pop();
    }

    PluginOutput {
        output: output.trim().to_string(),
        long_output: long_lines
            .iter()
            .map(|l| l.trim_end())
            .collect::<Vec<_>>()
            .join("\n"),
        perfdata: parse_perfdata(&perf_text),
    }
}

fn split_pipe(line: &str) -> (&str, Option<&str>) {
    match line.split_once('|') {
        Some((text, perf)) => (text, Some(perf)),
        None => (line, None),
    }
}

/// Units of measurement the plugin guidelines define (plus GB, which many plugins
/// print although the guidelines forgot it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A plain number of things (users, processes, load).
    None,
    Seconds,
    Milliseconds,
    Microseconds,
    Percent,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    /// A continuous counter (bytes sent, packets), "c".
    Counter,
}

impl Unit {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "" => Self::None,
            "s" => Self::Seconds,
            "ms" => Self::Milliseconds,
            "us" => Self::Microseconds,
            "%" => Self::Percent,
            "B" => Self::Bytes,
            "KB" => Self::Kilobytes,
            "MB" => Self::Megabytes,
            "GB" => Self::Gigabytes,
            "TB" => Self::Terabytes,
            "c" => Self::Counter,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Seconds => "s",
            Self::Milliseconds => "ms",
            Self::Microseconds => "us",
            Self::Percent => "%",
            Self::Bytes => "B",
            Self::Kilobytes => "KB",
            Self::Megabytes => "MB",
            Self::Gigabytes => "GB",
            Self::Terabytes => "TB",
            Self::Counter => "c",
        }
    }
}

/// One `'label'=value[UOM];warn;crit;min;max` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Perfdata {
    pub label: String,
    /// `None` when the plugin printed `U`: it could not determine the value.
    pub value: Option<f64>,
    pub unit: Unit,
    /// Threshold ranges are kept as text: their syntax (`10:20`, `@~:5`) is for
    /// display and graphing here, Pequod never evaluates them.
    pub warn: Option<String>,
    pub crit: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Perfdata {
    pub fn new(label: impl Into<String>, value: f64, unit: Unit) -> Self {
        Self {
            label: label.into(),
            value: Some(value),
            unit,
            warn: None,
            crit: None,
            min: None,
            max: None,
        }
    }

    pub fn thresholds(mut self, warn: impl ToString, crit: impl ToString) -> Self {
        self.warn = Some(warn.to_string());
        self.crit = Some(crit.to_string());
        self
    }

    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
}

/// Writes the item back in plugin syntax, quoting the label when it needs it.
impl fmt::Display for Perfdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.label.contains([' ', '\'', '=']) {
            write!(f, "'{}'=", self.label.replace('\'', "''"))?;
        } else {
            write!(f, "{}=", self.label)?;
        }
        match self.value {
            Some(v) => write!(f, "{v}{}", self.unit.as_str())?,
            None => f.write_str("U")?,
        }
        let fields = [
            self.warn.clone(),
            self.crit.clone(),
            self.min.map(|v| v.to_string()),
            self.max.map(|v| v.to_string()),
        ];
        // Only as many ";" as needed to reach the last present field.
        let used = fields
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        for field in &fields[..used] {
            write!(f, ";{}", field.as_deref().unwrap_or_default())?;
        }
        Ok(())
    }
}

/// Parses a perfdata string; items that do not follow the syntax are skipped so one
/// sloppy plugin field does not cost the rest.
pub fn parse_perfdata(text: &str) -> Vec<Perfdata> {
    let mut items = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return items;
        }
        let (item, after) = next_item(rest);
        if let Some(item) = item {
            items.push(item);
        }
        rest = after;
    }
}

/// Reads one item from the start of `text` (no leading whitespace); returns it, if
/// valid, and the text after it.
fn next_item(text: &str) -> (Option<Perfdata>, &str) {
    let (label, after_label) = match read_label(text) {
        Ok(split) => split,
        Err(after) => return (None, after),
    };
    let end = after_label
        .find(char::is_whitespace)
        .unwrap_or(after_label.len());
    let (fields, after) = after_label.split_at(end);
    (parse_fields(label, fields), after)
}

/// The label and the text after its `=`; on a malformed label, `Err` holds the text
/// after the broken token so parsing resumes at the next item.
fn read_label(text: &str) -> Result<(String, &str), &str> {
    if let Some(quoted) = text.strip_prefix('\'') {
        // Inside quotes, '' stands for one quote.
        let mut label = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\'' {
                label.push(c);
                continue;
            }
            if quoted[i + 1..].starts_with('\'') {
                label.push('\'');
                chars.next();
                continue;
            }
            let after = &quoted[i + 1..];
            return match after.strip_prefix('=') {
                Some(fields) if !label.is_empty() => Ok((label, fields)),
                _ => Err(skip_token(after)),
            };
        }
        return Err("");
    }
    let end = text.find(|c: char| c == '=' || c.is_whitespace());
    match end {
        Some(i) if i > 0 && text[i..].starts_with('=') => {
            Ok((text[..i].to_string(), &text[i + 1..]))
        }
        _ => Err(skip_token(text)),
    }
}

fn skip_token(text: &str) -> &str {
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    &text[end..]
}

fn parse_fields(label: String, fields: &str) -> Option<Perfdata> {
    let mut parts = fields.split(';');
    let value_text = parts.next()?;
    let (value, unit) = if let Some(unit_text) = value_text.strip_prefix('U') {
        (None, Unit::parse(unit_text)?)
    } else {
        // The unit is the trailing run of letters and "%", so "1e3" stays a number.
        let split = value_text
            .trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%')
            .len();
        let (number, unit_text) = value_text.split_at(split);
        (Some(parse_number(number)?), Unit::parse(unit_text)?)
    };
    let warn = non_empty(parts.next());
    let crit = non_empty(parts.next());
    let min = optional_number(parts.next())?;
    let max = optional_number(parts.next())?;
    Some(Perfdata {
        label,
        value,
        unit,
        warn,
        crit,
        min,
        max,
    })
}

fn parse_number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn non_empty(field: Option<&str>) -> Option<String> {
    field.filter(|f| !f.is_empty()).map(str::to_string)
}

/// `Some(None)` for an absent or empty field, `None` when the field is not a number.
fn optional_number(field: Option<&str>) -> Option<Option<f64>> {
    match field {
        None | Some("") => Some(None),
        Some(text) => parse_number(text).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: &str, value: f64, unit: Unit) -> Perfdata {
        Perfdata::new(label, value, unit)
    }

    #[test]
    fn exit_codes_map_to_states() {
        let cases = [
            (Some(0), CheckState::Ok),
            (Some(1), CheckState::Warning),
            (Some(2), CheckState::Critical),
            (Some(3), CheckState::Unknown),
            (Some(7), CheckState::Unknown),
            (Some(-1), CheckState::Unknown),
            (Some(255), CheckState::Unknown),
            (None, CheckState::Unknown),
        ];
        for (code, state) in cases {
            assert_eq!(state_from_exit_code(code), state, "exit code {code:?}");
        }
    }

    #[test]
    fn first_line_is_output_and_pipe_starts_perfdata() {
        let parsed = parse_plugin_output(
            "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n",
        );
        assert_eq!(parsed.output, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(parsed.long_output, "");
        assert_eq!(
            parsed.perfdata,
            vec![Perfdata {
                label: "/".into(),
                value: Some(2643.0),
                unit: Unit::Megabytes,
                warn: Some("5948".into()),
                crit: Some("5958".into()),
                min: Some(0.0),
                max: Some(5968.0),
            }]
        );
    }

    #[test]
    fn long_output_and_multi_line_perfdata() {
        let text = "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
                    / 15272 MB (77%);\n\
                    /boot 68 MB (69%);\n\
                    /home 69357 MB (27%); | /boot=68MB;88;93;0;98\n\
                    /home=69357MB;253404;253409;0;253414\n\
                    /var/log=818MB;970;975;0;980\n";
        let parsed = parse_plugin_output(text);
        assert_eq!(parsed.output, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(
            parsed.long_output,
            "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);"
        );
        let labels: Vec<_> = parsed.perfdata.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["/", "/boot", "/home", "/var/log"]);
    }

    #[test]
    fn output_without_perfdata_or_newline() {
        let parsed = parse_plugin_output("all good");
        assert_eq!(
            parsed,
            PluginOutput {
                output: "all good".into(),
                ..PluginOutput::default()
            }
        );
        assert_eq!(parse_plugin_output(""), PluginOutput::default());
    }

    #[test]
    fn perfdata_item_syntax() {
        let cases: Vec<(&str, Vec<Perfdata>)> = vec![
            ("time=0.5s", vec![item("time", 0.5, Unit::Seconds)]),
            (
                "rta=1.2ms;100;500",
                vec![item("rta", 1.2, Unit::Milliseconds).thresholds("100", "500")],
            ),
            ("u=3us", vec![item("u", 3.0, Unit::Microseconds)]),
            (
                "used=42%;80;90;0;100",
                vec![
                    item("used", 42.0, Unit::Percent)
                        .thresholds(80, 90)
                        .range(0.0, 100.0),
                ],
            ),
            (
                "b=1B k=2KB m=3MB g=4GB t=5TB",
                vec![
                    item("b", 1.0, Unit::Bytes),
                    item("k", 2.0, Unit::Kilobytes),
                    item("m", 3.0, Unit::Megabytes),
                    item("g", 4.0, Unit::Gigabytes),
                    item("t", 5.0, Unit::Terabytes),
                ],
            ),
            (
                "packets=12345c",
                vec![item("packets", 12345.0, Unit::Counter)],
            ),
            (
                "load1=-0.25 users=3",
                vec![
                    item("load1", -0.25, Unit::None),
                    item("users", 3.0, Unit::None),
                ],
            ),
            ("big=1e3", vec![item("big", 1000.0, Unit::None)]),
            (
                "'disk usage'=5MB",
                vec![item("disk usage", 5.0, Unit::Megabytes)],
            ),
            ("'it''s'=1", vec![item("it's", 1.0, Unit::None)]),
            ("'a=b'=2", vec![item("a=b", 2.0, Unit::None)]),
            (
                "x=1;;;0;",
                vec![Perfdata {
                    min: Some(0.0),
                    ..item("x", 1.0, Unit::None)
                }],
            ),
            (
                "x=1;;5",
                vec![Perfdata {
                    crit: Some("5".into()),
                    ..item("x", 1.0, Unit::None)
                }],
            ),
            (
                "x=1;@10:20;~:30",
                vec![item("x", 1.0, Unit::None).thresholds("@10:20", "~:30")],
            ),
            (
                "x=1;2;3;4;5;6;7",
                vec![item("x", 1.0, Unit::None).thresholds(2, 3).range(4.0, 5.0)],
            ),
            (
                "x=U",
                vec![Perfdata {
                    value: None,
                    ..item("x", 0.0, Unit::None)
                }],
            ),
            (
                "x=Us;1;2",
                vec![Perfdata {
                    value: None,
                    ..item("x", 0.0, Unit::Seconds).thresholds(1, 2)
                }],
            ),
            (
                "  a=1   b=2  ",
                vec![item("a", 1.0, Unit::None), item("b", 2.0, Unit::None)],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_perfdata(text), expected, "perfdata {text:?}");
        }
    }

    #[test]
    fn invalid_perfdata_items_are_skipped() {
        let cases = [
            "noequals",
            "=5",
            "x=",
            "x=abc",
            "x=5parsecs",
            "x=5e",
            "x=1.5E",
            "x=1;2;3;notanumber",
            "x=1;2;3;0;max",
            "x=nan",
            "x=inf",
            "x=1e999",
            "'unterminated=5",
            "'quoted'5",
            "''=5",
            "x=1,5",
        ];
        for text in cases {
            let parsed = parse_perfdata(text);
            assert!(
                parsed.iter().all(|p| p.label != "x" || p.value.is_none()),
                "{text:?} gave {parsed:?}"
            );
            assert!(parsed.iter().all(|p| p.value.is_none_or(f64::is_finite)));
        }
        // The valid neighbours of a broken item survive.
        assert_eq!(
            parse_perfdata("a=1 broken b=x c=3% 'open=4"),
            vec![item("a", 1.0, Unit::None), item("c", 3.0, Unit::Percent)]
        );
    }

    #[test]
    fn parser_survives_hostile_text() {
        let samples = [
            "|",
            "||||",
            "| | |",
            "'",
            "''",
            "'''",
            "=;;;;",
            "a=1;;;;;;;;;;;",
            "\u{0}=1",
            "é=1µs",
            "'é ü'=2",
            "x=١",
            "|\n|\n|",
            "\n\n\n",
            "a\r\nb|c=1\r\n",
            "x='1'",
            "'x'=''",
            "=",
            "==",
            "'='='='",
        ];
        for text in samples {
            let parsed = parse_plugin_output(text);
            assert!(!parsed.output.contains('\n'), "{text:?}");
            for item in parse_perfdata(text).iter().chain(&parsed.perfdata) {
                assert!(!item.label.is_empty(), "{text:?}");
                assert!(item.value.is_none_or(f64::is_finite), "{text:?}");
            }
        }
    }

    #[test]
    fn perfdata_display_round_trips() {
        let items = [
            item("used", 42.5, Unit::Percent)
                .thresholds(80, 90)
                .range(0.0, 100.0),
            item("disk usage", 5.0, Unit::Megabytes),
            item("it's", 1.0, Unit::None),
            Perfdata {
                crit: Some("5".into()),
                ..item("x", 1.0, Unit::Seconds)
            },
            Perfdata {
                value: None,
                ..item("x", 0.0, Unit::None)
            },
        ];
        for original in items {
            let text = original.to_string();
            assert_eq!(parse_perfdata(&text), vec![original], "{text}");
        }
        assert_eq!(
            item("x", 1.0, Unit::Seconds).thresholds(1, 2).to_string(),
            "x=1s;1;2"
        );
    }

    #[test]
    fn from_plugin_combines_state_and_text() {
        let result = CheckResult::from_plugin(Some(2), "broken | t=1s\nmore\n");
        assert_eq!(result.state, CheckState::Critical);
        assert_eq!(result.output, "broken");
        assert_eq!(result.long_output, "more");
        assert_eq!(result.perfdata, vec![item("t", 1.0, Unit::Seconds)]);
    }
}
