"""configs/serve.yaml is a valid Serve config whose arguments the app builder accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "serve.yaml"


def test_serve_yaml_is_valid() -> None:
    schema = pytest.importorskip("ray.serve.schema")
    from serving.app import AppArgs

    document = yaml.safe_load(CONFIG.read_text())
    schema.ServeDeploySchema.model_validate(document)
    [application] = document["applications"]
    assert application["import_path"] == "serving.app:build_app"
    args = AppArgs.model_validate(application["args"])
    assert args.models is not None and args.models.device == "cuda" and args.matcher_device == "cuda"
    detector = args.detector.options()
    assert detector["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 32}
    assert detector["ray_actor_options"]["num_gpus"] == 0.5
    assert args.matcher.options()["num_replicas"] == 2
    assert "db_url" not in application["args"] and "token_secret" not in application["args"]


def test_kuberay_manifest_serves_the_same_config() -> None:
    manifest = yaml.safe_load((CONFIG.parents[1] / "k8s" / "rayservice.yaml").read_text())
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayService"
    assert yaml.safe_load(manifest["spec"]["serveConfigV2"]) == yaml.safe_load(CONFIG.read_text())
    workers = manifest["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    container = workers["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    env = {item["name"] for item in container["env"]}
    assert {"SURA_DB__URL", "SURA_AUTH__SECRET_KEY", "SURA_ENVIRONMENT"} <= env
