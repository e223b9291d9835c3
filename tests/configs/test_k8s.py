"""Every manifest of k8s/ is valid for what runs it, checked offline, and says what the deployment needs.

Custom resources (KubeRay's RayService and RayJob, prometheus-operator's PodMonitor and
PrometheusRule) are checked against the ``openAPIV3Schema`` of their CRDs, vendored in k8s/schemas;
core kinds against Kubernetes' own schemas, bundled by kubernetes-validate. Unknown fields are
refused, as ``kubectl apply`` does with strict field validation: a misspelt field would otherwise be
dropped without a word.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlparse

import kubernetes_validate
import pytest
from jsonschema import Draft7Validator

from tests.configs.k8s_manifests import (
    K8S,
    Manifest,
    app_args,
    cluster_spec,
    containers,
    documents,
    env,
    groups,
    of_kind,
    one,
    pod_labels,
    ray_clusters,
    serve_config,
)

KUBERNETES_VERSION = "1.30.0"  # the oldest Kubernetes these manifests are meant for
CRD_SCHEMAS = {
    ("ray.io/v1", "RayService"): "rayservice.json",
    ("ray.io/v1", "RayJob"): "rayjob.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.json",
}
SECRET_LIKE = re.compile(r"URL|KEY|SECRET|PASSWORD|TOKEN")


def _strict(node: Any) -> Any:
    """The schema with unknown fields refused wherever it lists the known ones."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    strict = {key: _strict(value) for key, value in node.items()}
    open_ended = "additionalProperties" in node or node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and not open_ended:
        strict["additionalProperties"] = False
    return strict


@cache
def _crd_validator(file: str) -> Draft7Validator:
    return Draft7Validator(_strict(json.loads((K8S / "schemas" / file).read_text())))


def schema_errors(document: Manifest) -> list[str]:
    """Why the API server would refuse this manifest; empty when it would take it."""
    schema = CRD_SCHEMAS.get((document["apiVersion"], document["kind"]))
    if schema is not None:
        errors = _crd_validator(schema).iter_errors(document)
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {document['apiVersion']} {document['kind']}"]
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}"]
    return []


@pytest.mark.parametrize(("where", "document"), documents(), ids=[where for where, _ in documents()])
def test_every_manifest_is_valid(where: str, document: Manifest) -> None:
    assert schema_errors(document) == []
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", document["metadata"]["name"])


def _set(path: str, value: Any) -> Callable[[Manifest], None]:
    """A change to one field, named by a dotted path (numbers index lists)."""

    def change(document: Manifest) -> None:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        node: Any = document
        for part in parents:
            node = node[part]
        node[last] = value

    return change


BROKEN = {
    "a misspelt worker group field": ("RayService", _set("spec.rayClusterConfig.workerGroupSpecs.0.maxReplica", 4)),
    "an unknown Ray auth mode": ("RayService", _set("spec.rayClusterConfig.authOptions.mode", "password")),
    "a flag written as text": ("RayJob", _set("spec.shutdownAfterJobFinishes", "true")),
    "a port written as text": (
        "RayJob",
        _set("spec.rayClusterSpec.headGroupSpec.template.spec.containers.0.ports.0.containerPort", "6379"),
    ),
    "a misspelt policy field": ("NetworkPolicy", _set("spec.ingres", [])),
    "a backend port written as text": (
        "Ingress",
        _set("spec.rules.0.http.paths.0.backend.service.port.number", "8000"),
    ),
    "a secret value that is not text": ("Secret", _set("stringData.token-key", 42)),
    "a scrape port by number where a name belongs": ("PodMonitor", _set("spec.podMetricsEndpoints.0.port", 8080)),
    "a duration in words": ("PrometheusRule", _set("spec.groups.0.rules.0.for", "five minutes")),
}


@pytest.mark.parametrize("change", sorted(BROKEN))
def test_a_broken_manifest_is_refused(change: str) -> None:
    kind, breaking = BROKEN[change]
    document = of_kind(kind)[0]
    assert schema_errors(document) == []
    breaking(document)
    assert schema_errors(document) != []


def test_ray_clusters_demand_the_token_and_keep_kuberays_start_command() -> None:
    for document in ray_clusters():
        cluster = cluster_spec(document)
        assert cluster["authOptions"]["mode"] == "token"
        assert tuple(map(int, cluster["rayVersion"].split("."))) >= (2, 52)  # token auth came with Ray 2.52
        for _, container in containers(document):
            # With its own command, KubeRay would not apply rayStartParams (num-cpus, ports, dashboard host).
            assert "command" not in container and "args" not in container


def _example_secrets() -> dict[str, Manifest]:
    return {secret["metadata"]["name"]: secret["stringData"] for secret in of_kind("Secret")}


def test_secrets_come_from_the_secret_never_inline() -> None:
    secrets = _example_secrets()
    token_secret = cluster_spec(one("RayService"))["authOptions"]["secretName"]
    assert "auth_token" in secrets[token_secret]
    for document in ray_clusters():
        for _, container in containers(document):
            for name, item in env(container).items():
                if SECRET_LIKE.search(name):
                    reference = item["valueFrom"]["secretKeyRef"]
                    assert reference["key"] in secrets[reference["name"]], name


def test_example_secrets_hold_placeholders_only() -> None:
    for secret in of_kind("Secret"):
        assert "data" not in secret
        assert all("REPLACE_ME" in value for value in secret["stringData"].values())


