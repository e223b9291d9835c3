"""The Prometheus config, alert rules and Grafana dashboard are valid, agree, and use the metrics the service exports.

promtool (Debian's prometheus package, installed by .ci/run) checks the scrape config and the
rules, runs configs/prometheus/alerts.test.yml, and parses every dashboard query.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "configs" / "prometheus"
DASHBOARD = ROOT / "configs" / "grafana" / "surasmart.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not found (Debian's prometheus package)")

# As Ray's metrics agent exports them: `ray_` + the name given to ray.serve.metrics, counters with `_total`.
METRICS = {
    "ray_sura_photos_total": "counter",
    "ray_sura_photos_rejected_total": "counter",
    "ray_sura_faces_per_photo": "histogram",
    "ray_sura_batch_size": "histogram",
    "ray_sura_stage_seconds": "histogram",
    "ray_sura_gallery_faces": "gauge",
    "ray_sura_gallery_lag_seconds": "gauge",
    "ray_sura_matches_created_total": "counter",
    "ray_sura_reviews_total": "counter",
    "ray_sura_deliveries_total": "counter",
    "ray_sura_jobs": "gauge",
    "ray_sura_job_oldest_seconds": "gauge",
    "ray_sura_job_seconds": "histogram",
    "ray_sura_scan_photos_total": "counter",
    "ray_sura_sync_rows_total": "counter",
    "ray_sura_audit_verified": "gauge",
    "ray_sura_db_pool_in_use": "gauge",
    "ray_serve_num_http_requests_total": "counter",
    "ray_serve_num_http_error_requests_total": "counter",
    "ray_serve_http_request_latency_ms": "histogram",
}
# What series may be grouped by; never Ray's per-process labels (WorkerId, SessionName) or anything per person.
LABELS = {"le", "outcome", "reason", "deployment", "stage", "pack", "replica", "decision", "channel", "kind"}
LABELS |= {"status", "result", "status_code", "route", "error_code", "method", "application"}
ALERTS = {
    "SuraHighErrorRate",
    "SuraSlowRequests",
    "SuraJobBacklogGrowing",
    "SuraMatcherOutOfSync",
    "SuraAuditVerificationFailed",
    "SuraDeliveriesFailing",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def dashboard_queries() -> dict[str, str]:
    """Every dashboard query by ``panel id_refId``, Grafana's range variable replaced so Prometheus can parse it."""
    return {
        f"{panel['id']}_{target['refId']}": target["expr"].replace("$__rate_interval", "5m")
        for panel in dashboard_panels()
        for target in panel["targets"]
    }


@needs_promtool
def test_the_scrape_config_and_its_rules_pass_promtool() -> None:
    checked = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout


@needs_promtool
def test_the_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    checked = promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(PROMETHEUS / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    broken = (PROMETHEUS / "alerts.yml").read_text().replace("> 120", "> 120)", 1)
    assert broken != (PROMETHEUS / "alerts.yml").read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    assert promtool("check", "rules", str(tmp_path / "alerts.yml")).returncode != 0


@needs_promtool
def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    recorded = [{"record": f"dashboard_panel_{key}", "expr": expr} for key, expr in dashboard_queries().items()]
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    checked = promtool("check", "rules", str(tmp_path / "dashboard.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_prometheus_rule_carries_the_same_rules() -> None:
    rule = yaml.safe_load((ROOT / "k8s" / "prometheusrule.yaml").read_text())
    assert rule["spec"]["groups"] == yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]


def test_the_alerts_cover_the_failures_that_matter() -> None:
    assert {rule["alert"] for rule in rules()} == ALERTS
    for rule in rules():
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert {"summary", "description"} <= set(rule["annotations"])


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(ray_[a-z0-9_]+)\b", expr))


def _family(name: str) -> str:
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return base if METRICS.get(base) == "histogram" else name


def test_queries_use_only_exported_metrics_grouped_by_low_cardinality_labels() -> None:
    expressions = list(dashboard_queries().values()) + [rule["expr"] for rule in rules()]
    used = {name for expr in expressions for name in _metric_names(expr)}
    assert {_family(name) for name in used} <= set(METRICS)
    assert not {name for name in used if METRICS.get(name) == "histogram"}  # only their _bucket/_sum/_count exist
    grouped = {
        label.strip()
        for expr in expressions
        for labels in re.findall(r"by \(([^)]*)\)", expr)
        for label in labels.split(",")
    }
    assert grouped <= LABELS
    dashboard_families = {_family(name) for expr in dashboard_queries().values() for name in _metric_names(expr)}
    assert dashboard_families == set(METRICS)  # every metric has a panel


def test_the_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    [variable] = dashboard["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard_panels():
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24 and panel["targets"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_the_scrape_target_is_the_metrics_port_sura_serve_sets() -> None:
    from configs.settings import ServeSettings

    ports = [name for name in ServeSettings.model_fields if "metrics" in name]
    if not ports:
        pytest.skip("`sura serve` has no metrics port setting yet (issue 15)")
    [port] = ports
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    [[target]] = [group["targets"] for group in job["static_configs"]]
    assert target == f"127.0.0.1:{ServeSettings.model_fields[port].default}"
