//! The report as pretty JSON (the schema of `SCHEMA.md`).

use crate::report::Report;

/// `report` as pretty JSON, ending with a newline.
pub fn render_json(report: &Report) -> String {
    match serde_json::to_string_pretty(report) {
        Ok(mut json) => {
            json.push('\n');
            json
        }
        // The report holds only strings, numbers, booleans and string-keyed maps, which
        // always serialize; should that ever change, say so in JSON rather than panic.
        Err(error) => format!(
            "{}\n",
            serde_json::json!({ "error": format!("cannot serialize the report: {error}") })
        ),
    }
}
