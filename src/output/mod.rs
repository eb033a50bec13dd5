//! Printing: the text renderers ([`text`]), the page-map pictures ([`svg`]) and JSON
//! ([`json`]: the serde form of the reports, and the one document printed on error).

pub mod escape;
pub mod prometheus;
pub mod svg;
pub mod terminal;
pub mod text;

use serde::Serialize;

/// Pretty JSON with a final newline.
pub fn json<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|e| {
        format!(
            "{{\"schema\":\"solab.error.v1\",\"errors\":[{{\"message\":{:?}}}]}}",
            e.to_string()
        )
    });
    s.push('\n');
    s
}

/// Pretty JSON with a final newline, written to `out` as it is serialized: a report whose
/// parts are built while they are written ([`crate::inspect_report::SeqOf`], the inspect report's objects) is
/// never held whole, nor is its text. The same bytes as [`json`].
pub fn write_json<T: Serialize, W: std::io::Write>(out: W, v: &T) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer_pretty(&mut out, v).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()
}

pub const ERROR_SCHEMA: &str = "solab.error.v1";

/// What a `--json` command prints when it fails as a whole: exactly one document, so a
/// script reading stdout always gets JSON.
#[derive(Serialize)]
pub struct ErrorReport {
    pub schema: &'static str,
    /// The command that failed.
    pub command: String,
    pub exit_code: i32,
    pub errors: Vec<ErrorEntry>,
}

#[derive(Serialize)]
pub struct ErrorEntry {
    pub kind: crate::error::ErrorKind,
    pub message: String,
}

/// A report with, after its own fields, the paths `--object PATTERN` matched (`matched`,
/// only when a pattern was given).
#[derive(Serialize)]
pub struct WithMatched<'a, T: Serialize> {
    #[serde(flatten)]
    pub report: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<&'a [String]>,
}
