"""The java17 and java21 runtimes on both ISAs: a `RequestHandler` with POJO input and output, a
`RequestStreamHandler`, a `Class::method` handler that throws (Lambda's error shape), a jar in
`lib/` on the classpath, and `os.arch` saying which processor ran it. The handlers are compiled
here against archfn's own `com.amazonaws.services.lambda.runtime` sources, as a jar compiled
against aws-lambda-java-core would be."""

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, ROLE, server_fixture, unique

API_SOURCES = REPO / "crates" / "archfn-sandbox" / "src" / "java" / "com"

HANDLERS = {
    "example/Order.java": """package example;
public class Order { public String item; public int quantity; }
""",
    "example/Receipt.java": """package example;
public class Receipt {
    public String item; public int total; public String arch; public String greeting; public String function;
}
""",
    "example/Hello.java": """package example;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
public class Hello implements RequestHandler<Order, Receipt> {
    public Receipt handleRequest(Order order, Context context) {
        context.getLogger().log("ordering " + order.item);
        Receipt r = new Receipt();
        r.item = order.item;
        r.total = order.quantity * 3;
        r.arch = System.getProperty("os.arch");
        r.greeting = dep.Greeter.greet(order.item);
        r.function = context.getFunctionName();
        return r;
    }
}
""",
    "example/Shout.java": """package example;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.*;
public class Shout implements RequestStreamHandler {
    public void handleRequest(InputStream in, OutputStream out, Context context) throws IOException {
        out.write(new String(in.readAllBytes(), "UTF-8").toUpperCase().getBytes("UTF-8"));
    }
}
""",
    "example/Levels.java": """package example;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import java.util.Map;
public class Levels {
    public static String handle(Map<String, Object> event, Context context) {
        LambdaLogger log = context.getLogger();
        log.log("plain record");
        log.log("debug record", LogLevel.DEBUG);
        log.log("info record", LogLevel.INFO);
        log.log("warn record", LogLevel.WARN);
        log.log("error record", LogLevel.ERROR);
        if (event.containsKey("fail")) {
            throw new IllegalArgumentException("asked to fail");
        }
        return "logged";
    }
}
""",
    "example/Trust.java": """package example;
import java.security.KeyStore;
import java.util.Map;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
public class Trust {
    public static int issuers(Map<String, Object> event) throws Exception {
        TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        f.init((KeyStore) null);
        return ((X509TrustManager) f.getTrustManagers()[0]).getAcceptedIssuers().length;
    }
}
""",
    "example/Fails.java": """package example;
import java.util.Map;
public class Fails {
    public static String boom(Map<String, Object> event) {
        throw new IllegalStateException("no stock for " + event.get("item"));
    }
}
""",
}

DEPENDENCY = {"dep/Greeter.java": "package dep;\npublic class Greeter { public static String greet(String s) { return \"hello \" + s; } }\n"}


def javac(tmp: Path, sources: dict, classpath: list[Path]) -> Path:
    src, out = tmp / "src", tmp / "out"
    for name, text in sources.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    files = [str(p) for p in src.rglob("*.java")]
    cp = ":".join(str(p) for p in classpath)
    subprocess.run(["javac", "--release", "17", "-d", str(out), *(["-cp", cp] if cp else []), *files], check=True)
    return out


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    if not shutil.which("javac"):
        pytest.skip("no javac on this machine (scripts/setup.sh --test installs one)")
    tmp = tmp_path_factory.mktemp("java")
    api = javac(tmp / "api", {str(p.relative_to(API_SOURCES.parent)): p.read_text() for p in API_SOURCES.rglob("*.java")}, [])
    dep = javac(tmp / "dep", DEPENDENCY, [])
    dep_jar = io.BytesIO()
    with zipfile.ZipFile(dep_jar, "w") as z:
        for f in dep.rglob("*.class"):
            z.write(f, f.relative_to(dep).as_posix())
    out = javac(tmp / "handlers", HANDLERS, [api, dep])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in out.rglob("*.class"):
            z.write(f, f.relative_to(out).as_posix())
        z.writestr("lib/greeter.jar", dep_jar.getvalue())
    return buf.getvalue()


lam = server_fixture(prefix="archfn-java-")


def create(lam, runtime, arch, handler, code):
    name = unique(f"java-{arch}")
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler, Code={"ZipFile": code},
                        Architectures=[arch], Timeout=120, MemorySize=512)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return name


def invoke(lam, name, payload):
    r = lam.invoke(FunctionName=name, Payload=payload, LogType="Tail")
    return r, r["Payload"].read()


