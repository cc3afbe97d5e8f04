"""The deployment artifacts a platform team applies (issue 11), checked offline.

deploy/production/kubernetes/ is validated by kubernetes-validate against pinned Kubernetes
versions, deploy/production/prometheus/ by promtool (check and unit tests of the alerts), and
everything that names something of the worker's — a metric, a label value, a setting, a route, a
port, a user — is checked against the worker's own definitions: a renamed metric or setting fails
here instead of leaving an alert that never fires or a pod that never starts. No broker or
database is needed; the tools are: `make test` installs both (kubernetes-validate from the dev
extra, promtool built into .tools/ by the Makefile), so a missing tool fails these tests rather
than skipping them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from prometheus_client.metrics import MetricWrapperBase

from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.streams.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "production" / "kubernetes"
PROMETHEUS = ROOT / "deploy" / "production" / "prometheus"
CONTAINER = ROOT / "deploy" / "production" / "container"
DASHBOARD = ROOT / "deploy" / "production" / "grafana" / "vanphong.json"
RUNBOOK = ROOT / "docs" / "operations.md"

#: The oldest Kubernetes the manifests promise (PodDisruptionBudget's
#: unhealthyPodEvictionPolicy is GA from 1.31) and the newest the pinned kubernetes-validate
#: knows, so that an API removed in between shows too.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
#: Where the Makefile's `tools` target links the promtool it built (PROMTOOL overrides it).
PROMTOOL = Path(os.environ.get("PROMTOOL", ROOT / ".tools" / "bin" / "promtool"))
SECRETS_DIR = "/etc/vanphong/secrets"
#: Labels a scrape adds to every series (target labels).
TARGET_LABELS = {"instance", "job"}
#: Labels whose values the worker fixes in advance (streams/metrics.py): a rule that filters on
#: another value never matches anything.
FIXED_VALUE_LABELS = {"kind", "outcome", "reason"}
#: Series that are not the worker's but every Prometheus has.
PROMETHEUS_SERIES = {"up"}


# --- what the worker defines ---


def _worker_series() -> dict[str, tuple[set[str], dict[str, set[str]]]]:
    """Every series name ``/metrics`` can show → (its label names, the values of its fixed
    labels), from streams/metrics.py's definitions."""
    metrics = Metrics([f"vanphong.{e.topic}" for e in EVENT_TYPES])
    series: dict[str, tuple[set[str], dict[str, set[str]]]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = set(collector._labelnames)  # no public accessor; stable since 2015
        values: dict[str, set[str]] = {}
        for family in collector.collect():
            for sample in family.samples:
                for label, value in sample.labels.items():
                    values.setdefault(label, set()).add(value)
            suffixes = {
                "counter": ["_total"],
                "histogram": ["_bucket", "_sum", "_count"],
            }.get(family.type, [""])
            for suffix in suffixes:
                extra = {"le"} if suffix == "_bucket" else set()
                series[family.name + suffix] = (labels | extra, values)
    return series


def _setting_names() -> set[str]:
    return {f"VANPHONG_{name.upper()}" for name in Settings.model_fields}


def test_the_worker_series_are_read_from_its_definitions() -> None:
    """The reference the other checks use is not empty or misread."""
    series = _worker_series()
    assert {"vanphong_lag", "vanphong_dead_letters_total", "vanphong_commit_seconds_bucket"} <= set(
        series
    )
    assert series["vanphong_lag"][0] == {"topic", "partition"}
    assert "bisect" in series["vanphong_write_retries_total"][1]["kind"]


# --- PromQL, as the alerts and the dashboard write it ---

_SELECTOR = re.compile(r"(?<![\w:$])(vanphong[a-zA-Z0-9_:]*|up)\b\s*(\{[^}]*\})?")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")


def _promql_problems(expr: str, series: dict[str, Any], recorded: set[str]) -> list[str]:
    """What in ``expr`` names something the worker does not export: a series, a label, a
    fixed label's value; a grouping label that no series it reads carries. ``recorded``: the
    series recording rules make (their labels are not checked)."""
    problems: list[str] = []
    # Strings blanked (same length), so that a label value is never read as a name.
    blank = re.sub(r'"[^"]*"', lambda m: '"' + " " * (len(m.group()) - 2) + '"', expr)
    every_label = set().union(*(labels for labels, _ in series.values()))
    labels_seen = set(TARGET_LABELS)
    for match in _SELECTOR.finditer(blank):
        name, braces = match.group(1), expr[match.start(2) : match.end(2)] if match.group(2) else ""
        values: dict[str, set[str]] = {}
        if name in PROMETHEUS_SERIES:
            labels: set[str] = set()
        elif name in recorded:
            labels = every_label
        elif name in series:
            labels, values = series[name]
        else:
            problems.append(f"{name} is not a series the worker exports")
            continue
        labels_seen |= labels
        for label, op, value in _MATCHER.findall(braces):
            fixed = values.get(label) if label in FIXED_VALUE_LABELS else None
            if label not in labels | TARGET_LABELS:
                problems.append(f"{name} has no label {label}")
            elif op == "=" and fixed is not None and value not in fixed:
                problems.append(f"{name}{{{label}}} is never {value!r}: {sorted(fixed)}")
    for group in _GROUPING.findall(blank):
        for label in (g.strip() for g in group.split(",") if g.strip()):
            if label not in labels_seen | {"le"}:
                problems.append(f"no series of {expr!r} has the label {label} it groups by")
    return problems


def test_the_promql_check_finds_what_it_is_for() -> None:
    """The name check itself fails on a misspelt series, label, label value and grouping."""
    series = _worker_series()
    good = 'sum by (topic) (rate(vanphong_events_total{outcome="applied", job="vanphong-x"}[5m]))'
    assert _promql_problems(good, series, set()) == []
    assert _promql_problems("rate(vanphong_events_consumed[5m])", series, set())
    assert _promql_problems('vanphong_lag{topik="x"}', series, set())
    assert _promql_problems('vanphong_write_retries_total{kind="faults"}', series, set())
    assert _promql_problems("sum by (reason) (vanphong_lag)", series, set())


# --- Prometheus rules ---


def _promtool() -> Path:
    if not (PROMTOOL.is_file() and os.access(PROMTOOL, os.X_OK)):
        pytest.fail(
            f"promtool is missing at {PROMTOOL}: `make tools` builds it from the Go module"
            " github.com/prometheus/prometheus (or set PROMTOOL to one)"
        )
    return PROMTOOL


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, check=False
    )


