package archfn;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * archfn's Java runtime: the Lambda Runtime API loop around a {@code package.Class::method} or
 * {@code package.Class} handler. The handler's classes come from /var/task, /var/task/lib/*.jar
 * and the layers' /opt/java/lib/*.jar; events and answers are converted with Jackson as
 * Lambda converts POJOs; errors have Lambda's shape (the exception's class name, its frames).
 */
public final class Bootstrap {
    private static final String API = System.getenv("AWS_LAMBDA_RUNTIME_API");
    private static final String PREFIX = "/2018-06-01/runtime";
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    /** The function's log format is JSON (LoggingConfig.LogFormat). */
    private static final boolean JSON_LOGS = "JSON".equals(System.getenv("AWS_LAMBDA_LOG_FORMAT"));
    /** The lowest level logged (LoggingConfig.ApplicationLogLevel; all when unset). */
    private static final LogLevel MIN_LEVEL = LogLevel.fromString(System.getenv("AWS_LAMBDA_LOG_LEVEL"));
    private static final java.time.format.DateTimeFormatter TIMESTAMP =
            java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(java.time.ZoneOffset.UTC);
    /** The invocation being run, for the records' AWSRequestId. */
    private static volatile String currentRequestId;

    /**
     * Writes one record as Lambda's Java runtime does: in JSON, an object of timestamp, message,
     * level and AWSRequestId; in text, the message after {@code [LEVEL] } (nothing for UNDEFINED).
     * Records below the application log level are dropped; UNDEFINED ones never are.
     */
    static void logRecord(String message, LogLevel level) {
        if (level != LogLevel.UNDEFINED && level.ordinal() < MIN_LEVEL.ordinal()) {
            return;
        }
        if (!JSON_LOGS) {
            System.out.println(level == LogLevel.UNDEFINED ? message : "[" + level + "] " + message);
            return;
        }
        ObjectNode record = JSON.createObjectNode();
        record.put("timestamp", TIMESTAMP.format(java.time.Instant.now()));
        record.put("message", message);
        record.put("level", level.toString());
        if (currentRequestId != null) {
            record.put("AWSRequestId", currentRequestId);
        }
        try {
            System.out.println(JSON.writeValueAsString(record));
        } catch (Exception e) {
            System.out.println(message);
        }
    }

    /** Logs a handler's uncaught failure. */
    private static void logFailure(Throwable cause) {
        logRecord(cause.getClass().getName() + ": " + cause.getMessage(), LogLevel.ERROR);
    }

    /** An answer of the Runtime API. */
    private record Answer(int status, Map<String, String> headers, byte[] body) {
        String header(String name) {
            return headers.getOrDefault(name.toLowerCase(java.util.Locale.ROOT), "");
        }
    }

    /** One kept-alive HTTP/1.1 connection to the Runtime API, opened again if it drops. */
    private static java.net.Socket socket;
    private static java.io.BufferedInputStream input;
    private static OutputStream output;

    private static Answer call(String method, String path, byte[] body, String errorType) throws java.io.IOException {
        for (int attempt = 0; ; attempt++) {
            try {
                if (socket == null) {
                    int colon = API.lastIndexOf(':');
                    socket = new java.net.Socket(API.substring(0, colon), Integer.parseInt(API.substring(colon + 1)));
                    socket.setTcpNoDelay(true);
                    input = new java.io.BufferedInputStream(socket.getInputStream(), 65536);
                    output = new java.io.BufferedOutputStream(socket.getOutputStream(), 65536);
                }
                StringBuilder head = new StringBuilder(method).append(' ').append(PREFIX).append(path)
                        .append(" HTTP/1.1\r\nHost: ").append(API).append("\r\nContent-Length: ").append(body.length).append("\r\n");
                if (errorType != null) {
                    head.append("Lambda-Runtime-Function-Error-Type: ").append(errorType).append("\r\n");
                }
                head.append("\r\n");
                output.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
                output.write(body);
                output.flush();
                return read();
            } catch (java.io.IOException e) {
                socket = null;
                if (attempt > 0) {
                    throw e;
                }
            }
        }
    }