@pytest.mark.parametrize("runtime", ["java17", "java21"])
@pytest.mark.parametrize("arch,os_arch", [("x86_64", "amd64"), ("arm64", "aarch64")])
def test_a_pojo_handler_runs_on_each_isa(lam, package, runtime, arch, os_arch):
    name = create(lam, runtime, arch, "example.Hello::handleRequest", package)
    r, body = invoke(lam, name, json.dumps({"item": "tea", "quantity": 4}))
    assert "FunctionError" not in r, body
    assert json.loads(body) == {"item": "tea", "total": 12, "arch": os_arch, "greeting": "hello tea", "function": name}
    import base64
    assert "ordering tea" in base64.b64decode(r["LogResult"]).decode()
    # Warm: the same JVM answers again.
    r, body = invoke(lam, name, json.dumps({"item": "rice", "quantity": 1}))
    assert json.loads(body)["total"] == 3


def test_a_stream_handler_and_a_class_handler(lam, package):
    name = create(lam, "java17", "x86_64", "example.Shout", package)
    r, body = invoke(lam, name, b'"quiet"')
    assert body == b'"QUIET"'


def test_an_exception_has_lambdas_shape(lam, package):
    name = create(lam, "java21", "arm64", "example.Fails::boom", package)
    r, body = invoke(lam, name, json.dumps({"item": "tea"}))
    assert r["FunctionError"] == "Unhandled"
    doc = json.loads(body)
    assert doc["errorType"] == "java.lang.IllegalStateException"
    assert doc["errorMessage"] == "no stock for tea"
    assert doc["stackTrace"][0].startswith("example.Fails.boom(Fails.java:"), doc["stackTrace"]


def test_a_missing_class_fails_init(lam, package):
    name = create(lam, "java17", "x86_64", "example.Nothing::handleRequest", package)
    r, body = invoke(lam, name, b"{}")
    assert r["FunctionError"] == "Unhandled"
    assert json.loads(body)["errorType"] == "java.lang.ClassNotFoundException"


def records(log: str) -> list:
    """The JSON lines of an invocation's log that are the function's own records."""
    out = []
    for line in log.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            if "AWSRequestId" in rec or "message" in rec and "type" not in rec:
                out.append(rec)
    return out


def test_json_logs_are_records_filtered_by_the_application_level(lam, package):
    import base64
    name = create(lam, "java21", "x86_64", "example.Levels::handle", package)
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    r, body = invoke(lam, name, b"{}")
    assert body == b'"logged"'
    request_id = r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    own = records(base64.b64decode(r["LogResult"]).decode())
    # JSON's default application level is INFO: DEBUG is dropped; a record without a level is UNDEFINED.
    assert [(rec["level"], rec["message"]) for rec in own] == [
        ("UNDEFINED", "plain record"), ("INFO", "info record"), ("WARN", "warn record"), ("ERROR", "error record")]
    for rec in own:
        assert list(rec) == ["timestamp", "message", "level", "AWSRequestId"], rec
        assert rec["AWSRequestId"] == request_id
        assert rec["timestamp"].endswith("Z") and len(rec["timestamp"]) == 24
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    r, body = invoke(lam, name, json.dumps({"fail": True}))
    assert r["FunctionError"] == "Unhandled"
    own = records(base64.b64decode(r["LogResult"]).decode())
    # At WARN the runtime drops INFO and DEBUG, and Lambda's filter drops the record whose level
    # it cannot read (UNDEFINED counts as INFO there).
    assert [(rec["level"], rec["message"]) for rec in own] == [
        ("WARN", "warn record"), ("ERROR", "error record"),
        ("ERROR", "java.lang.IllegalArgumentException: asked to fail")]


def test_text_logs_prefix_the_level(lam, package):
    import base64
    name = create(lam, "java17", "x86_64", "example.Levels::handle", package)
    r, _ = invoke(lam, name, b"{}")
    log = base64.b64decode(r["LogResult"]).decode().splitlines()
    # Text format: no level filter (Lambda sets none), the level in brackets, none for a plain record.
    assert "plain record" in log and "[DEBUG] debug record" in log and "[WARN] warn record" in log


@pytest.mark.parametrize("runtime,arch", [("java17", "x86_64"), ("java21", "arm64")])
def test_the_jdk_trusts_the_public_certificate_authorities(lam, package, runtime, arch):
    # The JDK's default trust store (/etc/ssl/certs/java/cacerts) holds Debian's CA certificates,
    # so HTTPS from a function verifies servers; without it every TLS handshake fails.
    name = create(lam, runtime, arch, "example.Trust::issuers", package)
    r, body = invoke(lam, name, b"{}")
    assert "FunctionError" not in r, body
    assert int(body) > 100
