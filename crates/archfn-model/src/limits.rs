//! Lambda's quotas, as the numbers Lambda enforces.

/// Largest zip accepted in a direct upload (`ZipFile`), in bytes.
pub const ZIPPED_MAX_BYTES: u64 = 52_428_800;
/// Largest CreateFunction request body, in bytes.
pub const CREATE_REQUEST_MAX_BYTES: usize = 70_167_211;
/// Largest unzipped size of a function and all its layers, in bytes.
pub const UNZIPPED_MAX_BYTES: u64 = 262_144_000;
/// Storage for all code and layers of an account, in bytes.
pub const TOTAL_CODE_SIZE_BYTES: u64 = 80_530_636_800;
/// Largest payload of a synchronous invocation (RequestResponse, and a DryRun), in bytes.
pub const SYNC_INVOKE_PAYLOAD_MAX_BYTES: usize = 6_291_456;
/// Largest payload of an asynchronous (Event) invocation, in bytes.
pub const ASYNC_INVOKE_PAYLOAD_MAX_BYTES: usize = 1_048_576;
/// Concurrent executions of an account.
pub const ACCOUNT_CONCURRENCY: u32 = 1000;
/// Concurrency that reserved concurrency may never take from the unreserved pool.
pub const UNRESERVED_CONCURRENCY_MIN: u32 = 100;
/// Layers one function may use.
pub const MAX_LAYERS: usize = 5;
/// Memory bounds, in MB.
pub const MEMORY_MIN_MB: u32 = 128;
/// Largest memory size, in MB.
pub const MEMORY_MAX_MB: u32 = 10_240;
/// Timeout bounds, in seconds.
pub const TIMEOUT_MIN_S: u32 = 1;
/// Longest timeout, in seconds.
pub const TIMEOUT_MAX_S: u32 = 900;
/// Ephemeral storage bounds, in MB.
pub const EPHEMERAL_MIN_MB: u32 = 512;
/// Largest ephemeral storage, in MB.
pub const EPHEMERAL_MAX_MB: u32 = 10_240;
/// Size of all environment variables, measured as their JSON, in bytes.
pub const ENVIRONMENT_MAX_BYTES: usize = 4096;
/// Entries one archive may hold before it counts as a zip bomb.
pub const ARCHIVE_MAX_ENTRIES: usize = 100_000;
/// Uncompressed/compressed ratio of a single entry above which it counts as a zip bomb.
pub const ARCHIVE_MAX_RATIO: u64 = 1_000;
/// Tags one resource may carry.
pub const MAX_TAGS: usize = 50;

/// Environment variable names Lambda reserves for itself.
pub const RESERVED_ENV_NAMES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
