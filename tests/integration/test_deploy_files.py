"""The deployment material in deploy/ and the Dockerfile: valid against the real
schemas (the Compose Specification, Kubernetes), and consistent with what the
service and its image actually do. Offline: nothing here needs Docker, a
cluster or the network."""

from __future__ import annotations

import copy
import http.server
import json
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from service.app import create_app
from service.settings import Settings
from tests.keys import SECRET_KEY, SECRET_KEY_TEXT

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE_SCHEMA = ROOT / "tests" / "schemas" / "compose-spec.json"

# The newest Kubernetes whose schemas kubernetes-validate bundles, and one four
# releases older: clusters, managed ones above all, lag behind releases.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")

# What Compose would read from deploy/.env.
COMPOSE_ENV = {
    "POSTGRES_PASSWORD": "pg-password-for-the-test",
    "ADMIN_TOKEN": "admin-token-for-the-test",
    "SECRET_KEY": SECRET_KEY_TEXT,
}
SECRET_VARIABLES = ("POSTGRES_PASSWORD", "ADMIN_TOKEN", "SECRET_KEY")


# --- reading the files -------------------------------------------------------


def yaml_documents(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def kubernetes_files(*, recursive: bool) -> list[Path]:
    pattern = "**/*.yaml" if recursive else "*.yaml"
    return sorted(KUBERNETES.glob(pattern))


def kubernetes_objects(*, recursive: bool = False) -> list[dict]:
    """What `kubectl apply -f deploy/kubernetes/` applies (or, recursive, every example too)."""
    return [doc for path in kubernetes_files(recursive=recursive) for doc in yaml_documents(path)]


def the(kind: str, objects: list[dict] | None = None) -> dict:
    found = [o for o in (objects or kubernetes_objects()) if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(pod_owner: dict) -> dict:
    containers = pod_owner["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def literal_env(c: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_]))")


class MissingVariable(ValueError):
    pass


def interpolate(value, env: dict[str, str]):
    """Compose's variable interpolation, for the forms deploy/compose.yaml may use."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        dollar, name, op, arg, bare = match.groups()
        if dollar:
            return "$"
        if bare:
            raise ValueError(f"write ${{{bare}...}} with braces in {value!r}")
        current = env.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if op is None:
            return current or ""
        if op.endswith("-"):
            return arg if missing else current
        if missing:
            raise MissingVariable(f"{name}: {arg}")
        return current

    return _VARIABLE.sub(substitute, value)


def compose_raw() -> dict:
    return yaml_documents(DEPLOY / "compose.yaml")[0]


def compose(env: dict[str, str] = COMPOSE_ENV) -> dict:
    return interpolate(compose_raw(), env)


def compose_settings(service: dict) -> Settings:
    return Settings.from_env(service["environment"])


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", duration)
    assert match and duration, f"unsupported duration {duration!r}"
    return int(match.group(1) or 0) * 60 + float(match.group(2) or 0)


def longest_stop(settings: Settings) -> float:
    """From SIGTERM to exit at worst: the readiness drain, requests in flight, then
    the scheduler's connector calls (service/__main__.py, service/execution/scheduler.py)."""
    return (
        settings.shutdown_drain_seconds
        + settings.shutdown_timeout_seconds
        + min(settings.shutdown_timeout_seconds, settings.connector_timeout_seconds)
    )


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the runtime stage, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = [tuple(line.split(None, 1)) for line in joined.splitlines() if line.strip()]
    stages = [i for i, (op, _) in enumerate(instructions) if op.upper() == "FROM"]
    return [(op.upper(), args) for op, args in instructions[stages[-1] :]]


def dockerfile(op: str) -> str:
    found = [args for name, args in dockerfile_instructions() if name == op]
    assert found, f"the runtime stage has no {op}"
    return found[-1]


def image_user() -> tuple[int, int]:
    uid, _, gid = dockerfile("USER").partition(":")
    return int(uid), int(gid)


def healthcheck_command() -> list[str]:
    args = dockerfile("HEALTHCHECK")
    return json.loads(args[args.index("CMD") + len("CMD") :])


def app_get_paths() -> set[str]:
    app = create_app(Settings(secret_key=SECRET_KEY), dsn="postgresql://nowhere/unused")  # builds routes, no I/O
    return {r.resource.canonical for r in app.router.routes() if r.method == "GET" and r.resource}


# --- the schemas themselves ----------------------------------------------------


def compose_validator() -> jsonschema.Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification"
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_the_compose_file_follows_the_compose_specification():
    compose_validator().validate(compose())


def test_the_compose_schema_refuses_what_compose_would_refuse():
    # Without this, a schema that accepts anything would pass the test above.
    validator = compose_validator()
    misspelt = compose()
    misspelt["services"]["api"]["depends_om"] = misspelt["services"]["api"].pop("depends_on")
    misspelt_deploy = compose()
    misspelt_deploy["services"]["api"]["deploy"] = {"replica": 2}
    bad_condition = compose()
    bad_condition["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"
    for broken in (misspelt, misspelt_deploy, bad_condition):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_kubernetes_manifests_follow_the_kubernetes_schemas(version):
    assert version in all_versions(), f"kubernetes-validate no longer ships {version}: update KUBERNETES_VERSIONS"
    objects = kubernetes_objects(recursive=True)
    assert {o["kind"] for o in objects} >= {"Deployment", "Service", "Job", "Secret"}
    for obj in objects:
        # strict: an unknown field (a typo) is an error, not silently dropped.
        kubernetes_validate.validate(obj, version, strict=True)


def test_strict_kubernetes_validation_catches_a_misspelt_field():
    deployment = copy.deepcopy(the("Deployment"))
    c = container(deployment)
    c["readynessProbe"] = c.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


# --- Compose: what an operator would notice ---------------------------------------


def test_compose_runs_the_migrations_once_before_two_api_replicas():
    services = compose()["services"]
    migrate, api = services["migrate"], services["api"]
    assert migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart", "no") == "no"  # one-shot: a restart loop would hide a failure
    assert api["command"] == ["serve"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["deploy"]["replicas"] == 2
    assert compose_settings(api).migrate_on_start is False
    # Both are the repository's image, its ENTRYPOINT kept (tini as PID 1).
    for service in (migrate, api):
        assert (DEPLOY / service["build"]).resolve() == ROOT
        assert service["image"] == api["image"]
        assert "entrypoint" not in service
        assert service["init"] is True


def test_compose_keeps_secrets_out_of_the_file():
    raw = compose_raw()
    for name in SECRET_VARIABLES:
        env = {k: v for k, v in COMPOSE_ENV.items() if k != name}
        with pytest.raises(MissingVariable, match=name):
            compose(env)
        with pytest.raises(MissingVariable, match=name):
            compose({**env, name: ""})  # example.env copied without filling it in
    for service in raw["services"].values():
        environment = service.get("environment", {})
        for key in ("ADMIN_TOKEN", "PGPASSWORD", "POSTGRES_PASSWORD", "SECRET_KEY"):
            if key in environment:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", environment[key]), f"{key} is not a required variable"
    example = (DEPLOY / "example.env").read_text(encoding="utf-8")
    for name in SECRET_VARIABLES:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), f"example.env should leave {name} empty"
    assert "deploy/.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_compose_api_reaches_the_postgres_service_with_its_credentials():
    services = compose()["services"]
    postgres, api = services["postgres"], services["api"]
    url = urlsplit(compose_settings(api).database_url)
    assert url.hostname == "postgres"
    assert url.username == postgres["environment"]["POSTGRES_USER"]
    assert url.path.lstrip("/") == postgres["environment"]["POSTGRES_DB"]
    password = url.password or api["environment"].get("PGPASSWORD")
    assert password == postgres["environment"]["POSTGRES_PASSWORD"] == COMPOSE_ENV["POSTGRES_PASSWORD"]
    assert services["migrate"]["environment"]["DATABASE_URL"] == api["environment"]["DATABASE_URL"]
    # The migration seals with the replicas' key: one key for the whole deployment.
    assert services["migrate"]["environment"]["SECRET_KEY"] == api["environment"]["SECRET_KEY"] == SECRET_KEY_TEXT


def test_compose_postgres_is_18_with_a_named_volume_and_a_tcp_healthcheck():
    document = compose()
    postgres = document["services"]["postgres"]
    assert postgres["image"].startswith("postgres:18")
    # postgres:18 keeps its data under /var/lib/postgresql/18/docker; a volume on
    # the old .../data path would leave the data in an anonymous volume.
    (volume,) = postgres["volumes"]
    source, target = volume.split(":")[:2]
    assert target == "/var/lib/postgresql"
    assert source in document["volumes"]
    test = postgres["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    # During first start the image runs a socket-only temporary server.
    assert "-h" in test and test[test.index("-h") + 1] in ("127.0.0.1", "localhost")


def test_compose_gives_the_api_time_to_stop():
    api = compose()["services"]["api"]
    assert seconds(api["stop_grace_period"]) >= longest_stop(compose_settings(api)) + 2


def haproxy_sections(conf: str) -> dict[str, list[str]]:
    """'backend api' -> its lines, comments dropped."""
    sections: dict[str, list[str]] = {}
    current = None
    for raw in conf.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line[0].isspace():
            current = sections.setdefault(line.strip(), [])
        elif current is not None:
            current.append(line.strip())
    return sections


def haproxy_seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert match, f"unsupported HAProxy time {value!r}"
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 0.001}[match.group(2)]


def test_haproxy_spreads_requests_over_the_replicas_and_honours_their_drain():
    services = compose()["services"]
    proxy, api = services["proxy"], services["api"]
    mounts = dict(reversed(v.split(":")[:2]) for v in proxy["volumes"])
    conf = (DEPLOY / mounts["/usr/local/etc/haproxy/haproxy.cfg"]).read_text(encoding="utf-8")
    sections = haproxy_sections(conf)
    settings = compose_settings(api)

    (frontend,) = [lines for name, lines in sections.items() if name.startswith("frontend ")]
    (bind,) = [line.split()[1] for line in frontend if line.startswith("bind ")]
    (published,) = proxy["ports"]
    assert published.rsplit(":", 1)[1] == bind.rsplit(":", 1)[1]
    (backend_name,) = [line.split()[1] for line in frontend if line.startswith("default_backend ")]
    backend = sections[f"backend {backend_name}"]

    servers = [line.split() for line in backend if line.startswith(("server ", "server-template "))]
    assert servers, "the backend has no server"
    for words in servers:
        host, _, port = words[3 if words[0] == "server-template" else 2].partition(":")
        assert host == "api" and int(port) == settings.port
        if words[0] == "server-template":
            assert int(words[2]) >= api["deploy"]["replicas"]

    # Health checks ask readiness, so a replica that got SIGTERM leaves the
    # rotation while it still serves: before SHUTDOWN_DRAIN_SECONDS run out.
    assert "option httpchk" in backend
    (send,) = [line.split() for line in backend if line.startswith("http-check send ")]
    assert send[send.index("uri") + 1] == "/health/ready" in app_get_paths()
    (defaults,) = [line.split() for line in backend if line.startswith("default-server ")]
    assert "check" in defaults
    inter = haproxy_seconds(defaults[defaults.index("inter") + 1])
    fall = int(defaults[defaults.index("fall") + 1])
    assert inter * fall + 1 <= settings.shutdown_drain_seconds
    if "resolvers" in defaults:
        resolvers = sections[f"resolvers {defaults[defaults.index('resolvers') + 1]}"]
        # Docker's embedded DNS
        assert any(re.fullmatch(r"nameserver \S+ 127\.0\.0\.11:53", line) for line in resolvers)

    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
    # The replicas themselves publish nothing: every request goes through HAProxy.
    assert "ports" not in api


# --- Kubernetes: what an operator would notice -------------------------------------


def test_the_api_pods_do_not_migrate_and_the_job_does():
    deployment, job = the("Deployment"), the("Job")
    api, migrate = container(deployment), container(job)
    assert deployment["spec"]["replicas"] == 2
    assert api["args"] == ["serve"] and migrate["args"] == ["migrate"]
    # `command` would replace the image's ENTRYPOINT, tini included.
    assert "command" not in api and "command" not in migrate
    assert Settings.from_env(literal_env(api)).migrate_on_start is False
    assert api["image"] == migrate["image"], "the Job must migrate for the version the pods run"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_probes_ask_the_health_endpoints_on_the_service_port():
    api = container(the("Deployment"))
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    settings = Settings.from_env(literal_env(api))
    expected = {
        "startupProbe": "/health/live",
        "livenessProbe": "/health/live",  # never the database: an outage must not restart pods
        "readinessProbe": "/health/ready",
    }
    routes = app_get_paths()
    for probe, path in expected.items():
        get = api[probe]["httpGet"]
        assert get["path"] == path and path in routes
        assert ports.get(get["port"], get["port"]) == settings.port
    # The readiness handler waits up to 1 s for the database.
    assert api["readinessProbe"].get("timeoutSeconds", 1) > 1


def test_the_service_sends_traffic_to_the_api_pods_only():
    deployment, job, service, budget = the("Deployment"), the("Job"), the("Service"), the("PodDisruptionBudget")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert selector.items() <= pod_labels.items()
    # A migrate pod has no readiness probe, so it would count as ready.
    assert not selector.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    api = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    (port,) = service["spec"]["ports"]
    assert ports.get(port["targetPort"], port["targetPort"]) == Settings.from_env(literal_env(api)).port


def test_pods_run_as_the_images_user_on_a_read_only_filesystem():
    uid, gid = image_user()
    for owner in (the("Deployment"), the("Job")):
        pod = owner["spec"]["template"]["spec"]
        c = container(owner)
        context = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
        assert context["runAsNonRoot"] is True
        assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False


def test_the_grace_period_covers_the_drain_and_the_shutdown_timeout():
    deployment = the("Deployment")
    settings = Settings.from_env(literal_env(container(deployment)))
    # Endpoints take a few seconds to drop a terminating pod; the drain covers it.
    assert settings.shutdown_drain_seconds >= 3
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= longest_stop(settings) + 2


def test_secrets_reach_the_pods_from_secrets_and_the_example_is_never_applied():
    examples = {
        s["metadata"]["name"]: s["stringData"]
        for s in kubernetes_objects(recursive=True)
        if s["kind"] == "Secret"
    }
    assert not [o for o in kubernetes_objects() if o["kind"] == "Secret"], "placeholders would be applied"
    wanted = {
        ("Deployment", "DATABASE_URL"),
        ("Deployment", "ADMIN_TOKEN"),
        ("Deployment", "SECRET_KEY"),
        ("Job", "DATABASE_URL"),
        ("Job", "SECRET_KEY"),
    }
    for kind, name in wanted:
        (entry,) = [e for e in container(the(kind)).get("env", []) if e["name"] == name]
        assert "value" not in entry, f"{kind} {name} is written in the manifest"
        ref = entry["valueFrom"]["secretKeyRef"]
        assert ref["key"] in examples[ref["name"]], f"{ref} is missing from the example"
    for values in examples.values():
        assert all("CHANGE-ME" in v for v in values.values())


# --- the image ---------------------------------------------------------------------


def test_the_image_runs_tini_as_pid_1():
    entrypoint = json.loads(dockerfile("ENTRYPOINT"))
    assert entrypoint[0] == "tini" and "--" in entrypoint
    assert entrypoint[entrypoint.index("--") + 1 :] == ["python", "-m", "service"]
    assert json.loads(dockerfile("CMD")) == ["serve"]


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path == "/health/live" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _serve_health(host: str) -> http.server.HTTPServer:
    class Server(http.server.HTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    try:
        server = Server((host, 0), _Health)
    except OSError as exc:
        pytest.skip(f"cannot listen on {host}: {exc}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _run_healthcheck(env: dict[str, str]) -> int:
    command = healthcheck_command()
    assert command[0] == "python"
    result = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=20)
    return result.returncode


@pytest.mark.parametrize(
    ("host_setting", "listening_on"),
    [
        (None, "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("  ", "127.0.0.1"),  # blank means the default, as for the service
        ("127.0.0.2", "127.0.0.2"),
        ("::", "::1"),
        ("::1", "::1"),
    ],
)
def test_the_healthcheck_probes_where_the_service_listens(host_setting, listening_on):
    server = _serve_health(listening_on)
    try:
        env = {"PORT": str(server.server_address[1])}
        if host_setting is not None:
            env["HOST"] = host_setting
        assert _run_healthcheck(env) == 0
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_fails_when_the_service_does_not_answer_there():
    server = _serve_health("127.0.0.1")
    try:
        port = str(server.server_address[1])
        # Listening on another address than HOST, or on another port than PORT.
        assert _run_healthcheck({"HOST": "127.0.0.2", "PORT": port}) != 0
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            unused = str(s.getsockname()[1])
        assert _run_healthcheck({"PORT": unused}) != 0
    finally:
        server.shutdown()
        server.server_close()
