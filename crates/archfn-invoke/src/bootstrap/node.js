// archfn's Node.js runtime: the Lambda Runtime API loop around a `file.export` handler, and
// response streaming (`awslambda.streamifyResponse`, `awslambda.HttpResponseStream`).
"use strict";

const http = require("http");
const { Writable } = require("stream");
const fs = require("fs");
const path = require("path");
const { pathToFileURL } = require("url");

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const PREFIX = "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, p, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: Number(PORT), method, path: PREFIX + p, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      }
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Set by Lambda only when the function's LoggingConfig says JSON: console's methods then write
// one JSON record per call, and those below AWS_LAMBDA_LOG_LEVEL write nothing.
const JSON_LOGS = process.env.AWS_LAMBDA_LOG_FORMAT === "JSON";
let currentRequestId;

function jsonRecord(level, args) {
  const util = require("util");
  const record = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  const first = args[0];
  if (args.length === 1 && first instanceof Error) {
    record.message = util.format(first);
    record.errorType = first.name;
    record.errorMessage = first.message;
    record.stackTrace = first.stack ? String(first.stack).split("\n") : [];
  } else {
    record.message = util.format(...args);
  }
  return JSON.stringify(record);
}

function installJsonLogging() {
  const order = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
  let min = order.indexOf(String(process.env.AWS_LAMBDA_LOG_LEVEL || "INFO").toUpperCase());
  if (min < 0) min = order.indexOf("INFO");
  const methods = { trace: "TRACE", debug: "DEBUG", info: "INFO", log: "INFO", warn: "WARN", error: "ERROR", fatal: "FATAL" };
  for (const [method, level] of Object.entries(methods)) {
    console[method] = order.indexOf(level) < min
      ? () => {}
      : (...args) => { process.stdout.write(jsonRecord(level, args) + "\n"); };
  }
}

class HandlerError extends Error {
  constructor(type, message) {
    super(message);
    this.errorType = type;
  }
}

function errorDoc(err, type) {
  return {
    errorType: type || (err && err.errorType) || (err && err.name) || "Error",
    errorMessage: err && err.message !== undefined ? String(err.message) : String(err),
    trace: err && err.stack ? String(err.stack).split("\n") : [],
  };
}

async function postError(p, doc) {
  const body = JSON.stringify(doc);
  await call("POST", p, body, {
    "Content-Type": "application/vnd.aws.lambda.error+json",
    "Lambda-Runtime-Function-Error-Type": doc.errorType,
    "Content-Length": Buffer.byteLength(body),
  });
}

// Response streaming, as Lambda's Node.js runtime offers it through the global `awslambda`.
const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HIGH_WATER_MARK = Symbol.for("aws.lambda.runtime.handler.streaming.highWaterMark");
const HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response";

class HttpResponseStream {
  // Function URLs read the status, headers and cookies from this JSON prelude, ended by 8 NULs.
  static from(underlying, prelude) {
    underlying.setContentType(HTTP_INTEGRATION);
    underlying.write(JSON.stringify(prelude || {}));
    underlying.write(new Uint8Array(8));
    return underlying;
  }
}

globalThis.awslambda = {
  streamifyResponse(handler, options) {
    handler[STREAMING] = "response";
    if (options && options.highWaterMark) handler[HIGH_WATER_MARK] = options.highWaterMark;
    return handler;
  },
  HttpResponseStream,
};