def _rules() -> Iterator[dict[str, Any]]:
    for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]:
        yield from group["rules"]


def test_promtool_accepts_the_alert_rules() -> None:
    result = _run(_promtool(), "check", "rules", PROMETHEUS / "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_fire_when_their_unit_tests_say() -> None:
    result = _run(_promtool(), "test", "rules", PROMETHEUS / "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_example_scrape_configuration() -> None:
    result = _run(_promtool(), "check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_cover_what_issue_11_asks_for() -> None:
    """Lag growing, a stalled partition, dead letters, a worker down or unready, a batch
    failing repeatedly; each has a severity and a runbook, and each is unit-tested."""
    alerts = {r["alert"]: r for r in _rules() if "alert" in r}
    for name in (
        "VanphongLagGrowing",
        "VanphongPartitionStalled",
        "VanphongDeadLetters",
        "VanphongWorkerDown",
        "VanphongNoWorker",
        "VanphongWorkerUnready",
        "VanphongBatchFailing",
        "VanphongBatchRetrying",
    ):
        assert name in alerts, name
    tested = {
        case["alertname"]
        for test in yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), name
        assert name in tested, f"{name} is never shown firing in alerts_test.yml"


def test_every_series_an_alert_reads_is_one_the_worker_exports() -> None:
    series = _worker_series()
    rules = list(_rules())
    recorded = {r["record"] for r in rules if "record" in r}
    problems = [p for r in rules for p in _promql_problems(r["expr"], series, recorded)]
    assert problems == []


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = unicodedata.normalize("NFC", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_every_runbook_link_of_an_alert_names_a_section_of_the_runbook() -> None:
    anchors = {
        _slug(line.lstrip("#"))
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    for rule in _rules():
        if "alert" in rule:
            page, _, anchor = rule["annotations"]["runbook"].partition("#")
            assert page == "docs/operations.md" and anchor in anchors, (rule["alert"], anchor)


# --- the Grafana dashboard ---


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _dashboard_queries() -> list[str]:
    return [
        target["expr"]
        for panel in _panels(_dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def test_the_dashboard_is_a_grafana_model_with_its_data_source_as_a_variable() -> None:
    board = _dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] and board["title"]
    assert board["id"] is None  # importable into any Grafana
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    source = {"type": "prometheus", "uid": "${datasource}"}
    ids = [p["id"] for p in _panels(board["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels(board["panels"]):
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24 and box["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == source, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(t["datasource"] == source and t["expr"] for t in panel["targets"])
    titles = " ".join(p["title"].lower() for p in _panels(board["panels"]))
    for shown in ("lag per topic", "events/s", "dead letters by reason", "commit time", "ready"):
        assert shown in titles, shown


def test_every_series_the_dashboard_reads_is_one_the_worker_exports() -> None:
    series = _worker_series()
    variables = [v.get("definition", "") for v in _dashboard()["templating"]["list"]]
    queries = _dashboard_queries() + variables
    problems = [p for query in queries for p in _promql_problems(query, series, set())]
    assert problems == []


def test_promtool_parses_every_query_of_the_dashboard(tmp_path: Path) -> None:
    """Each panel's query, with Grafana's variables filled in, as a recording rule."""
    rules = [
        {
            "record": f"dashboard:query_{n}",
            "expr": q.replace("$__rate_interval", "5m").replace("$instance", ".*"),
        }
        for n, q in enumerate(_dashboard_queries())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = _run(_promtool(), "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Kubernetes manifests ---


def _manifests() -> dict[str, list[dict[str, Any]]]:
    """Every manifest file of deploy/production/kubernetes/ → its objects (kustomization.yaml is
    not one)."""
    return {
        path.name: [d for d in yaml.safe_load_all(path.read_text()) if d]
        for path in sorted(KUBERNETES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for objs in _manifests().values() for o in objs}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_the_pinned_kubernetes(version: str) -> None:
    """Strict: an unknown field (a misspelt probe) fails, and so does an unknown kind or API
    version, which the kubernetes-validate command only warns about."""
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is missing: `make venv` installs it (the dev extra)")
    failures = []
    for name, objects in _manifests().items():
        assert objects, f"{name} holds no object"
        for obj in objects:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except (
                kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError,
            ) as error:
                failures.append(f"{name}: {obj['kind']}: {getattr(error, 'message', error)}")
    assert failures == []


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(_manifests())


def test_the_kubernetes_objects_issue_11_asks_for_are_there() -> None:
    kinds = {kind for kind, _ in _objects()}
    assert {
        "Deployment",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
        "Job",
        "Service",
    } <= kinds


def _pod_specs() -> dict[str, dict[str, Any]]:
    objects = _objects()
    return {
        "worker": objects["Deployment", "vanphong-worker"]["spec"]["template"]["spec"],
        "init": objects["Job", "vanphong-init"]["spec"]["template"]["spec"],
    }


def _configmap() -> dict[str, str]:
    data: dict[str, str] = _objects()["ConfigMap", "vanphong-settings"]["data"]
    return data


def test_every_vanphong_variable_the_deployment_names_is_a_setting() -> None:
    """In the ConfigMap, the containers' env, the Containerfile, and the files' comments."""
    settings = _setting_names()
    named = set(_configmap())
    for spec in _pod_specs().values():
        for container in spec["containers"]:
            named |= {e["name"] for e in container.get("env", [])}
    for path in [*KUBERNETES.glob("*.yaml"), CONTAINER / "Containerfile"]:
        named |= set(re.findall(r"\bVANPHONG_[A-Z0-9_]+", path.read_text()))
    assert named - settings == set()
    assert {
        "VANPHONG_KAFKA_SECURITY_PROTOCOL",
        "VANPHONG_KAFKA_SASL_MECHANISM",
        "VANPHONG_KAFKA_SASL_USERNAME",
        "VANPHONG_KAFKA_SASL_PASSWORD_FILE",
        "VANPHONG_KAFKA_SSL_CAFILE",
        "VANPHONG_KAFKA_SSL_CERTFILE",
        "VANPHONG_KAFKA_SSL_KEYFILE",
    } <= set(_configmap())


def test_the_settings_in_the_configmap_are_valid_values(tmp_path: Path) -> None:
    """The ConfigMap, read as the worker reads it: the secret files it names stand in
    ``tmp_path``, the database URL is left at its default."""
    for key in ("kafka-sasl-password", "kafka-ca.crt", "kafka-client.crt", "kafka-client.key"):
        (tmp_path / key).write_text("stand-in\n")
    values = {
        name.removeprefix("VANPHONG_").lower(): value.replace(SECRETS_DIR, str(tmp_path))
        for name, value in _configmap().items()
    }
    settings = Settings(**values)
    assert settings.web_host == "0.0.0.0" and settings.log_format == "json"


def test_every_secret_file_a_setting_names_is_mounted_in_every_pod() -> None:
    """A path under the secrets' mount in the ConfigMap or in the database URL is a key the
    Secret has and that each pod's volume projects; the worker never sees the administrator's
    password."""
    objects = _objects()
    secret = objects["Secret", "vanphong-secrets"]
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    wanted = {v for v in _configmap().values() if v.startswith(SECRETS_DIR + "/")}
    in_url = re.escape(SECRETS_DIR) + r"/[\w.-]+"
    wanted |= set(re.findall(in_url, secret["stringData"]["database-url"]))
    for pod, spec in _pod_specs().items():
        volumes = {v["name"]: v for v in spec["volumes"]}
        container = spec["containers"][0]
        mounted: set[str] = set()
        for mount in container["volumeMounts"]:
            source = volumes[mount["name"]].get("secret")
            if source is not None:
                assert mount["mountPath"] == SECRETS_DIR and mount.get("readOnly"), pod
                assert source["secretName"] == "vanphong-secrets", pod
                assert {item["key"] for item in source["items"]} <= keys, pod
                mounted |= {f"{SECRETS_DIR}/{item['path']}" for item in source["items"]}
        assert wanted <= mounted, (pod, wanted - mounted)
        refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
        assert all(r["name"] == "vanphong-secrets" and r["key"] in keys for r in refs), pod
    worker_volume = next(v for v in _pod_specs()["worker"]["volumes"] if "secret" in v)
    assert "kafka-admin-sasl-password" not in {i["key"] for i in worker_volume["secret"]["items"]}


def test_the_probes_use_the_worker_routes_on_its_web_port() -> None:
    from vanphong.streams.web import make_application

    routes = {
        route.resource.canonical
        for route in make_application(None).router.routes()  # type: ignore[arg-type]  # unused
        if route.method == "GET" and route.resource is not None
    }
    worker = _pod_specs()["worker"]["containers"][0]
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = worker[probe]["httpGet"]
        assert get["path"] in routes, probe
        assert ports[get["port"]] == int(_configmap()["VANPHONG_WEB_PORT"]), probe
    service = _objects()["Service", "vanphong-worker-metrics"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    assert "/metrics" in routes


def test_the_service_and_the_disruption_budget_select_the_workers() -> None:
    objects = _objects()
    pod_labels = objects["Deployment", "vanphong-worker"]["spec"]["template"]["metadata"]["labels"]
    selectors = [
        objects["Deployment", "vanphong-worker"]["spec"]["selector"]["matchLabels"],
        objects["PodDisruptionBudget", "vanphong-worker"]["spec"]["selector"]["matchLabels"],
        objects["Service", "vanphong-worker-metrics"]["spec"]["selector"],
    ]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()


def test_every_container_runs_unprivileged_on_a_read_only_root() -> None:
    """Non-root (the image's user), no privilege escalation, no capabilities, a read-only
    root file system with the only paths vanphong writes (faust's data directory, /tmp) on
    emptyDir volumes; resources bounded; no Kubernetes API token."""
    stack_dir = _configmap()["VANPHONG_STACK_DIR"]
    image_user = re.search(r"^USER (\d+)", (CONTAINER / "Containerfile").read_text(), re.M)
    assert image_user is not None
    for pod, spec in _pod_specs().items():
        assert spec["securityContext"]["runAsNonRoot"] is True, pod
        assert spec["securityContext"]["runAsUser"] == int(image_user.group(1)), pod
        assert spec["automountServiceAccountToken"] is False, pod
        scratch = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, pod
            assert context["allowPrivilegeEscalation"] is False, pod
            assert context["capabilities"]["drop"] == ["ALL"], pod
            assert "add" not in context["capabilities"], pod
            writable = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in scratch}
            assert {stack_dir, "/tmp"} <= writable, pod
            assert {"requests", "limits"} <= set(container["resources"]), pod
            assert "memory" in container["resources"]["limits"], pod


# --- the container build file ---


def test_the_container_image_is_pinned_and_runs_as_a_user() -> None:
    text = (CONTAINER / "Containerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1)), base.group(1)
    assert re.search(r"^USER [1-9]\d*:[1-9]\d*$", text, re.M)
    assert "-r /src/constraints.txt" in text and "--only-binary=:all:" in text


def test_every_dependency_is_pinned_for_the_image_within_its_range() -> None:
    """constraints.txt pins exact versions, and each of pyproject.toml's dependencies is pinned
    there to a version its range allows (the image installs nothing else)."""
    pins: dict[str, str] = {}
    for line in (CONTAINER / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version and not re.search(r"[<>=!~;@ ]", version), line
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), (dependency, pins[name])
        for extra in requirement.extras:  # psycopg[binary] → psycopg-binary
            assert canonicalize_name(f"{requirement.name}-{extra}") in pins, dependency