def _setting_exists(variable: str) -> bool:
    from configs.settings import Settings

    model: Any = Settings
    for part in variable.removeprefix("SURA_").lower().split("__"):
        if part not in model.model_fields:
            return False
        model = model.model_fields[part].annotation
    return True


def test_sura_variables_are_settings_and_the_scan_shares_the_services() -> None:
    service = {n: i for _, c in containers(one("RayService")) for n, i in env(c).items() if n.startswith("SURA_")}
    scan = {n: i for _, c in containers(one("RayJob")) for n, i in env(c).items() if n.startswith("SURA_")}
    assert {"SURA_ENVIRONMENT", "SURA_DB__URL", "SURA_AUTH__SECRET_KEY"} <= set(service)
    assert [name for name in {**service, **scan} if not _setting_exists(name)] == []
    assert {name: scan[name] for name in service} == service  # the same database, keys and folders


def _gpus(container: Manifest) -> float:
    return float(container["resources"]["limits"].get("nvidia.com/gpu", 0))


def test_gpu_stages_autoscale_on_gpu_workers_and_the_rest_fits_on_cpu_workers() -> None:
    service = one("RayService")
    assert cluster_spec(service)["enableInTreeAutoscaling"] is True
    workers = {name: spec for name, spec in groups(service) if name != "head"}
    limits = {name: spec["template"]["spec"]["containers"][0]["resources"]["limits"] for name, spec in workers.items()}
    gpu = next(n for n, lim in limits.items() if float(lim.get("nvidia.com/gpu", 0)) == 1)
    cpu = next(n for n, lim in limits.items() if "nvidia.com/gpu" not in lim)
    args = app_args()
    for stage in ("detector", "embedder"):
        assert args[stage]["num_gpus"] > 0 and args[stage]["max_replicas"] > args[stage]["min_replicas"]
    for stage in ("gateway", "workers"):
        assert args.get(stage, {}).get("num_gpus", 0) == 0
    gpu_stages = ("detector", "embedder", "matcher")
    assert sum(args[s]["num_gpus"] * args[s]["min_replicas"] for s in gpu_stages) <= 1  # one GPU node to start
    assert sum(args[s]["num_gpus"] * args[s]["max_replicas"] for s in gpu_stages) <= workers[gpu]["maxReplicas"]
    assert workers[gpu]["maxReplicas"] > workers[gpu]["minReplicas"]
    gateway_cpus = args["gateway"]["num_cpus"] * args["gateway"]["max_replicas"]
    assert gateway_cpus <= float(limits[cpu]["cpu"]) * workers[cpu]["maxReplicas"]


def test_the_scan_job_runs_sura_scan_over_an_object_store_prefix_on_gpus() -> None:
    from serving.cli.scan import scan_command

    job = one("RayJob")
    spec = job["spec"]
    program, command, *arguments = shlex.split(spec["entrypoint"])
    assert (program, command) == ("sura", "scan")
    options = scan_command.make_context("scan", list(arguments)).params  # refuses unknown options
    assert urlparse(options["source"]).scheme in {"s3", "gs"}
    assert options["pack_name"] == app_args()["models"]["pack"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["activeDeadlineSeconds"] > 0
    assert spec["submissionMode"] == "HTTPMode"
    gpus = sum(_gpus(c) * dict(groups(job))[g]["replicas"] for g, c in containers(job) if g != "head")
    settings = env(containers(job)[0][1])
    actors = int(settings["SURA_SCAN__LOCATE_ACTORS"]["value"]) + int(settings["SURA_SCAN__EMBED_ACTORS"]["value"])
    assert 0 < actors * 0.5 <= gpus  # each model actor takes half a GPU


def test_every_ray_pod_exposes_the_metrics_port_the_pod_monitor_scrapes() -> None:
    monitor = one("PodMonitor")["spec"]
    [endpoint] = monitor["podMetricsEndpoints"]
    for document in ray_clusters():
        for name, spec in groups(document):
            assert spec["rayStartParams"]["metrics-export-port"] == "8080"
            ports = {p["name"]: p["containerPort"] for p in spec["template"]["spec"]["containers"][0]["ports"]}
            assert ports[endpoint["port"]] == 8080
            assert monitor["selector"]["matchLabels"].items() <= pod_labels(document, name).items()


def test_the_ingress_caps_bodies_just_above_the_largest_photo_and_reaches_serve() -> None:
    from configs.settings import PhotoSettings

    ingress = one("Ingress")
    size = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    parsed = re.fullmatch(r"(\d+)([km]?)", size)
    assert parsed, size
    number, unit = parsed.groups()
    limit = int(number) * {"": 1, "k": 2**10, "m": 2**20}[unit]
    largest = PhotoSettings().max_upload_bytes
    assert largest < limit <= largest + 2 * 2**20
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == one("RayService")["metadata"]["name"] + "-serve-svc"
    assert backend["port"]["number"] == serve_config()["http_options"]["port"]


def test_vendored_schemas_name_their_source_commit_and_licence() -> None:
    readme = (K8S / "schemas" / "README.md").read_text()
    for file in CRD_SCHEMAS.values():
        note = json.loads((K8S / "schemas" / file).read_text())["$comment"]
        commit = re.search(r"github\.com/[\w.-]+/[\w.-]+ .* at ([0-9a-f]{40})", note)
        assert commit and "Apache-2.0" in note, file
        assert commit.group(1) in readme
