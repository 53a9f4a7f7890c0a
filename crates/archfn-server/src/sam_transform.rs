//! `archfn sam-transform <file>` (hidden): the SAM transform of `archfn-sam` over a template file,
//! for comparing it with AWS's translator (tests/compat/test_sam_transform.py).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `archfn sam-transform`.
#[derive(Debug, clap::Args)]
pub(crate) struct SamTransformArgs {
    /// The template, long-form JSON.
    file: PathBuf,
    /// The stack's region.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The stack's account id.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// The stack's name.
    #[arg(long, default_value = "sam-app")]
    stack_name: String,
    /// A parameter value, `Name=Value` (repeatable).
    #[arg(long = "parameter", value_name = "NAME=VALUE")]
    parameters: Vec<String>,
}

/// Largest template read: CloudFormation's limit for a template uploaded to S3.
const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;

/// Prints the transformed template as JSON; 0 on success, 1 for the transform's error, 2 when the
/// file cannot be read.
pub(crate) fn run(args: &SamTransformArgs) -> i32 {
    let template = match read(args) {
        Ok(template) => template,
        Err(error) => {
            eprintln!("archfn sam-transform: {error:#}");
            return 2;
        }
    };
    let mut parameters = BTreeMap::new();
    for given in &args.parameters {
        let Some((name, value)) = given.split_once('=') else {
            eprintln!("archfn sam-transform: --parameter {given}: expected NAME=VALUE");
            return 2;
        };
        parameters.insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
    }
    let context = archfn_sam::TransformContext {
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        stack_name: args.stack_name.clone(),
        parameters,
    };
    match archfn_sam::transform(template, &context) {
        Ok(out) => match serde_json::to_string_pretty(&out) {
            Ok(text) => print_out(&text, 0),
            Err(error) => {
                eprintln!("archfn sam-transform: {error}");
                2
            }
        },
        Err(error) => {
            let body =
                serde_json::json!({"errorMessage": error.to_string(), "causes": error.causes()});
            print_out(&body.to_string(), 1)
        }
    }
}

/// Writes `text` to standard output; a closed pipe is an exit status (2), not a panic.
fn print_out(text: &str, status: i32) -> i32 {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => status,
        Err(_) => 2,
    }
}

fn read(args: &SamTransformArgs) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context as _;
    use std::io::Read as _;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let mut text = Vec::new();
    file.take(MAX_TEMPLATE_BYTES + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("reading {}", args.file.display()))?;
    anyhow::ensure!(
        text.len() as u64 <= MAX_TEMPLATE_BYTES,
        "{} is larger than {MAX_TEMPLATE_BYTES} bytes",
        args.file.display()
    );
    serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", args.file.display()))
}
