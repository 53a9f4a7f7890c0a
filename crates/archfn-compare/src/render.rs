//! Renderings of a report: an aligned text for a terminal, pretty JSON, and one
//! self-contained HTML file with inline SVG charts.
//!
//! Every string that comes from the input (the function's name, labels, payload names,
//! error types, answers) is escaped for the rendering: control characters are written as
//! escapes in text, and HTML special characters (and `:`, so that no URL appears in the
//! file) as character references in HTML.

mod html;
mod json;
mod text;

use std::fmt;
use std::str::FromStr;

pub use html::render_html;
pub use json::render_json;
pub use text::render_text;

/// The text table's column headers, in order.
#[cfg(test)]
pub(crate) fn text_columns() -> impl Iterator<Item = (&'static str, bool)> {
    text::COLUMNS.into_iter()
}

use crate::error::CompareError;
use crate::report::Report;

/// An output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Aligned text for a terminal ([`render_text`]).
    Text,
    /// Pretty JSON of the schema in `SCHEMA.md` ([`render_json`]).
    Json,
    /// One self-contained HTML5 file ([`render_html`]).
    Html,
}

impl Format {
    /// All formats.
    pub const ALL: [Format; 3] = [Format::Text, Format::Json, Format::Html];

    /// `text`, `json` or `html`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = CompareError;

    /// `text`, `json` or `html`, in any case.
    fn from_str(s: &str) -> Result<Format, CompareError> {
        Format::ALL
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| CompareError::UnknownFormat {
                given: s.to_string(),
            })
    }
}

/// `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => render_text(report),
        Format::Json => render_json(report),
        Format::Html => render_html(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_in_any_case_and_print_back() {
        for format in Format::ALL {
            assert_eq!(format.as_str().parse::<Format>().ok(), Some(format));
            assert_eq!(
                format.as_str().to_uppercase().parse::<Format>().ok(),
                Some(format)
            );
            assert_eq!(format.to_string(), format.as_str());
        }
        let err = "pdf".parse::<Format>().expect_err("not a format");
        assert_eq!(
            err.to_string(),
            "unknown report format \"pdf\" (expected text, json or html)"
        );
    }
}
