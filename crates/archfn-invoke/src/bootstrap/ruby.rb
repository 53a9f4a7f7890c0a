# archfn's Ruby runtime: the Lambda Runtime API loop around a `file.method` or
# `file.Module::Class.method` handler, called with `event:` and `context:` as Lambda calls it.
# Errors take Lambda's Ruby shape: errorType `Function<Class>` (or `Init<Class>` during init),
# and the backtrace as a list of frames.

require "json"
require "socket"

API_HOST, API_PORT = ENV.fetch("AWS_LAMBDA_RUNTIME_API").split(":", 2)

# Set by Lambda only when the function's LoggingConfig says JSON: a `Logger` then writes one JSON
# record per message ({timestamp, level, message, requestId}) at AWS_LAMBDA_LOG_LEVEL unless it
# was given a formatter or level of its own; `puts` output stays as it is.
JSON_LOGS = ENV["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
$lambda_request_id = nil

def json_log_line(level, message, extra = {})
  record = { "timestamp" => Time.now.utc.strftime("%Y-%m-%dT%H:%M:%S.%LZ"), "level" => level,
             "message" => message, "requestId" => $lambda_request_id.to_s }
  JSON.generate(record.merge(extra)) + "\n"
end

if JSON_LOGS
  require "logger"

  # Lambda's JSON formatter and level for every Logger made without its own.
  module LambdaJsonLogger
    LEVELS = { "TRACE" => Logger::DEBUG, "DEBUG" => Logger::DEBUG, "INFO" => Logger::INFO,
               "WARN" => Logger::WARN, "ERROR" => Logger::ERROR, "FATAL" => Logger::FATAL }.freeze

    def initialize(*args, **kwargs)
      super
      unless kwargs.key?(:formatter)
        self.formatter = proc do |severity, _time, _progname, msg|
          extra = {}
          text = case msg
                 when String then msg
                 when Exception
                   extra = { "errorType" => msg.class.to_s, "errorMessage" => msg.message,
                             "stackTrace" => msg.backtrace || [] }
                   msg.message
                 else msg.inspect
                 end
          json_log_line(severity, text, extra)
        end
      end
      self.level = LEVELS.fetch(ENV.fetch("AWS_LAMBDA_LOG_LEVEL", "INFO").upcase, Logger::INFO) unless kwargs.key?(:level)
    end
  end
  Logger.prepend(LambdaJsonLogger)
end

# The runtime's own line for an error: Lambda's text line, or a JSON record.
def log_error(document)
  if JSON_LOGS
    $stdout.write(json_log_line("ERROR", document["errorMessage"],
                                "errorType" => document["errorType"], "stackTrace" => document["stackTrace"]))
  else
    puts "[ERROR] #{document["errorType"]}: #{document["errorMessage"]}"
  end
end
PREFIX = "/2018-06-01/runtime"

# An answer of the Runtime API: status code (a string, as Net::HTTP gives it), headers (any
# case) and body.
class RuntimeResponse
  attr_reader :code, :body

  def initialize(code, headers, body)
    @code = code
    @headers = headers
    @body = body
  end

  def [](name)
    @headers[name.downcase]
  end
end

# One kept-alive HTTP/1.1 connection to the Runtime API over a plain socket, opened again if it
# drops. Net::HTTP is not used: loading it (and what it loads on a first request) costs seconds
# of a cold start under emulation, for a local connection that needs none of it.
class RuntimeApi
  def initialize
    @socket = nil
  end

  def call(method, path, body = nil, headers = {})
    2.times do |attempt|
      begin
        @socket ||= TCPSocket.new(API_HOST, API_PORT.to_i)
        return exchange(method, path, body, headers)
      rescue IOError, SystemCallError, EOFError
        @socket&.close rescue nil
        @socket = nil
        raise if attempt == 1
      end
    end
  end

  private

  def exchange(method, path, body, headers)
    body = body.to_s.b
    head = +"#{method == :get ? "GET" : "POST"} #{PREFIX}#{path} HTTP/1.1\r\nHost: #{API_HOST}:#{API_PORT}\r\n"
    headers.each { |k, v| head << "#{k}: #{v}\r\n" }
    head << "Content-Length: #{body.bytesize}\r\n" unless method == :get
    head << "\r\n"
    @socket.write(head.b + body)
    status = @socket.gets("\r\n") or raise EOFError, "the Runtime API closed the connection"
    code = status.split(" ", 3)[1].to_s
    fields = {}
    while (line = @socket.gets("\r\n")) && line != "\r\n"
      name, value = line.chomp("\r\n").split(":", 2)
      fields[name.downcase] = value.to_s.strip if name
    end
    RuntimeResponse.new(code, fields, read_body(fields).force_encoding(Encoding::UTF_8))
  end

  def read_body(fields)
    if fields["transfer-encoding"].to_s.downcase.include?("chunked")
      out = +""
      loop do
        size = @socket.gets("\r\n").to_s.split(";", 2)[0].to_i(16)
        if size.zero?
          while (line = @socket.gets("\r\n")) && line != "\r\n"; end
          return out
        end
        out << @socket.read(size).to_s
        @socket.read(2)
      end
    end
    length = fields["content-length"].to_i
    length.positive? ? @socket.read(length).to_s : ""
  end
end

# What a handler is given as `context:`.
class LambdaContext
  attr_reader :aws_request_id, :invoked_function_arn, :function_name, :function_version,
              :memory_limit_in_mb, :log_group_name, :log_stream_name, :deadline_ms,
              :identity, :client_context

  def initialize(response)
    @aws_request_id = response["Lambda-Runtime-Aws-Request-Id"].to_s
    @invoked_function_arn = response["Lambda-Runtime-Invoked-Function-Arn"].to_s
    @deadline_ms = response["Lambda-Runtime-Deadline-Ms"].to_i
    @function_name = ENV["AWS_LAMBDA_FUNCTION_NAME"]
    @function_version = ENV["AWS_LAMBDA_FUNCTION_VERSION"]
    @memory_limit_in_mb = ENV["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    @log_group_name = ENV["AWS_LAMBDA_LOG_GROUP_NAME"]
    @log_stream_name = ENV["AWS_LAMBDA_LOG_STREAM_NAME"]
    cc = response["Lambda-Runtime-Client-Context"]
    @client_context = cc && !cc.empty? ? JSON.parse(cc) : nil
    @identity = nil
  end

  def get_remaining_time_in_millis
    [@deadline_ms - (Time.now.to_f * 1000).to_i, 0].max
  end
end

# An error as Lambda's Ruby runtime reports it.
def error_document(error, classification)
  frames = (error.backtrace_locations || []).map { |l| "#{l.path}:#{l.lineno}:in `#{l.label}'" }
  { "errorMessage" => error.message, "errorType" => "#{classification}<#{error.class}>", "stackTrace" => frames }
end

def post_error(api, path, document)
  $stdout.flush
  $stderr.flush
  api.call(:post, path, JSON.generate(document),
           "Lambda-Runtime-Function-Error-Type" => document["errorType"],
           "Content-Type" => "application/vnd.aws.lambda.error+json")
end

# The handler: `file.method` (a method of the file's top level) or `file.Module::Class.method`.
def load_handler
  handler = ENV.fetch("_HANDLER", "")
  file, _, rest = handler.partition(".")
  raise ArgumentError, "Bad handler '#{handler}'" if file.empty? || rest.empty?
  receiver_name, _, method_name = rest.rpartition(".")
  require File.join(ENV.fetch("LAMBDA_TASK_ROOT", "/var/task"), file)
  receiver = receiver_name.empty? ? Object.new : Object.const_get(receiver_name)
  unless receiver.respond_to?(method_name, true)
    raise NameError, "undefined method `#{method_name}' for #{receiver_name.empty? ? "main" : receiver_name}"
  end
  receiver_name.empty? ? ->(event:, context:) { send(method_name, event: event, context: context) } : receiver.method(method_name)
end

$stdout.sync = true
$stderr.sync = true
api = RuntimeApi.new
begin
  handler = load_handler
rescue Exception => e # rubocop: every init failure is reported, as Lambda does
  document = error_document(e, "Init")
  log_error(document)
  post_error(api, "/init/error", document)
  exit 1
end

loop do
  response = api.call(:get, "/invocation/next")
  exit 1 unless response.code == "200"
  request_id = response["Lambda-Runtime-Aws-Request-Id"].to_s
  $lambda_request_id = request_id
  trace = response["Lambda-Runtime-Trace-Id"]
  ENV["_X_AMZN_TRACE_ID"] = trace if trace
  begin
    event = response.body.to_s.empty? ? nil : JSON.parse(response.body)
    result = handler.call(event: event, context: LambdaContext.new(response))
    body = JSON.generate(result)
  rescue Exception => e # rubocop: a handler's exception is the invocation's error
    document = error_document(e, "Function")
    log_error(document)
    post_error(api, "/invocation/#{request_id}/error", document)
    next
  end
  $stdout.flush
  api.call(:post, "/invocation/#{request_id}/response", body, "Content-Type" => "application/json")
end
