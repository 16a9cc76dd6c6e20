"""The deployment files start workers that the settings accept, and that probes and scrapes can reach."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.settings import StreamSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _dockerfile_env() -> dict[str, str]:
    """The MONITOR_* variables the image sets (ENV lines, continuations joined)."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(MONITOR_\w+)=(\S+)", line))
    return env


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def _k8s(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def _settings(env: dict[str, str]) -> StreamSettings:
    """The worker's settings from these variables alone, as it would read them at start."""
    return StreamSettings(**{k.removeprefix("MONITOR_").lower(): v for k, v in env.items()})


def _compose_env(svc: dict[str, Any], monitor_only: bool = False) -> dict[str, str]:
    """A compose service's environment: the image's, then its own (with `monitor_only`, its MONITOR_* part, leaving
    out the deliverer's sink URL variables; a worker's is taken whole, so a misspelt variable fails)."""
    env = {**_dockerfile_env(), **{k: str(v) for k, v in svc["environment"].items()}}
    return {k: v for k, v in env.items() if k.startswith("MONITOR_")} if monitor_only else env


def _compose_workers() -> dict[str, dict[str, str]]:
    services = _compose()["services"]
    return {
        name: _compose_env(svc)
        for name, svc in services.items()
        if svc.get("command") is None and "environment" in svc and "MONITOR_BROKER" in svc["environment"]
    }


def _k8s_env(container: dict[str, Any]) -> dict[str, str]:
    """A container's environment: the image's, the monitor-env ConfigMap's, then its own plain values."""
    env = dict(_dockerfile_env())
    env.update({k: str(v) for k, v in _k8s("configmap.yaml")[0]["data"].items()})
    env.update({e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e})
    return env


def _k8s_worker() -> tuple[dict[str, str], dict[str, Any]]:
    """The worker container's environment and the container."""
    (sts,) = _k8s("worker-statefulset.yaml")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    return _k8s_env(container), container


def test_compose_has_two_workers_with_settings_a_worker_accepts() -> None:
    workers = _compose_workers()
    assert sorted(workers) == ["worker-1", "worker-2"]
    for name, env in workers.items():
        s = _settings(env)
        assert s.broker == "kafka://kafka:19092", name


def test_compose_workers_listen_beyond_loopback_on_the_port_compose_publishes_and_prometheus_scrapes() -> None:
    services = _compose()["services"]
    scraped = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    for name, env in _compose_workers().items():
        s = _settings(env)
        # inside a container, 127.0.0.1 is the container's own loopback: published ports and scrapes miss it
        assert s.web_host == "0.0.0.0", f"{name} listens on {s.web_host}"
        published = [p.rsplit(":", 1)[1] for p in services[name]["ports"]]
        assert published == [str(s.web_port)], name
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"]), "publish on the host's loopback"
        assert f"{name}:{s.web_port}" in scraped, name


def test_compose_workers_each_have_their_own_data_volume_and_group_member_id() -> None:
    services = _compose()["services"]
    workers = _compose_workers()
    volumes = {name: [v for v in services[name]["volumes"] if v.endswith(":/var/lib/monitor")] for name in workers}
    assert all(len(v) == 1 for v in volumes.values()) and len({v[0] for v in volumes.values()}) == len(workers)
    ids = [_settings(env).instance_id for env in workers.values()]
    assert None not in ids and len(set(ids)) == len(ids), f"static membership ids: {ids}"


def test_k8s_worker_settings_are_accepted_and_its_probes_reach_it() -> None:
    env, container = _k8s_worker()
    s = _settings(env)
    assert s.web_host == "0.0.0.0", f"the kubelet probes the pod's address; the worker listens on {s.web_host}"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == s.web_port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    (sts,) = _k8s("worker-statefulset.yaml")
    assert sts["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(s.web_port)


def test_k8s_workers_take_their_pod_name_as_group_member_id() -> None:
    _, container = _k8s_worker()
    from_field = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
    assert from_field.get("MONITOR_INSTANCE_ID") == "metadata.name"
    # a StatefulSet's pod names (monitor-worker-0, ...) are ids the settings accept
    (sts,) = _k8s("worker-statefulset.yaml")
    assert _settings({"MONITOR_INSTANCE_ID": f"{sts['metadata']['name']}-0"}).instance_id == "monitor-worker-0"


@pytest.mark.parametrize("bad", [{"MONITOR_WEB_HOST": "0.0.0.0", "MONITOR_PARTITONS": "8"}])
def test_a_misspelt_setting_in_a_manifest_is_refused(bad: dict[str, str]) -> None:
    """What the tests above rely on: a variable the settings do not know fails, rather than being ignored."""
    with pytest.raises(ValueError, match="partitons"):
        _settings(bad)


def test_the_image_holds_every_package_the_monitor_command_is_built_from() -> None:
    """`monitor deliver` and `monitor directory import` need service/: an image without it fails at their import."""
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {p.rstrip("*") for p in found["include"]}
    assert {"schemas", "monitor", "streams", "service"} <= packages
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE))
    sent = {line[1:] for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if line.startswith("!")}
    assert packages - copied == set(), "the Dockerfile does not COPY these packages"
    assert packages - sent == set(), "Dockerfile.dockerignore keeps these packages out of the build context"


