"""The alerting rules and the dashboard ask for series a worker exports, by labels those series carry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service import outbox
from streams import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
ADDED = {"job", "instance", "le"}  # labels Prometheus adds when scraping, and a histogram bucket's bound


def exported() -> dict[str, set[str]]:
    """Every series name a worker or a deliverer (`monitor deliver`) exports, with the labels it carries."""
    series: dict[str, set[str]] = {}
    for m in [*vars(metrics).values(), *vars(outbox).values()]:
        if hasattr(m, "_type") and hasattr(m, "_labelnames") and m._type in SUFFIXES:
            for suffix in SUFFIXES[m._type]:
                series[m._name + suffix] = set(m._labelnames)
    return series


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every alerting rule and dashboard panel target."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    found = [(f"alerts.yml {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append((where, node["expr"]))
            for v in node.values():
                walk(v, f"monitor.json {node.get('title', where)}" if "title" in node else where)
        elif isinstance(node, list):
            for v in node:
                walk(v, where)

    walk(json.loads((DEPLOY / "grafana" / "dashboards" / "monitor.json").read_text()), "monitor.json")
    return found


def test_there_are_expressions_to_check() -> None:
    names = {n for _, e in expressions() for n in re.findall(r"\bmonitor_\w+", e)}
    assert len(expressions()) >= 10 and len(names) >= 5, expressions()


@pytest.mark.parametrize(("where", "expr"), expressions())
def test_each_expression_names_exported_series_and_their_labels(where: str, expr: str) -> None:
    series = exported()
    for name in re.findall(r"\bmonitor_\w+", expr):
        assert name in series, f"{where}: {name} is not exported (exported: {sorted(series)})"
        # the labels it groups by or matches on
        used = set()
        for grouping in re.findall(r"by \(([^)]*)\)", expr):
            used |= {x.strip() for x in grouping.split(",") if x.strip()}
        used |= set(re.findall(rf"{name}\{{([a-z_]+)\s*[=!~]", expr))
        missing = used - series[name] - ADDED
        assert not missing, f"{where}: {name} has no label {sorted(missing)} (it has {sorted(series[name])})"


def test_a_series_that_is_not_exported_is_caught() -> None:
    """What the check above relies on: a misspelt name is not among the exported ones."""
    series = exported()
    assert "monitor_events_total" in series and "monitor_event_to_alert_seconds_bucket" in series
    assert "monitor_event_total" not in series and "monitor_consumer_lag_total" not in series


def test_every_job_an_expression_selects_is_one_the_compose_prometheus_scrapes() -> None:
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"] for j in scraped["scrape_configs"]}
    selected = {(where, job) for where, e in expressions() for job in re.findall(r'job="([^"]+)"', e)}
    assert {job for _, job in selected} >= {"monitor", "monitor-delivery"}, selected
    assert not [(where, job) for where, job in selected if job not in jobs], jobs
