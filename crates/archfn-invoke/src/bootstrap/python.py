"""archfn's Python runtime: the Lambda Runtime API loop around a `module.function` handler."""

import http.client
import importlib
import json
import os
import sys
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"
HOST, _, PORT = API.rpartition(":")
_conn = None


def call(method, path, body=None, headers=None):
    global _conn
    for attempt in range(2):
        if _conn is None:
            _conn = http.client.HTTPConnection(HOST, int(PORT))
        try:
            _conn.request(method, PREFIX + path, body=body, headers=headers or {})
            resp = _conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        except (http.client.HTTPException, OSError):
            _conn = None
            if attempt:
                raise


# Set by Lambda only when the function's LoggingConfig says JSON: the logging module's records
# become JSON lines, filtered by AWS_LAMBDA_LOG_LEVEL; print() output stays as it is.
JSON_LOGS = os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON"
_request_id = None


def _json_line(record):
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def install_json_logging():
    import logging

    levels = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
              "WARN": logging.WARNING, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL}

    class JsonFormatter(logging.Formatter):
        def format(self, record):
            out = {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
            }
            if record.exc_info and record.exc_info[0] is not None:
                import traceback
                exc = record.exc_info[1]
                out["errorType"] = type(exc).__name__
                out["errorMessage"] = str(exc)
                out["stackTrace"] = traceback.format_tb(record.exc_info[2])
            out["requestId"] = _request_id or ""
            return json.dumps(out, default=str)

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(levels.get(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper(), logging.INFO))


def log_error(body):
    """The runtime's own line for an error: Lambda's text line, or a JSON record."""
    if JSON_LOGS:
        _json_line({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "ERROR",
                    "message": body, "requestId": _request_id or ""})
    else:
        print(f"[ERROR] {body['errorType']}: {body['errorMessage']}", flush=True)


def error_body(exc, error_type=None, request_id=None):
    import traceback  # only on errors: importing it costs a cold start a few milliseconds

    tb = traceback.extract_tb(exc.__traceback__)
    body = {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": [line for line in traceback.format_list(tb)],
    }
    if request_id:
        body["requestId"] = request_id
    return body


def post_error(path, body):
    sys.stdout.flush()
    sys.stderr.flush()
    data = json.dumps(body).encode()
    call("POST", path, data, {"Lambda-Runtime-Function-Error-Type": body["errorType"],
                              "Content-Type": "application/vnd.aws.lambda.error+json"})


class LambdaContext:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        cc = headers.get("Lambda-Runtime-Client-Context")
        self.client_context = json.loads(cc) if cc else None
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler():
    handler = os.environ.get("_HANDLER", "")
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise HandlerError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        raise HandlerError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}") from e
    except ImportError as e:
        raise HandlerError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}") from e
    fn = getattr(module, function_name, None)
    if fn is None:
        raise HandlerError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return fn


class HandlerError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def main():
    global _request_id
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for p in reversed(["/var/task", f"/opt/python/lib/python{version}/site-packages", "/opt/python"]):
        if p not in sys.path:
            sys.path.insert(0, p)
    if JSON_LOGS:
        install_json_logging()
    try:
        handler = load_handler()
    except HandlerError as e:
        body = {"errorMessage": str(e), "errorType": e.error_type, "stackTrace": []}
        log_error(body)
        post_error("/init/error", body)
        sys.exit(1)
    except Exception as e:  # the module raised while being imported
        body = error_body(e)
        log_error(body)
        post_error("/init/error", body)
        sys.exit(1)
    while True:
        status, headers, body = call("GET", "/invocation/next")
        if status != 200:
            sys.exit(1)
        headers = {k.title(): v for k, v in headers.items()}
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        _request_id = request_id
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        try:
            event = json.loads(body) if body else None
            result = handler(event, LambdaContext(headers))
            out = json.dumps(result).encode()
        except Exception as e:
            body = error_body(e, request_id=request_id)
            log_error(body)
            post_error(f"/invocation/{request_id}/error", body)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        call("POST", f"/invocation/{request_id}/response", out, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
