"""deploy/: the values for the official Dagster Helm chart, checked offline.

- against the chart's published JSON schemas (vendored in deploy/helm/schema/, SOURCE.md), the way
  Helm applies them: to the values merged over the chart's defaults;
- against this project: the run launcher, the code location's module, the FACE_PIPELINE_* settings,
  the run-queue rule of dagster.yaml, no secret in the file, the chart version = dagster's;
- with `helm template` when a helm binary is on PATH (skipped otherwise, with the reason).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from face_pipeline.lib.settings import VARIABLES

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
VALUES_FILE = DEPLOY / "helm" / "values.yaml"
SCHEMA_DIR = DEPLOY / "helm" / "schema"
CHART_SCHEMA = SCHEMA_DIR / "values.schema.json"
SUBCHART_SCHEMA = SCHEMA_DIR / "charts" / "dagster-user-deployments" / "values.schema.json"
README = DEPLOY / "README.md"
DOCKERFILE = DEPLOY / "Dockerfile"
IMAGE = "ghcr.io/face-pipeline/face-pipeline"
PLACEHOLDER = "SET-ME"
SETTING_NAMES = {v.env_name for v in VARIABLES}
SETTING_NAME = re.compile(r"\bFACE_PIPELINE_[A-Z0-9_]*[A-Z0-9]")


def load_values() -> dict:
    return yaml.safe_load(VALUES_FILE.read_text())


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def user_deployment(values: dict) -> dict:
    deployments = values["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1, "one code location: face_pipeline"
    return deployments[0]


def env_of(deployment: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in deployment.get("env") or []}


# ---- validation as Helm does it ----------------------------------------------------------------


def offline(schema):
    """The schema without its `$ref`s to Kubernetes definitions on the web (not vendored; see
    SOURCE.md): pod-level objects are then checked for their JSON type only."""
    if isinstance(schema, dict):
        return {
            k: offline(v)
            for k, v in schema.items()
            if not (k == "$ref" and isinstance(v, str) and v.startswith(("http://", "https://")))
        }
    if isinstance(schema, list):
        return [offline(v) for v in schema]
    return schema


_REQUIRED = jsonschema.Draft202012Validator.VALIDATORS["required"]


def helm_errors(schema: dict, values: dict) -> list[str]:
    """What the schema says of `values` given with `-f`, as Helm validates: Helm merges a values file
    over the chart's defaults map by map, and the defaults hold every key the schema requires in those
    maps, so a `required` key is not demanded of a map reached from the top through maps only. Lists
    replace the defaults whole: an item of a list (a deployment, a tag limit) must be complete. Every
    other keyword (types, enums, unknown keys where the schema forbids them) applies as it is."""
    merged_maps: set[int] = set()

    def collect(node) -> None:
        if isinstance(node, dict):
            merged_maps.add(id(node))
            for child in node.values():
                collect(child)

    collect(values)

    def required(validator, names, instance, subschema):
        if id(instance) in merged_maps:
            return
        yield from _REQUIRED(validator, names, instance, subschema)

    def leaves(error):
        # an anyOf / oneOf error stands for the errors of its branches: report those
        if error.context:
            for sub in error.context:
                yield from leaves(sub)
        else:
            yield error

    validator_class = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"required": required})
    validator = validator_class(offline(schema))
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for error in validator.iter_errors(values)
        for e in leaves(error)
    )


def subchart_values(values: dict) -> dict:
    """What the dagster-user-deployments sub-chart receives: its block, and the parent's globals."""
    sub = copy.deepcopy(values["dagster-user-deployments"])
    sub["global"] = copy.deepcopy(values.get("global", {}))
    return sub


# ---- the vendored schemas ----------------------------------------------------------------------


def test_vendored_schemas_are_the_files_source_md_records():
    source = (SCHEMA_DIR / "SOURCE.md").read_text()
    for path in (CHART_SCHEMA, SUBCHART_SCHEMA):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rel = path.relative_to(SCHEMA_DIR).as_posix()
        row = next((line for line in source.splitlines() if line.startswith(f"| `{rel}` |")), None)
        assert row is not None, f"SOURCE.md has no row for {rel}"
        assert digest in row, f"{rel} is not the file SOURCE.md records (sha256 {digest})"
        assert "dagster-io/dagster" in source and "Apache" in source
        jsonschema.Draft202012Validator.check_schema(load_json(path))


