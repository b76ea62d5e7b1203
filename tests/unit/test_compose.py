"""docker-compose.yml, its dind override, the local Jenkins image and the jenkins-it workflow (issue 26).

The compose files are read through Debian's docker-compose (``config`` needs no engine), so that
what is checked is what compose makes of them: merges, anchors and overrides included.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fakes.fake_jenkins import PLUGINS
from tests.helpers import tool_or_skip
from tests.jenkins_it.scenario import Options

ROOT = Path(__file__).resolve().parents[2]
DIND = ("docker-compose.yml", "docker-compose.dind.yml")
WORKFLOW = ROOT / ".github" / "workflows" / "jenkins-it.yml"


def compose_config(*files: str) -> dict[str, Any]:
    compose = tool_or_skip(shutil.which("docker-compose"), "docker-compose")
    flags = [f for name in files for f in ("-f", name)]
    proc = subprocess.run([compose, *flags, "config"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    config: dict[str, Any] = yaml.safe_load(proc.stdout)
    return config


def test_docker_compose_config_is_valid():
    compose = tool_or_skip(shutil.which("docker-compose"), "docker-compose")
    proc = subprocess.run([compose, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_compose_services_are_the_stand_ins_and_jenkins():
    services = compose_config("docker-compose.yml")["services"]
    assert {"jenkins", "devpi", "codeartifact", "moto", "registry"} <= set(services)


def _sockets(service: dict[str, Any]) -> list[str]:
    """The host paths bound to the engine's socket path in ``service``."""
    out = []
    for volume in service.get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        if target == "/var/run/docker.sock":
            out.append(source)
    return out


def test_the_host_socket_is_documented_as_root_equivalent_and_dind_replaces_it():
    assert "ROOT-EQUIVALENT" in (ROOT / "docker-compose.yml").read_text()
    base, dind = compose_config("docker-compose.yml")["services"], compose_config(*DIND)["services"]
    assert [name for name, s in base.items() if _sockets(s)] == ["jenkins"]
    assert _sockets(base["jenkins"]) == ["/var/run/docker.sock"]
    assert _sockets(dind["jenkins"]) == ["dind_socket"]  # a volume of the private engine, not the host's socket
    assert dind["dind"]["privileged"] is True
    command = dind["dind"]["command"]  # dockerd itself: the image's default TCP listeners are not added
    assert command[0] == "dockerd" and not [arg for arg in command if "tcp://" in arg]
    assert not any(_sockets(s) == ["/var/run/docker.sock"] for s in dind.values())


