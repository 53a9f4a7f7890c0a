//! A Lambda function for tests: answers `{"machine", "event", "request_id", "function"}`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload.get("fail").is_some() {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "machine": std::env::consts::ARCH,
        "event": event.payload,
        "request_id": event.context.request_id,
        "function": event.context.env_config.function_name,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