# ---- values.yaml against the chart's schema ----------------------------------------------------


def test_values_validate_against_the_chart_schema():
    assert helm_errors(load_json(CHART_SCHEMA), load_values()) == []


def test_user_deployments_validate_against_the_subchart_schema():
    values = load_values()
    assert values["dagster-user-deployments"]["enableSubchart"] is True
    assert helm_errors(load_json(SUBCHART_SCHEMA), subchart_values(values)) == []


def _set(tree: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        tree = tree[key]
    if value is _DELETE:
        del tree[path[-1]]
    else:
        tree[path[-1]] = value


_DELETE = object()
QUEUE = ("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator")
K8S = ("runLauncher", "config", "k8sRunLauncher")
DEPLOYMENT = ("dagster-user-deployments", "deployments", 0)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("runLauncher", "type"), "NoSuchLauncher", "runLauncher/type"),
        ((*QUEUE, "maxConcurrentRuns"), "eight", "maxConcurrentRuns"),
        ((*QUEUE, "tagConcurrencyLimits", 0, "limit"), "one", "tagConcurrencyLimits/0/limit"),
        ((*QUEUE, "tagConcurrencyLimits", 0, "key"), _DELETE, "tagConcurrencyLimits/0"),
        ((*K8S, "resourcez"), {"requests": {"cpu": "2"}}, "k8sRunLauncher"),
        ((*DEPLOYMENT, "port"), _DELETE, "deployments/0"),
        ((*DEPLOYMENT, "image", "pullPolicy"), "Sometimes", "image/pullPolicy"),
        (("telemetry", "enabled"), "no", "telemetry/enabled"),
    ],
)
def test_the_chart_schema_rejects_broken_values(path, value, where):
    """The validation can fail: each broken copy of the values gets an error at the broken place."""
    broken = load_values()
    _set(broken, path, value)
    errors = helm_errors(load_json(CHART_SCHEMA), broken)
    assert any(where in e for e in errors), errors


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("deployments", 0, "port"), _DELETE, "deployments/0"),
        (("deployments", 0, "dagsterApiGrpcArgs"), "-m face_pipeline.definitions", "dagsterApiGrpcArgs"),
        (("deployments", 0, "image", "pullPolicy"), "Sometimes", "image/pullPolicy"),
    ],
)
def test_the_subchart_schema_rejects_broken_deployments(path, value, where):
    broken = subchart_values(load_values())
    _set(broken, path, value)
    errors = helm_errors(load_json(SUBCHART_SCHEMA), broken)
    assert any(where in e for e in errors), errors


# ---- values.yaml against the project -----------------------------------------------------------


