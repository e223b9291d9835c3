"""k8s/network-policy.yaml lets through what SuraSmart needs and nothing else.

The policies are evaluated the way Kubernetes does (a pod selected by any policy of a direction
is isolated in it; a connection passes when the sender's egress and the receiver's ingress both
allow it) for the connections that matter: a Ray dashboard or GCS reachable by another pod is a
way to run code on the cluster.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest

from tests.configs.k8s_manifests import Manifest, of_kind, one, pod_labels

NAMESPACE = "surasmart"


@dataclass(frozen=True)
class Peer:
    """A pod (namespace and labels) or, with ``ip``, an address outside the cluster."""

    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels is evaluated here"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _matches(rule_peer: Manifest, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        block = rule_peer["ipBlock"]
        if peer.ip is None:
            return False
        address = ipaddress.ip_address(peer.ip)
        excluded = any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excluded
    if peer.ip is not None:
        return False
    if "namespaceSelector" in rule_peer:
        in_namespace = _selects(rule_peer["namespaceSelector"], {"kubernetes.io/metadata.name": peer.namespace})
    else:
        in_namespace = peer.namespace == NAMESPACE
    return in_namespace and _selects(rule_peer.get("podSelector", {}), peer.labels)


def _allowed(pod: Peer, other: Peer, port: int, protocol: str, direction: str) -> bool:
    """Whether ``pod``'s policies let traffic of ``direction`` (Ingress, Egress) with ``other`` pass."""
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    policies = [
        p["spec"]
        for p in of_kind("NetworkPolicy")
        if direction in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not policies:
        return True
    for rule in (rule for policy in policies for rule in policy.get(rules_key, [])):
        ports = rule.get("ports")
        port_ok = ports is None or any((p["port"], p.get("protocol", "TCP")) == (port, protocol) for p in ports)
        peers = rule.get(peers_key)
        if port_ok and (peers is None or any(_matches(peer, other) for peer in peers)):
            return True
    return False


def connects(source: Peer, target: Peer, port: int, protocol: str = "TCP") -> bool:
    egress_ok = source.namespace != NAMESPACE or _allowed(source, target, port, protocol, "Egress")
    ingress_ok = target.namespace != NAMESPACE or _allowed(target, source, port, protocol, "Ingress")
    return egress_ok and ingress_ok


def _pod(kind: str, group: str) -> Peer:
    return Peer(NAMESPACE, pod_labels(one(kind), group))


SERVE_HEAD, SERVE_GPU, SERVE_CPU = _pod("RayService", "head"), _pod("RayService", "gpu"), _pod("RayService", "cpu")
SCAN_HEAD, SCAN_GPU = _pod("RayJob", "head"), _pod("RayJob", "gpu")
NGINX = Peer("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
OPERATOR = Peer("kuberay-system", {"app.kubernetes.io/name": "kuberay-operator"})
PROMETHEUS = Peer("monitoring", {"app.kubernetes.io/name": "prometheus"})
KUBE_DNS = Peer("kube-system", {"k8s-app": "kube-dns"})
STRANGER = Peer("default", {"app": "anything"})
NEIGHBOUR = Peer(NAMESPACE, {"app": "anything"})  # another pod in the namespace, without our labels
DATABASE = Peer(ip="192.0.2.10")
GCS, DASHBOARD, SERVE, METRICS = 6379, 8265, 8000, 8080

CONNECTIONS = {
    "the ingress controller reaches the Serve proxies": (NGINX, SERVE_CPU, SERVE, True),
    "the ingress controller reaches no dashboard": (NGINX, SERVE_HEAD, DASHBOARD, False),
    "the ingress controller reaches no GCS": (NGINX, SERVE_HEAD, GCS, False),
    "the ingress controller reaches no scan": (NGINX, SCAN_HEAD, SERVE, False),
    "the operator reaches the service's dashboard": (OPERATOR, SERVE_HEAD, DASHBOARD, True),
    "the operator reaches a scan's dashboard": (OPERATOR, SCAN_HEAD, DASHBOARD, True),
    "the operator reaches no GCS": (OPERATOR, SERVE_HEAD, GCS, False),
    "Prometheus scrapes a worker": (PROMETHEUS, SERVE_GPU, METRICS, True),
    "Prometheus reaches no dashboard": (PROMETHEUS, SERVE_HEAD, DASHBOARD, False),
    "a pod elsewhere reaches no dashboard": (STRANGER, SERVE_HEAD, DASHBOARD, False),
    "a pod elsewhere reaches no GCS": (STRANGER, SERVE_HEAD, GCS, False),
    "a pod elsewhere reaches no Serve proxy": (STRANGER, SERVE_CPU, SERVE, False),
    "an unlabelled pod in the namespace reaches no GCS": (NEIGHBOUR, SERVE_HEAD, GCS, False),
    "a service worker reaches its GCS": (SERVE_GPU, SERVE_HEAD, GCS, True),
    "service workers reach each other": (SERVE_CPU, SERVE_GPU, 10_002, True),
    "a scan worker reaches its GCS": (SCAN_GPU, SCAN_HEAD, GCS, True),
    "a scan reaches no service GCS": (SCAN_GPU, SERVE_HEAD, GCS, False),
    "the service reaches no scan's GCS": (SERVE_GPU, SCAN_HEAD, GCS, False),
    "pods resolve names": (SERVE_GPU, KUBE_DNS, 53, True),
    "pods reach the database": (SCAN_GPU, DATABASE, 5432, True),
    "pods reach nothing else at the database's address": (SERVE_CPU, DATABASE, 22, False),
    "a webhook on the internet is called": (SERVE_CPU, Peer(ip="203.0.113.7"), 443, True),
    "a webhook on a private address is not": (SERVE_CPU, Peer(ip="10.1.2.3"), 443, False),
    "cloud metadata is not reached": (SERVE_CPU, Peer(ip="169.254.169.254"), 80, False),
    "public hosts are reached on https and mail submission only": (SERVE_CPU, Peer(ip="203.0.113.7"), 22, False),
}


@pytest.mark.parametrize("connection", list(CONNECTIONS))
def test_connection(connection: str) -> None:
    source, target, port, expected = CONNECTIONS[connection]
    assert connects(source, target, port) is expected


def test_the_namespace_denies_by_default() -> None:
    unselective = [p["spec"] for p in of_kind("NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert {"policyTypes": ["Ingress", "Egress"], "podSelector": {}} in unselective
    assert connects(NEIGHBOUR, NEIGHBOUR, 80) is False
    assert _allowed(SERVE_HEAD, NEIGHBOUR, GCS, "TCP", "Ingress") is False  # even if its own egress were open


def test_every_policy_selects_pods_that_exist() -> None:
    pods = [SERVE_HEAD, SERVE_GPU, SERVE_CPU, SCAN_HEAD, SCAN_GPU]
    for policy in of_kind("NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        assert any(_selects(selector, pod.labels) for pod in pods), policy["metadata"]["name"]
