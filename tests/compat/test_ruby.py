"""The ruby3.3 runtime on both ISAs: `file.method` and `file.Module::Class.method` handlers called
with `event:` and `context:`, a gem from `vendor/bundle` and one from a layer on GEM_PATH, the
processor the function sees, and Lambda's Ruby error shapes."""

import json

import pytest

from conftest import ROLE, make_zip, server_fixture, unique

APP = """
require "tinygem"
require "layergem"

def handler(event:, context:)
  { "machine" => RbConfig::CONFIG["host_cpu"], "ruby" => RUBY_VERSION, "gem" => TinyGem.hello(event["name"]),
    "layer" => LayerGem::VERSION, "request" => context.aws_request_id.length,
    "remaining" => context.get_remaining_time_in_millis > 0 }
end

module Shop
  class Orders
    def self.create(event:, context:)
      { "order" => event["id"], "function" => context.function_name }
    end
  end
end

def fail(event:, context:)
  raise ArgumentError, "bad order #{event["id"]}"
end
"""


def gem(name, module, body, version="1.0.0"):
    """A gem as `bundle install --path vendor/bundle` (or a layer's ruby/gems/3.3.0) lays it out."""
    spec = f"""Gem::Specification.new do |s|
  s.name = "{name}"
  s.version = "{version}"
  s.summary = "test gem"
  s.authors = ["archfn"]
  s.files = ["lib/{name}.rb"]
  s.require_paths = ["lib"]
end
"""
    return {
        f"gems/{name}-{version}/lib/{name}.rb": f"module {module}\n{body}\nend\n",
        f"specifications/{name}-{version}.gemspec": spec,
    }


def package():
    files = {"app.rb": APP}
    for path, text in gem("tinygem", "TinyGem", '  def self.hello(n) = "hello #{n}"').items():
        files[f"vendor/bundle/ruby/3.3.0/{path}"] = text
    return make_zip(files)


def layer_zip():
    files = {}
    for path, text in gem("layergem", "LayerGem", '  VERSION = "7.1"').items():
        files[f"ruby/gems/3.3.0/{path}"] = text
    return make_zip(files)


lam = server_fixture(prefix="archfn-ruby-")


@pytest.fixture(scope="module")
def layer_arn(lam, runtimes):
    return lam.publish_layer_version(LayerName=unique("rubygems"), Content={"ZipFile": layer_zip()},
                                     CompatibleRuntimes=["ruby3.3"])["LayerVersionArn"]


def create(lam, arch, handler, layer_arn):
    name = unique(f"rb-{arch}")
    lam.create_function(FunctionName=name, Runtime="ruby3.3", Role=ROLE, Handler=handler,
                        Code={"ZipFile": package()}, Architectures=[arch], Timeout=60, Layers=[layer_arn])
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return name


def invoke(lam, name, event):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    return r, json.loads(r["Payload"].read())


@pytest.mark.parametrize("arch,machine", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_a_ruby_handler_runs_on_each_isa_with_gems_from_the_package_and_a_layer(lam, layer_arn, arch, machine):
    name = create(lam, arch, "app.handler", layer_arn)
    r, body = invoke(lam, name, {"name": "lambda"})
    assert "FunctionError" not in r, body
    assert body == {"machine": machine, "ruby": body["ruby"], "gem": "hello lambda", "layer": "7.1",
                    "request": 36, "remaining": True}
    assert body["ruby"].startswith("3.3.")
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-archfn-execution"] == ("native" if arch == "x86_64" else "emulated")


def test_module_class_method_handlers_and_lambdas_error_shape(lam, layer_arn):
    name = create(lam, "x86_64", "app.Shop::Orders.create", layer_arn)
    r, body = invoke(lam, name, {"id": 42})
    assert body == {"order": 42, "function": name}
    name = create(lam, "arm64", "app.fail", layer_arn)
    r, body = invoke(lam, name, {"id": 7})
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function<ArgumentError>" and body["errorMessage"] == "bad order 7"
    assert any("app.rb" in frame and "fail" in frame for frame in body["stackTrace"]), body["stackTrace"]


def test_a_missing_handler_is_an_init_error(lam, layer_arn):
    name = create(lam, "x86_64", "app.nothing_here", layer_arn)
    r, body = invoke(lam, name, {})
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Init<NameError>", body