def test_runs_are_kubernetes_jobs_sized_like_the_pipeline():
    values = load_values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    resources = launcher["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}, kind
    # One pipeline worker per CPU of the pod (os.cpu_count() in a pod sees the node's cores).
    workers = env_of(user_deployment(values))["FACE_PIPELINE_WORKERS"]
    assert int(resources["requests"]["cpu"]) == int(resources["limits"]["cpu"]) == int(workers) >= 1

    def mib(quantity: str) -> float:
        number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", quantity).groups()
        return float(number) * (1024 if unit == "Gi" else 1)

    # The request must cover the peak the ingest benchmark measured for the shipped models (the
    # pipeline column of the row "peak RSS, process tree (sum)"), so a benchmark that grows makes
    # this fail until the values follow.
    benchmarks = (REPO / "BENCHMARKS.md").read_text()
    measured = re.search(r"\| peak RSS, process tree \(sum\) \| [\d,]+ MiB \| ([\d,]+) MiB \|", benchmarks)
    assert measured, "BENCHMARKS.md has no ingest peak-memory row"
    peak_mib = float(measured.group(1).replace(",", ""))
    assert peak_mib < mib(resources["requests"]["memory"]) <= mib(resources["limits"]["memory"]), (
        f"BENCHMARKS.md measured {peak_mib:.0f} MiB for the pipeline alone; the request must be above it"
    )
    # The run pods' resources must not be overridden by the code location's (the chart copies a
    # user deployment's `resources` into the runs it launches).
    assert "resources" not in user_deployment(values)
    # Run pods run as the image's user, who owns the model files.
    uid = launcher["securityContext"]["runAsUser"]
    assert user_deployment(values)["podSecurityContext"]["runAsUser"] == uid
    assert f"USER {uid}:{uid}" in DOCKERFILE.read_text()
    # dagster-k8s, whose run launcher this is, is in the image at the libraries' version of dagster.
    lock = (REPO / "requirements.lock").read_text()
    k8s_lock = (DEPLOY / "requirements-k8s.lock").read_text()
    postgres = re.search(r"^dagster-postgres==(\S+)$", lock, re.M).group(1)
    assert re.search(rf"^dagster-k8s=={re.escape(postgres)}$", k8s_lock, re.M), (
        "dagster-k8s must be pinned at dagster-postgres's version"
    )


def test_the_code_location_is_the_projects_module():
    values = load_values()
    deployment = user_deployment(values)
    args = deployment["dagsterApiGrpcArgs"]
    assert "codeServerArgs" not in deployment
    # The arguments parse as `dagster api grpc` arguments (the chart prepends -h and -p).
    try:
        from dagster._cli.api import grpc_command  # private: read them by hand if it moves
    except ImportError:
        assert args[0] in ("-m", "--module-name") and len(args) == 2, args
        module_name = args[1]
    else:
        ctx = grpc_command.make_context("grpc", ["-h", "0.0.0.0", "-p", str(deployment["port"]), *args])
        module_name = ctx.params["module_name"]
        assert not ctx.params.get("python_file") and not ctx.params.get("package_name")
    assert module_name == "face_pipeline.definitions"
    # The same module that workspace.yaml and pyproject.toml name, and it imports.
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == module_name
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"]["module_name"] == module_name
    module = importlib.import_module(module_name)
    assert hasattr(module, "defs")
    assert values["dagster-user-deployments"]["enabled"] is True


def test_every_face_pipeline_variable_named_in_deploy_is_a_setting():
    assert SETTING_NAMES, "face_pipeline.lib.settings.VARIABLES is empty"
    named = {}
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and "schema" not in path.parts:
            for name in SETTING_NAME.findall(path.read_text()):
                named.setdefault(name, path.relative_to(REPO).as_posix())
    unknown = {name: where for name, where in named.items() if name not in SETTING_NAMES}
    assert not unknown, f"not settings of face_pipeline/lib/settings.py: {unknown}"
    env = env_of(user_deployment(load_values()))
    assert set(env) <= SETTING_NAMES
    assert {"FACE_PIPELINE_PHOTOS_ROOT", "FACE_PIPELINE_DATA_DIR", "FACE_PIPELINE_WORKERS"} <= set(env)
    for name in ("FACE_PIPELINE_PHOTOS_ROOT", "FACE_PIPELINE_DATA_DIR"):
        assert env[name].startswith("s3://"), f"{name}: the run pods share it through the object store"
    # The two settings that carry a password come from the Secret, not from values.yaml.
    assert not {"FACE_PIPELINE_DSN", "FACE_PIPELINE_DAGSTER_PG_URL"} & set(env)
    secret = user_deployment(load_values())["envSecrets"][0]["name"]
    readme = README.read_text()
    for name in ("FACE_PIPELINE_DSN", "FACE_PIPELINE_DAGSTER_PG_URL"):
        assert re.search(rf"create secret generic {secret}[^`]*--from-literal={name}=", readme), name


SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential|private.?key|access.?key|api.?key", re.I)
SECRET_TEXT = [
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@", re.I),  # user:password@ in a URL
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # an AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def secrets_in(values: dict, text: str) -> list[str]:
    """Places in a values file that hold a secret instead of naming one."""
    found = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                where = f"{path}.{key}" if path else str(key)
                if SECRET_KEY.search(str(key)):
                    names_a_secret = str(key).endswith(("SecretName", "secretName")) or key == "envSecrets"
                    if not (isinstance(child, bool) or names_a_secret):
                        found.append(where)
                walk(child, where)
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}[{i}]")
        elif isinstance(node, str) and any(p.search(node) for p in SECRET_TEXT):
            found.append(path)

    walk(values, "")
    found += [f"text: {p.pattern}" for p in SECRET_TEXT if p.search(text)]
    return found


def test_no_password_or_secret_in_values():
    assert secrets_in(load_values(), VALUES_FILE.read_text()) == []
    values = load_values()
    assert values["postgresql"]["enabled"] is False
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    secret = values["global"]["postgresqlSecretName"]
    assert re.search(
        rf"create secret generic {secret}\s*\\\s*\n\s*--from-literal=postgresql-password=", README.read_text()
    ), "README must create the Secret the chart reads the password from"


@pytest.mark.parametrize(
    "planted",
    [
        {"postgresql": {"postgresqlPassword": "hunter2"}},
        {"x": {"env": [{"name": "FACE_PIPELINE_DSN", "value": "postgresql://u:hunter2@db:5432/x"}]}},
        {"x": {"awsAccessKey": "AKIAABCDEFGHIJKLMNOP"}},
    ],
)
def test_the_secret_check_finds_planted_secrets(planted):
    assert secrets_in(planted, yaml.safe_dump(planted))


def test_run_queue_keeps_dagster_yaml_rules():
    instance = yaml.safe_load((REPO / "dagster.yaml").read_text())
    expected = [
        (limit["key"], bool((limit.get("value") or {}).get("applyLimitPerUniqueValue")), limit["limit"])
        for limit in instance["concurrency"]["runs"]["tag_concurrency_limits"]
    ]
    assert ("face_pipeline/event", True, 1) in expected
    values = load_values()
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    queue = coordinator["config"]["queuedRunCoordinator"]
    actual = [
        (limit["key"], bool((limit.get("value") or {}).get("applyLimitPerUniqueValue")), limit["limit"])
        for limit in queue["tagConcurrencyLimits"]
    ]
    assert actual == expected
    assert isinstance(queue["maxConcurrentRuns"], int) and queue["maxConcurrentRuns"] >= 1
    # Private by design, here too; and no instance-wide run limits beside the queue's.
    assert instance["telemetry"]["enabled"] is False and values["telemetry"]["enabled"] is False
    assert not (values.get("concurrency") or {}).get("enabled")


def placeholder_paths(node, path: str = "") -> list[str]:
    """Helm --set paths of the values that are still placeholders."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in placeholder_paths(v, f"{path}.{k}" if path else k)]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in placeholder_paths(v, f"{path}[{i}]")]
    return [path] if isinstance(node, str) and PLACEHOLDER in node else []


def test_readme_installs_the_chart_of_the_installed_dagster_and_sets_every_placeholder():
    readme = README.read_text()
    version = importlib.metadata.version("dagster")
    assert "helm repo add dagster https://dagster-io.github.io/helm" in readme
    install = re.search(r"helm upgrade --install \S+ dagster/dagster(?:[^\n]*\\\n)*[^\n]*\n", readme)
    assert install, "README has no `helm upgrade --install ... dagster/dagster` command"
    command = install.group(0)
    assert f"--version {version}" in command, f"the chart version must be dagster's, {version}"
    assert f"requirements.lock ({version})" in VALUES_FILE.read_text(), "values.yaml's header names another version"
    assert "-f deploy/helm/values.yaml" in command
    paths = placeholder_paths(load_values())
    assert "dagster-user-deployments.deployments[0].image.tag" in paths
    for path in paths:
        assert f"--set {path}=" in command or f'--set "{path}=' in command, f"no --set for {path}"
    assert load_values()["dagster-user-deployments"]["deployments"][0]["image"]["repository"] == IMAGE
    assert "not been rendered, installed or deployed to a cluster" in " ".join(readme.replace("**", "").split())


def test_dockerfile_installs_the_locked_project_and_its_models_at_build_time():
    text = DOCKERFILE.read_text()
    instructions = [
        line.strip()
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert instructions[0] == "FROM python:3.11-slim"
    runs = [i for i in instructions if i.startswith("RUN ")]
    lock_install = next(i for i, r in enumerate(runs) if "pip install -r requirements.lock" in r)
    project_install = next(i for i, r in enumerate(runs) if re.search(r"pip install --no-deps .*\s\.(\s|$)", r))
    models = next(i for i, r in enumerate(runs) if "face-pipeline models install" in r)
    assert lock_install < project_install < models
    assert "deploy/requirements-k8s.lock" in runs[lock_install]
    user = [i for i in instructions if i.startswith("USER ")]
    assert user and not re.match(r"USER (0|root)\b", user[-1]), "the image must not run as root"
    assert instructions.index(user[-1]) < instructions.index(runs[models]), (
        "models are installed as the runtime user (the files are owner-only)"
    )
    for line in instructions:
        if line.startswith(("CMD", "ENTRYPOINT")):
            assert "install" not in line, "nothing is downloaded when a pod starts"


# ---- helm itself, when it is here -----------------------------------------------------------------

FETCH_FAILURE = re.compile(
    r"no such host|dial tcp|connection refused|i/o timeout|network is unreachable"
    r"|failed to fetch|could not download|Get \"https?://|not a valid chart repository"
    r"|TLS handshake|no cached repo|repo .* not found",
    re.I,
)


def test_helm_template_renders_the_values():
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("no `helm` binary on PATH: the chart was not rendered (the schema checks above still ran)")
    version = importlib.metadata.version("dagster")
    local_chart = os.environ.get("DEPLOY_TEST_DAGSTER_CHART")
    chart = (
        [local_chart]
        if local_chart
        else ["dagster", "--repo", "https://dagster-io.github.io/helm", "--version", version]
    )
    cmd = [
        helm,
        "template",
        "face-pipeline",
        *chart,
        "--namespace",
        "dagster",
        "-f",
        str(VALUES_FILE),
        "--set",
        "dagster-user-deployments.deployments[0].image.tag=test",
        "--set",
        "postgresql.postgresqlHost=db.test",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and FETCH_FAILURE.search(proc.stderr):
        pytest.skip(
            f"helm could not fetch the chart or the schema's Kubernetes definitions "
            f"(offline?): {proc.stderr.strip().splitlines()[-1]}"
        )
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    images = {
        c["image"] for d in docs if d.get("kind") == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert f"{IMAGE}:test" in images
    instance = next(
        yaml.safe_load(d["data"]["dagster.yaml"])
        for d in docs
        if d.get("kind") == "ConfigMap" and "dagster.yaml" in (d.get("data") or {})
    )
    assert instance["run_launcher"]["class"] == "K8sRunLauncher"
    limits = instance["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {"key": "face_pipeline/event", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert instance["telemetry"]["enabled"] is False


def test_the_participant_page_deployment_probes_routes_that_exist():
    """deploy/participant: `face-pipeline serve` behind a Service, probed on routes the app has, with
    the same Secret as the code location and settings only by their FACE_PIPELINE_* names."""
    from starlette.routing import Route

    from face_pipeline.lib.settings import Settings
    from face_pipeline.lib.store import VectorStore
    from face_pipeline.web.app import create_app

    docs = list(yaml.safe_load_all((DEPLOY / "participant" / "participant-page.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert (
        next(d for d in docs if d["kind"] == "Service")["spec"]["selector"]
        == deployment["spec"]["selector"]["matchLabels"]
    )
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["face-pipeline", "serve"] and deployment["spec"]["replicas"] >= 2
    app = create_app(Settings.from_env({}), VectorStore("postgresql://unused@127.0.0.1:1/x"), warm=False)
    paths = {r.path for r in app.routes if isinstance(r, Route)}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez" in paths
    env = {e["name"] for e in container["env"]}
    assert env <= SETTING_NAMES and "FACE_PIPELINE_PUBLIC_URL" in env and "FACE_PIPELINE_DSN" not in env
    assert container["envFrom"][0]["secretRef"]["name"] == user_deployment(load_values())["envSecrets"][0]["name"]