def _published(port: str | dict[str, Any]) -> tuple[str, str]:
    """(host IP, host port) of a ``ports`` entry, as v1 (``IP:HOST:CONTAINER``) or v2 (a mapping) writes it."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "")), str(port.get("published", ""))
    parts = port.split(":")
    return (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0])


@pytest.mark.parametrize("files", [("docker-compose.yml",), DIND], ids=["socket", "dind"])
def test_every_published_port_is_loopback_only(files):
    for name, service in compose_config(*files)["services"].items():
        for port in service.get("ports", []):
            assert _published(port)[0] == "127.0.0.1", (name, port)


@pytest.mark.parametrize("files", [("docker-compose.yml",), DIND], ids=["socket", "dind"])
def test_image_builds_reach_the_endpoint_the_stand_in_hands_out(files):
    """The known limit, fixed: the consumer's image build (RUN steps on the engine's host network) is given
    the stand-in's public URL; Jenkins shares the engine's network namespace, so that URL must work there."""
    services = compose_config(*files)["services"]
    jenkins, stand_in = services["jenkins"], services["codeartifact"]
    public = urllib.parse.urlsplit(stand_in["environment"]["CA_PUBLIC_URL"])
    assert "$CA_PUBLIC_URL" in " ".join(stand_in["command"])
    assert jenkins["environment"]["AWS_ENDPOINT_URL_CODEARTIFACT"] == stand_in["environment"]["CA_PUBLIC_URL"]
    if jenkins["network_mode"] == "host":  # the host's engine: the published port on the host's loopback
        assert public.hostname == "127.0.0.1"
        assert ("127.0.0.1", str(public.port)) in [_published(p) for p in stand_in["ports"]]
    else:  # the dind engine: Jenkins and its builds are in dind's namespace, on the project's network
        assert jenkins["network_mode"] == "service:dind"
        assert public.hostname == "codeartifact"
        assert jenkins["environment"]["DOCKER_HOST"] == "unix:///var/run/docker.sock/docker.sock"


def test_the_harness_expects_the_ports_compose_gives():
    jenkins = compose_config("docker-compose.yml")["services"]["jenkins"]
    opts = Options(ROOT)
    assert f"--httpPort={urllib.parse.urlsplit(opts.url).port}" in jenkins["environment"]["JENKINS_OPTS"]
    assert str(urllib.parse.urlsplit(opts.page_url).port) == jenkins["environment"]["CA_LOCAL_PORT"]
    assert jenkins["environment"]["CA_LOCAL_PORT"] != "8080"  # Jenkins' own port in the shared namespace


def _plugins() -> dict[str, str]:
    lines = (ROOT / "jenkins" / "plugins.txt").read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return dict(pin.split(":", 1) for pin in pins)


def test_every_plugin_is_pinned_and_dependencies_are_not_floated_to_latest():
    plugins = _plugins()
    assert {"git", "workflow-aggregator", "credentials-binding", "configuration-as-code"} <= set(plugins)
    for name, version in plugins.items():
        assert re.fullmatch(r"\d[\w.]*", version), f"{name}:{version} is not a pinned version"
    dockerfile = (ROOT / "jenkins" / "Dockerfile").read_text()
    assert re.search(r"^FROM jenkins/jenkins:\d+\.\d+\.\d+-lts-jdk\d+$", dockerfile, re.M)
    assert "jenkins-plugin-cli --latest false --plugin-file" in dockerfile


def test_the_fake_jenkins_writes_the_plugin_versions_of_plugins_txt():
    plugins = _plugins()
    written = dict(owner.split("@") for owner in PLUGINS.values())
    assert {name: version for name, version in written.items() if name in plugins} == {
        name: plugins[name] for name in written if name in plugins
    }
    assert set(written) <= set(plugins)  # every plugin= the goldens carry is pinned here


def test_casc_defines_every_credential_id_the_specs_use_from_the_environment():
    specs = "\n".join(p.read_text() for p in sorted((ROOT / "jenkins" / "jobs").glob("*.yml")))
    used = set(re.findall(r"credentials:\s*([\w.-]+)", specs))
    casc = yaml.safe_load((ROOT / "jenkins" / "casc.yaml").read_text())
    entries = [
        next(iter(c.values())) for d in casc["credentials"]["system"]["domainCredentials"] for c in d["credentials"]
    ]
    assert used and used <= {e["id"] for e in entries}
    for entry in entries:  # a secret comes from the container's environment, never from the file
        for field in ("password", "secret", "privateKey"):
            if field in entry:
                assert re.fullmatch(r"\$\{[A-Z_]+\}", entry[field]), (entry["id"], field)


def _validator() -> str | None:
    installed = Path("/opt/action-validator/node_modules/.bin/action-validator")  # scripts/system-deps.sh
    return shutil.which("action-validator") or (str(installed) if installed.exists() else None)


def test_the_jenkins_it_workflow_lints_clean(tmp_path):
    validator = tool_or_skip(_validator(), "@action-validator/cli (npm; scripts/system-deps.sh installs it)")
    proc = subprocess.run([validator, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"  # the linter does reject a workflow with a mistake
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    assert subprocess.run([validator, str(broken)], capture_output=True, timeout=120).returncode != 0


def test_the_workflow_runs_make_jenkins_it_where_a_skip_is_a_failure():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu-") and job["env"]["CA_REQUIRE_JENKINS"] == "1"
    assert any(step.get("run", "").startswith("make jenkins-it") for step in job["steps"])
    assert job["timeout-minutes"] * 60 >= Options.up_seconds  # the job's limit leaves room for the first build
