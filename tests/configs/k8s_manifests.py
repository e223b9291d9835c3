"""The manifests of k8s/, loaded once, and the parts of them the tests look into."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
SERVE_CONFIG = ROOT / "configs" / "serve.yaml"

Manifest = dict[str, Any]


@cache
def _documents() -> tuple[tuple[str, Manifest], ...]:
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((f"{path.relative_to(K8S)}:{document['kind']}/{document['metadata']['name']}", document))
    return tuple(found)


def documents() -> list[tuple[str, Manifest]]:
    """(``file:Kind/name``, manifest) of every manifest under k8s/, each a fresh copy to change at will."""
    return [(where, copy.deepcopy(document)) for where, document in _documents()]


def of_kind(kind: str) -> list[Manifest]:
    return [document for _, document in documents() if document["kind"] == kind]


def one(kind: str) -> Manifest:
    [document] = of_kind(kind)
    return document


def cluster_spec(document: Manifest) -> Manifest:
    """The RayCluster spec inside a RayService or a RayJob."""
    spec = document["spec"]
    return spec["rayClusterConfig"] if document["kind"] == "RayService" else spec["rayClusterSpec"]


def groups(document: Manifest) -> list[tuple[str, Manifest]]:
    """(``head`` or worker group name, group spec) of a RayService's or RayJob's cluster."""
    cluster = cluster_spec(document)
    return [("head", cluster["headGroupSpec"])] + [(g["groupName"], g) for g in cluster["workerGroupSpecs"]]


def ray_clusters() -> list[Manifest]:
    return of_kind("RayService") + of_kind("RayJob")


def pod_labels(document: Manifest, group: str) -> dict[str, str]:
    """The labels KubeRay's pods of this group carry: the template's and the node type KubeRay adds."""
    spec = dict(groups(document))[group]
    return {**spec["template"]["metadata"]["labels"], "ray.io/node-type": "head" if group == "head" else "worker"}


def containers(document: Manifest) -> list[tuple[str, Manifest]]:
    """(group name, container) of every Ray container of a RayService's or RayJob's cluster."""
    return [(name, c) for name, spec in groups(document) for c in spec["template"]["spec"]["containers"]]


def env(container: Manifest) -> dict[str, Manifest]:
    return {item["name"]: item for item in container.get("env", [])}


def serve_config() -> Manifest:
    return yaml.safe_load(one("RayService")["spec"]["serveConfigV2"])


def app_args() -> Manifest:
    [application] = serve_config()["applications"]
    return application["args"]