// The response stream a streaming handler writes to: a Writable over one chunked POST to
// `/response` in streaming mode, opened at the first write (or the end); an error after it is
// opened goes in the trailers.
function responseStream(id, highWaterMark) {
  let req = null;
  let contentType = "application/octet-stream";
  let settle;
  const finished = new Promise((resolve, reject) => (settle = { resolve, reject }));
  const open = () => {
    if (req) return req;
    req = http.request(
      {
        host: HOST,
        port: Number(PORT),
        method: "POST",
        path: PREFIX + "/invocation/" + id + "/response",
        agent,
        headers: {
          "Content-Type": contentType,
          "Lambda-Runtime-Function-Response-Mode": "streaming",
          "Transfer-Encoding": "chunked",
          Trailer: "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => settle.resolve(res.statusCode));
      }
    );
    req.on("error", (e) => settle.reject(e));
    return req;
  };
  const stream = new Writable({
    highWaterMark,
    write(chunk, _encoding, callback) {
      open().write(chunk, callback);
    },
    final(callback) {
      open().end();
      callback();
    },
  });
  stream.setContentType = (type) => {
    if (req) throw new Error("The content type must be set before the first write.");
    contentType = String(type);
  };
  stream.opened = () => req !== null;
  stream.finished = finished;
  stream.fail = (doc) => {
    const r = open();
    if (r.writableEnded) return false;
    r.addTrailers({
      "Lambda-Runtime-Function-Error-Type": doc.errorType,
      "Lambda-Runtime-Function-Error-Body": Buffer.from(JSON.stringify(doc)).toString("base64"),
    });
    r.end();
    return true;
  };
  return stream;
}

async function runStreaming(fn, id, event, ctx) {
  const stream = responseStream(id, fn[HIGH_WATER_MARK]);
  try {
    await fn(event, stream, ctx);
    if (!stream.writableEnded) stream.end();
    await stream.finished;
  } catch (e) {
    const doc = errorDoc(e);
    console.error("ERROR", e && e.stack ? e.stack : e);
    if (!stream.opened()) {
      await postError("/invocation/" + id + "/error", doc);
      return;
    }
    if (stream.fail(doc)) {
      try {
        await stream.finished;
      } catch (_) {
        // The Runtime API is gone: the environment is ending.
      }
    }
  }
}

async function loadHandler() {
  const handler = process.env._HANDLER || "";
  if (handler.includes("..")) throw new HandlerError("Runtime.MalformedHandlerName", "'" + handler + "' is not a valid handler name. Use absolute paths when specifying root directories in handler names.");
  const dir = path.dirname(handler);
  const base = path.basename(handler);
  const dot = base.indexOf(".");
  if (dot < 1) throw new HandlerError("Runtime.MalformedHandlerName", "Bad handler " + handler);
  const file = base.slice(0, dot);
  const exportPath = base.slice(dot + 1).split(".");
  const root = path.resolve("/var/task", dir);
  let mod;
  let found = null;
  for (const ext of [".js", ".mjs", ".cjs"]) {
    if (fs.existsSync(path.join(root, file + ext))) {
      found = path.join(root, file + ext);
      break;
    }
  }
  try {
    if (found === null) {
      mod = require(path.join(root, file));
    } else if (found.endsWith(".mjs")) {
      mod = await import(pathToFileURL(found).href);
    } else {
      mod = require(found);
    }
  } catch (e) {
    if (e instanceof SyntaxError) throw new HandlerError("Runtime.UserCodeSyntaxError", String(e));
    if (e && e.code === "MODULE_NOT_FOUND") throw new HandlerError("Runtime.ImportModuleError", "Error: Cannot find module '" + file + "'");
    throw e;
  }
  let fn = mod;
  for (const key of exportPath) fn = fn ? fn[key] : undefined;
  if (typeof fn !== "function") throw new HandlerError("Runtime.HandlerNotFound", handler + " is undefined or not exported");
  return fn;
}

function context(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  const cc = headers["lambda-runtime-client-context"];
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: cc ? JSON.parse(cc) : undefined,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function run(fn, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      err ? reject(err) : resolve(value);
    };
    try {
      const out = fn(event, ctx, done);
      if (out && typeof out.then === "function") out.then((v) => done(null, v), (e) => done(e));
      else if (fn.length < 3) done(null, out);
    } catch (e) {
      done(e);
    }
  });
}

async function main() {
  if (JSON_LOGS) installJsonLogging();
  let fn;
  try {
    fn = await loadHandler();
  } catch (e) {
    const doc = errorDoc(e, e.errorType);
    if (JSON_LOGS) {
      process.stdout.write(JSON.stringify({ timestamp: new Date().toISOString(), level: "ERROR", message: "Init Error", errorType: doc.errorType, errorMessage: doc.errorMessage, stackTrace: doc.trace }) + "\n");
    } else {
      console.error(JSON.stringify(doc));
    }
    await postError("/init/error", doc);
    process.exit(1);
  }
  for (;;) {
    const next = await call("GET", "/invocation/next");
    if (next.status !== 200) process.exit(1);
    const id = next.headers["lambda-runtime-aws-request-id"];
    currentRequestId = id;
    if (next.headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"];
    let result;
    try {
      const event = next.body.length ? JSON.parse(next.body.toString("utf8")) : null;
      if (fn[STREAMING] === "response") {
        await runStreaming(fn, id, event, context(next.headers));
        continue;
      }
      result = await run(fn, event, context(next.headers));
    } catch (e) {
      const doc = errorDoc(e);
      if (JSON_LOGS) {
        process.stdout.write(JSON.stringify({ timestamp: new Date().toISOString(), level: "ERROR", requestId: id, message: "Invoke Error", errorType: doc.errorType, errorMessage: doc.errorMessage, stackTrace: doc.trace }) + "\n");
      } else {
        console.error("ERROR", e && e.stack ? e.stack : e);
      }
      await postError("/invocation/" + id + "/error", doc);
      continue;
    }
    const body = result === undefined ? "null" : JSON.stringify(result);
    await call("POST", "/invocation/" + id + "/response", body, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  }
}

main();