def _deliver_args(argv: list[str]) -> Any:
    """The deliverer's command line as `monitor` parses it (an unknown flag fails here as it would at start)."""
    from monitor.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.func.__name__ == "cmd_deliver", argv
    return args


def _mounted(volumes: list[str], path: str) -> Path:
    """The file under DEPLOY that a compose bind mount shows the container at `path`."""
    for v in volumes:
        host, inside = v.split(":")[:2]
        if host.startswith("./") and path.startswith(inside.rstrip("/") + "/"):
            return DEPLOY / host / path.removeprefix(inside.rstrip("/") + "/")
    raise AssertionError(f"nothing is mounted at {path}: {volumes}")


def _assert_every_sink_has_its_url_variable(sinks_file: Path, given: set[str]) -> None:
    from service.sinks import load_sinks

    sinks = load_sinks(sinks_file)
    assert sinks, f"{sinks_file}: no sinks"
    missing = {k.url_env for k in sinks} - given
    assert not missing, f"{sinks_file} names {sorted(missing)}, which the deliverer's environment does not pass"


def test_compose_deliverer_has_its_sinks_their_url_variables_and_its_own_outbox_volume() -> None:
    services = _compose()["services"]
    svc = services["deliver"]
    s = _settings(_compose_env(svc, monitor_only=True))
    args = _deliver_args(svc["command"])
    _assert_every_sink_has_its_url_variable(_mounted(svc["volumes"], args.sinks), set(svc["environment"]))
    # the outbox lives on a volume of its own, not shared with a worker's snapshots
    outbox = [v for v in svc["volumes"] if v.endswith(f":{s.data_dir}")]
    worker_volumes = {v for name in _compose_workers() for v in services[name]["volumes"]}
    assert len(outbox) == 1 and outbox[0] not in worker_volumes and outbox[0].split(":")[0] in _compose()["volumes"]


def test_compose_deliverer_listens_beyond_loopback_where_compose_publishes_probes_and_prometheus_scrapes() -> None:
    svc = _compose()["services"]["deliver"]
    assert _settings(_compose_env(svc, monitor_only=True)).web_host == "0.0.0.0"
    port = _deliver_args(svc["command"]).metrics_port
    assert port is not None, "without --metrics-port nothing can see its backlog"
    assert svc["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(svc["healthcheck"]["test"])
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
    assert jobs["monitor-delivery"]["static_configs"][0]["targets"] == [f"deliver:{port}"]


def test_k8s_deliverer_has_its_sinks_their_url_secret_a_volume_and_a_probe_on_its_metrics(tmp_path: Path) -> None:
    claim, deployment = _k8s("deliver-deployment.yaml")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", "one pod on the outbox volume at a time"
    (container,) = spec["template"]["spec"]["containers"]
    env = _k8s_env(container)
    s = _settings(env)
    args = _deliver_args(container["args"])
    # sinks.yaml comes from the monitor-files ConfigMap mounted at /etc/monitor; the URLs from a Secret
    files = _k8s("configmap.yaml")[1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    (files_volume,) = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == files["metadata"]["name"]]
    assert args.sinks == f"{mounts[files_volume]}/sinks.yaml"
    secrets = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
    assert secrets == ["monitor-sink-urls"]
    # the Secret is the operator's: every url_env must be a key of it, which only the docs can say; check the
    # file names variables, none of them set in plain text in the manifests
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(files["data"]["sinks.yaml"])
    _assert_every_sink_has_its_url_variable(sinks_file, {"SECURITY_WEBHOOK_URL"})
    assert not {"SECURITY_WEBHOOK_URL"} & set(env), "a sink URL in a ConfigMap or the manifest"
    # the outbox on the claim, at MONITOR_DATA_DIR
    (data,) = [n for n, v in volumes.items() if "persistentVolumeClaim" in v]
    assert volumes[data]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert mounts[data] == str(s.data_dir)
    # probed and scraped where it serves /metrics, on the pod's address
    assert s.web_host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == args.metrics_port
    assert container["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert spec["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(args.metrics_port)
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert "deliver-deployment.yaml" in kustomization["resources"]


def test_prometheus_warns_when_no_deliverer_is_up_under_the_job_name_it_scrapes() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    jobs = {
        j["job_name"] for j in yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    }
    (job,) = re.findall(r'up\{job="([^"]+)"\}', exprs["MonitorDeliveryDown"])
    assert job in jobs