    private static String line() throws java.io.IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = input.read()) != -1 && c != '\n') {
            if (c != '\r') {
                b.write(c);
            }
        }
        if (c == -1 && b.size() == 0) {
            throw new java.io.EOFException("the Runtime API closed the connection");
        }
        return b.toString(StandardCharsets.ISO_8859_1);
    }

    private static Answer read() throws java.io.IOException {
        String status = line();
        int code = Integer.parseInt(status.split(" ")[1]);
        Map<String, String> headers = new HashMap<>();
        for (String h = line(); !h.isEmpty(); h = line()) {
            int colon = h.indexOf(':');
            if (colon > 0) {
                headers.put(h.substring(0, colon).trim().toLowerCase(java.util.Locale.ROOT), h.substring(colon + 1).trim());
            }
        }
        byte[] body;
        if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int n = Integer.parseInt(line().split(";")[0].trim(), 16); n > 0; n = Integer.parseInt(line().split(";")[0].trim(), 16)) {
                b.write(input.readNBytes(n));
                line();
            }
            line();
            body = b.toByteArray();
        } else {
            body = input.readNBytes(Integer.parseInt(headers.getOrDefault("content-length", "0")));
        }
        return new Answer(code, headers, body);
    }

    /** How the handler is called. */
    private interface Call {
        byte[] invoke(byte[] event, Context context) throws Throwable;
    }

    public static void main(String[] args) throws Exception {
        Call handler;
        try {
            handler = load(System.getenv("_HANDLER"));
        } catch (Throwable e) {
            Throwable cause = unwrap(e);
            logFailure(cause);
            call("POST", "/init/error", error(cause), cause.getClass().getName());
            System.exit(1);
            return;
        }
        while (true) {
            Answer next = call("GET", "/invocation/next", new byte[0], null);
            if (next.status() != 200) {
                System.exit(1);
            }
            String requestId = next.header("Lambda-Runtime-Aws-Request-Id");
            currentRequestId = requestId;
            String trace = next.header("Lambda-Runtime-Trace-Id");
            if (!trace.isEmpty()) {
                System.setProperty("com.amazonaws.xray.traceHeader", trace);
            }
            LambdaContext context = new LambdaContext(next);
            byte[] answer;
            try {
                answer = handler.invoke(next.body(), context);
            } catch (Throwable e) {
                Throwable cause = unwrap(e);
                logFailure(cause);
                System.out.flush();
                call("POST", "/invocation/" + requestId + "/error", error(cause), cause.getClass().getName());
                continue;
            }
            System.out.flush();
            System.err.flush();
            call("POST", "/invocation/" + requestId + "/response", answer, null);
        }
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof InvocationTargetException || e instanceof ExceptionInInitializerError) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    /** Lambda's error document: message, the class name as the type, the frames. */
    private static byte[] error(Throwable e) throws Exception {
        ObjectNode doc = JSON.createObjectNode();
        doc.put("errorMessage", e.getMessage());
        doc.put("errorType", e.getClass().getName());
        ArrayNode frames = doc.putArray("stackTrace");
        for (StackTraceElement f : e.getStackTrace()) {
            if (f.getClassName().startsWith("archfn.") || f.getClassName().startsWith("java.base/")) {
                continue;
            }
            frames.add(f.toString());
        }
        if (e.getCause() != null && e.getCause() != e) {
            doc.set("cause", JSON.readTree(error(e.getCause())));
        }
        return JSON.writeValueAsBytes(doc);
    }

    /** The handler's class loader: /var/task, /var/task/lib/*.jar, /opt/java/lib/*.jar. */
    private static ClassLoader userLoader() throws Exception {
        List<URL> urls = new ArrayList<>();
        urls.add(new File("/var/task/").toURI().toURL());
        for (String dir : new String[] {"/var/task/lib", "/opt/java/lib"}) {
            File[] jars = new File(dir).listFiles((d, n) -> n.endsWith(".jar"));
            if (jars != null) {
                Arrays.sort(jars);
                for (File j : jars) {
                    urls.add(j.toURI().toURL());
                }
            }
        }
        // A fat jar given as the code is unpacked at /var/task by Lambda's rules already.
        return new URLClassLoader(urls.toArray(new URL[0]), Bootstrap.class.getClassLoader());
    }

    private static Call load(String handler) throws Exception {
        if (handler == null || handler.isEmpty()) {
            throw new ClassNotFoundException("no handler configured");
        }
        String className = handler;
        String methodName = null;
        int sep = handler.indexOf("::");
        if (sep >= 0) {
            className = handler.substring(0, sep);
            methodName = handler.substring(sep + 2);
        }
        ClassLoader loader = userLoader();
        Thread.currentThread().setContextClassLoader(loader);
        Class<?> cls = Class.forName(className, true, loader);
        if ((methodName == null || methodName.equals("handleRequest")) && RequestStreamHandler.class.isAssignableFrom(cls)) {
            RequestStreamHandler h = (RequestStreamHandler) cls.getDeclaredConstructor().newInstance();
            return (event, ctx) -> {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                h.handleRequest(new ByteArrayInputStream(event), out, ctx);
                return out.toByteArray();
            };
        }
        if ((methodName == null || methodName.equals("handleRequest")) && RequestHandler.class.isAssignableFrom(cls)) {
            @SuppressWarnings("unchecked")
            RequestHandler<Object, Object> h = (RequestHandler<Object, Object>) cls.getDeclaredConstructor().newInstance();
            JavaType input = JSON.getTypeFactory().constructType(requestType(cls));
            return (event, ctx) -> JSON.writeValueAsBytes(h.handleRequest(read(event, input), ctx));
        }
        String name = methodName == null ? "handleRequest" : methodName;
        Method m = null;
        for (Method candidate : cls.getMethods()) {
            if (candidate.getName().equals(name) && !candidate.isBridge()
                    && (m == null || candidate.getParameterCount() > m.getParameterCount())) {
                m = candidate;
            }
        }
        if (m == null) {
            throw new NoSuchMethodException("Class " + className + " has no public method named " + name);
        }
        Method method = m;
        Object target = Modifier.isStatic(method.getModifiers()) ? null : cls.getDeclaredConstructor().newInstance();
        Class<?>[] params = method.getParameterTypes();
        boolean stream = params.length >= 2 && InputStream.class.isAssignableFrom(params[0]) && OutputStream.class.isAssignableFrom(params[1]);
        JavaType input = params.length > 0 && !stream ? JSON.getTypeFactory().constructType(method.getGenericParameterTypes()[0]) : null;
        return (event, ctx) -> {
            if (stream) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                Object[] a = params.length == 3 ? new Object[] {new ByteArrayInputStream(event), out, ctx}
                        : new Object[] {new ByteArrayInputStream(event), out};
                method.invoke(target, a);
                return out.toByteArray();
            }
            Object[] a = new Object[params.length];
            if (params.length > 0) {
                a[0] = read(event, input);
            }
            if (params.length > 1) {
                a[1] = ctx;
            }
            Object result = method.invoke(target, a);
            return JSON.writeValueAsBytes(result);
        };
    }

    private static Object read(byte[] event, JavaType type) throws Exception {
        if (event.length == 0) {
            return null;
        }
        if (type.getRawClass() == String.class) {
            JsonNode node = JSON.readTree(event);
            return node.isTextual() ? node.asText() : node.toString();
        }
        return JSON.readValue(event, type);
    }

    /** The I of the class's RequestHandler<I, O>, looking up its superclasses. */
    private static Type requestType(Class<?> cls) {
        for (Class<?> c = cls; c != null; c = c.getSuperclass()) {
            for (Type t : c.getGenericInterfaces()) {
                if (t instanceof ParameterizedType p && p.getRawType() == RequestHandler.class) {
                    return p.getActualTypeArguments()[0];
                }
            }
        }
        return Object.class;
    }

    /** What the handler is given as its Context. */
    private static final class LambdaContext implements Context {
        private final String requestId;
        private final String arn;
        private final long deadline;
        private final ClientContext clientContext;

        LambdaContext(Answer next) {
            requestId = next.header("Lambda-Runtime-Aws-Request-Id");
            arn = next.header("Lambda-Runtime-Invoked-Function-Arn");
            String d = next.header("Lambda-Runtime-Deadline-Ms");
            deadline = d.isEmpty() ? 0 : Long.parseLong(d);
            String cc = next.header("Lambda-Runtime-Client-Context");
            clientContext = cc.isEmpty() ? null : client(cc);
        }

        @SuppressWarnings("unchecked")
        private static ClientContext client(String json) {
            try {
                Map<String, Object> doc = JSON.readValue(json, Map.class);
                Map<String, String> c = (Map<String, String>) doc.getOrDefault("client", new HashMap<>());
                Map<String, String> custom = (Map<String, String>) doc.getOrDefault("custom", new HashMap<>());
                Map<String, String> env = (Map<String, String>) doc.getOrDefault("env", new HashMap<>());
                Client client = new Client() {
                    public String getInstallationId() { return c.get("installation_id"); }
                    public String getAppTitle() { return c.get("app_title"); }
                    public String getAppVersionName() { return c.get("app_version_name"); }
                    public String getAppVersionCode() { return c.get("app_version_code"); }
                    public String getAppPackageName() { return c.get("app_package_name"); }
                };
                return new ClientContext() {
                    public Client getClient() { return client; }
                    public Map<String, String> getCustom() { return custom; }
                    public Map<String, String> getEnvironment() { return env; }
                };
            } catch (Exception e) {
                return null;
            }
        }

        public String getAwsRequestId() { return requestId; }
        public String getLogGroupName() { return System.getenv("AWS_LAMBDA_LOG_GROUP_NAME"); }
        public String getLogStreamName() { return System.getenv("AWS_LAMBDA_LOG_STREAM_NAME"); }
        public String getFunctionName() { return System.getenv("AWS_LAMBDA_FUNCTION_NAME"); }
        public String getFunctionVersion() { return System.getenv("AWS_LAMBDA_FUNCTION_VERSION"); }
        public String getInvokedFunctionArn() { return arn; }
        public CognitoIdentity getIdentity() { return null; }
        public ClientContext getClientContext() { return clientContext; }
        public int getRemainingTimeInMillis() { return (int) Math.max(0, deadline - System.currentTimeMillis()); }
        public int getMemoryLimitInMB() { return Integer.parseInt(System.getenv().getOrDefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")); }
        public LambdaLogger getLogger() {
            return new LambdaLogger() {
                public void log(String message) { logRecord(message, LogLevel.UNDEFINED); }
                public void log(byte[] message) { log(message, LogLevel.UNDEFINED); }
                public void log(String message, LogLevel level) { logRecord(message, level); }
                public void log(byte[] message, LogLevel level) {
                    // As on Lambda, bytes are written as they are, only filtered by level.
                    if (level == LogLevel.UNDEFINED || level.ordinal() >= MIN_LEVEL.ordinal()) {
                        System.out.println(new String(message, StandardCharsets.UTF_8));
                    }
                }
            };
        }
    }
}
