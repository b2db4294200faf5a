"""values.schema.json: bad values are refused with a message that names the value; values match the code."""

from __future__ import annotations

import json
import os
import re
import typing

import pytest
import yaml
from pydantic import SecretStr

from chart_support import CHART, HelmError, env_of, helm, render, render_error
from voice_common import models as model_assembly
from voice_gateway.settings import GatewaySettings
from voice_stt.settings import STTSettings
from voice_tts.settings import TTSSettings

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def test_gpu_memory_utilization_set_on_the_command_line_is_accepted():
    """`helm --set llm.gpu.gpuMemoryUtilization=0.8` passes the string "0.8"; the schema refused it."""
    manifest = render("gpu", values={"llm.gpu.gpuMemoryUtilization": "0.8"})
    args = manifest.container("llm")["command"]
    assert args[args.index("--gpu-memory-utilization") + 1] == "0.8"


def template_gpu_with_set(assignment: str) -> str:
    """`helm template` of the gpu scenario with a plain --set (render() passes --set-json)."""
    return helm("template", "va", str(CHART), "-f", str(CHART / "ci" / "gpu-values.yaml"), "--set", assignment)


@pytest.mark.parametrize("value", ["0.8", "1", ".5", "1.0"])
def test_helm_set_of_a_gpu_memory_fraction_renders_it(value):
    """What an operator types: helm's --set parser keeps a float as a string (it converts only ints and bools)."""
    out = template_gpu_with_set(f"llm.gpu.gpuMemoryUtilization={value}")
    [llm] = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-llm")]
    command = llm["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--gpu-memory-utilization") + 1] == value


@pytest.mark.parametrize("value", ["1.5", "0", "0.0", "-0.2", "80%", "abc"])
def test_helm_set_of_a_gpu_memory_fraction_outside_0_1_is_refused(value):
    with pytest.raises(HelmError) as refused:
        template_gpu_with_set(f"llm.gpu.gpuMemoryUtilization={value}")
    assert "/llm/gpu/gpuMemoryUtilization" in refused.value.stderr, refused.value.stderr


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"stt.gpu.count": 0}, ["/stt/gpu/count", "minimum"]),
        ({"stt.gpuu": {"enabled": True}}, ["/stt", "additional properties 'gpuu' not allowed"]),
        ({"tts.gpu.resourceName": "gpu"}, ["/tts/gpu/resourceName", "'gpu' does not match pattern"]),
        ({"models.source": "s3"}, ["/models/source", "'emptyDir', 'pvc', 'image'"]),
        ({"llm.gpu.gpuMemoryUtilization": 1.5}, ["/llm/gpu/gpuMemoryUtilization", "maximum"]),
        ({"llm.gpu.gpuMemoryUtilization": "1.5"}, ["/llm/gpu/gpuMemoryUtilization"]),
        ({"llm.cpu.modelFile": "/abs/model.bin"}, ["/llm/cpu/modelFile", "does not match pattern"]),
        ({"stt.cpu.resources.requests.cpu": "1 core"}, ["/stt/cpu/resources/requests/cpu", "does not match pattern"]),
        ({"stt.config.device": "tpu"}, ["/stt/config/device", "'cpu', 'cuda'"]),
        ({"gateway.config.maxSession": 10}, ["/gateway/config", "additional properties 'maxSession' not allowed"]),
        ({"gateway.config.sttUrl": "ws://elsewhere"}, ["/gateway/config", "'sttUrl' not allowed"]),
        ({"gateway.service.type": "Ingress"}, ["/gateway/service/type", "'ClusterIP', 'NodePort', 'LoadBalancer'"]),
        ({"gateway.service.nodePort": 80}, ["/gateway/service/nodePort", "minimum"]),
        ({"gateway.upstreams.sttUrl": "http://stt:8000"}, ["/gateway/upstreams/sttUrl", "does not match pattern"]),
        ({"observability.otlpEndpoint": "collector:4318"}, ["/observability/otlpEndpoint", "does not match pattern"]),
        ({"gpuPool.tolerations": [{"key": "nvidia.com/gpu", "operator": "Exist"}]},
         ["/gpuPool/tolerations/0/operator", "'Exists', 'Equal'"]),
        ({"replicas": 3}, ["additional properties 'replicas' not allowed"]),
    ],
)
def test_schema_rejects_bad_values_and_says_where(overrides, expected):
    stderr = render_error("cpu", values=overrides)
    assert "values don't meet the specifications of the schema" in stderr, stderr
    for fragment in expected:
        assert fragment in stderr, f"{fragment!r} not in:\n{stderr}"


def test_template_checks_refuse_inconsistent_combinations():
    stderr = render_error("production", values={"gateway.keda.enabled": True})
    assert "gateway.keda.enabled and gateway.autoscaling.enabled are mutually exclusive" in stderr
    stderr = render_error("cpu", values={"gateway.config.drainTimeoutSecs": 60, "gateway.terminationGracePeriodSeconds": 40})
    assert "terminationGracePeriodSeconds (40) must be at least gateway.config.drainTimeoutSecs (60) + 5 s" in stderr
    stderr = render_error("cpu", values={"gateway.config.drainAdmitSecs": 25})
    assert "gateway.config.drainAdmitSecs (25) must be below gateway.config.drainTimeoutSecs (25)" in stderr


def camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(word.capitalize() for word in rest)


JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}
SETTINGS = {"gateway": GatewaySettings, "stt": STTSettings, "tts": TTSSettings}
SET_BY_CHART = {"host", "port", "sttUrl", "ttsUrl", "llmBaseUrl", "llmModel", "authToken", "llmApiKey"}


def config_schemas(component: str) -> list[dict]:
    """The schema of `<component>.config` and of the profile configs (cpu/gpu) merged over it."""
    props = SCHEMA["properties"][component]["properties"]
    found = [props["config"]["properties"]]
    found += [props[p]["properties"]["config"]["properties"] for p in ("cpu", "gpu") if p in props]
    return found


@pytest.mark.parametrize("component", sorted(SETTINGS))
def test_config_keys_are_server_settings_with_the_same_types(component):
    """Every key the schema allows under <component>.config is a field of that server's settings, same type."""
    fields = {camel(name): info for name, info in SETTINGS[component].model_fields.items()}
    for allowed in config_schemas(component):
        assert not SET_BY_CHART & allowed.keys(), "set by the chart itself, not by users"
        for key, spec in allowed.items():
            assert key in fields, f"{component}.config.{key} is not a {SETTINGS[component].__name__} field"
            annotation = fields[key].annotation
            assert annotation is not SecretStr and SecretStr not in typing.get_args(annotation), f"{key}: secrets go in Secrets"
            if typing.get_origin(annotation) is typing.Literal:
                assert set(spec["enum"]) <= set(typing.get_args(annotation)), (component, key, spec["enum"])
            else:
                kind = typing.get_origin(annotation) or annotation  # dict[str, Any] -> dict
                assert spec["type"] == JSON_TYPES[kind], (component, key, spec["type"], annotation)
    if "max_sessions" in SETTINGS[component].model_fields:
        assert "maxSessions" in config_schemas(component)[0], "the admission limit is tunable"


def settings_from_env(cls: type, env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """``cls`` read from exactly ``env``, as the server reads its environment (JSON for a dict setting)."""
    prefix = cls.model_config["env_prefix"]
    fields = {k.removeprefix(prefix).lower() for k in env}
    assert fields <= cls.model_fields.keys(), (cls.__name__, fields - cls.model_fields.keys())
    for name in [name for name in os.environ if name.upper().startswith(prefix)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cls()


def server_env(manifest, component: str) -> dict[str, str]:
    prefix = SETTINGS[component].model_config["env_prefix"]
    return {k: v for k, v in env_of(manifest.container(component)).items() if k.startswith(prefix) and isinstance(v, str)}


@pytest.mark.parametrize("scenario", ["cpu", "gpu", "gpu-shared", "production"])
def test_rendered_settings_parse_in_each_server(scenario, monkeypatch):
    """The env each container gets is accepted by the server's own settings class (names, types, enums)."""
    manifest = render(scenario)
    for component, cls in SETTINGS.items():
        settings = settings_from_env(cls, server_env(manifest, component), monkeypatch)
        assert settings.port == manifest.container(component)["ports"][0]["containerPort"], component


def test_an_object_setting_reaches_the_gateway_as_the_json_it_reads(monkeypatch):
    extra = {"top_k": 40, "min_p": 0.05}
    manifest = render("cpu", values={"gateway.config.llmExtraBody": extra})
    assert settings_from_env(GatewaySettings, server_env(manifest, "gateway"), monkeypatch).llm_extra_body == extra


def test_values_defaults_agree_with_the_code():
    settings = GatewaySettings()
    assert VALUES["gateway"]["config"]["drainTimeoutSecs"] == settings.drain_timeout_secs
    assert VALUES["gateway"]["config"]["maxSessions"] == settings.max_sessions
    assert VALUES["gateway"]["config"]["ttsVoice"] == settings.tts_voice
    assert VALUES["gateway"]["config"]["vadStopSecs"] == settings.vad_stop_secs
    assert VALUES["gateway"]["config"]["turnConfirmSecs"] == settings.turn_confirm_secs
    assert VALUES["llm"]["cpu"]["modelFile"] == f"llm/{model_assembly.LLM_GGUF_NAME}", "the GGUF `make models` writes"


def test_values_yaml_documents_every_key():
    """helm-docs style: each leaf of the component blocks is preceded by a comment somewhere up its path."""
    text = (CHART / "values.yaml").read_text()
    for key in ("gpuPool", "cpuPool", "models", "security", "networkPolicy", "observability",
                "stt", "tts", "llm", "gateway", "tests"):
        block = re.search(rf"^(#.*\n)+{key}:", text, re.MULTILINE) or re.search(rf"^{key}:\n  # --", text, re.MULTILINE)
        assert block, f"{key} has no comment"
    assert text.count("# --") >= 60


def test_defaults_alone_render_a_working_cpu_stack():
    manifest = render()
    components = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in manifest.kinds("Deployment")}
    assert components == {"stt", "tts", "llm", "gateway"}
