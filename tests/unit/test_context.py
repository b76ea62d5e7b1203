"""The build context check: what would be sent to the engine (through .dockerignore's real semantics) and
looks like a secret stops the build with exit 2, naming the files and never their contents."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import consume_deploy
from jenkins_codeartifact.consume import context
from jenkins_codeartifact.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"


def workspace(root: Path, files: dict[str, str]) -> Path:
    for rel, text in {"Dockerfile": "FROM scratch\nCOPY . .\n", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


GIT_CONFIG = f'[remote "origin"]\n\turl = https://x-access-token:{TOKEN}@github.com/acme/app.git\n'
A_JENKINS_WORKSPACE = {
    "app.py": "print('hi')\n",
    ".git/config": GIT_CONFIG,
    ".git/HEAD": "ref: refs/heads/main\n",
    ".env": "DATABASE_URL=postgres://u:p@db/app\n",
    ".env.example": "DATABASE_URL=\n",
    ".aws/credentials": "[default]\naws_secret_access_key = x\n",
    "deploy/tls/server.pem": "-----BEGIN PRIVATE KEY-----\n",
    "keys/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "keys/id_rsa.pub": "ssh-rsa AAAA\n",
    ".npmrc": "//registry.npmjs.org/:_authToken=x\n",
    "pkg/.pypirc": "[pypi]\npassword = x\n",
}


def paths(found: list[context.Finding]) -> list[str]:
    return [f.path for f in found]


def test_every_secret_pattern_of_a_workspace_is_named(tmp_path):
    found = context.secret_files(workspace(tmp_path, A_JENKINS_WORKSPACE))
    assert paths(found) == [
        ".aws/credentials",
        ".env",
        ".git/config",
        ".npmrc",
        "deploy/tls/server.pem",
        "keys/id_rsa",
        "pkg/.pypirc",
    ]
    assert dict((f.path, f.why) for f in found)[".git/config"] == "credentials in a remote URL"


def test_the_check_exits_2_naming_the_files_and_never_the_token(tmp_path):
    ctx = workspace(tmp_path, A_JENKINS_WORKSPACE)
    with pytest.raises(ConfigError) as info:
        context.check(ctx, allow=False)
    assert info.value.exit_code == 2
    assert "holds 7 file(s) that look like secrets: .aws/credentials (AWS credentials or config); .env" in str(
        info.value
    )
    assert ".git/config (credentials in a remote URL)" in str(info.value)
    assert "--allow-context-secrets" in (info.value.hint or "") and ".dockerignore" in (info.value.hint or "")
    assert TOKEN not in str(info.value) + (info.value.hint or "")


def test_a_certificate_bundle_is_public_a_key_file_is_not(tmp_path):
    bundle = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    ctx = workspace(tmp_path, {"certifi/cacert.pem": bundle, "tls/server.key": "-----BEGIN EC PRIVATE KEY-----\n"})
    assert [str(f) for f in context.secret_files(ctx)] == ["tls/server.key (PEM private key)"]


def test_a_git_config_without_credentials_is_fine(tmp_path):
    ssh = '[remote "origin"]\n\turl = git@github.com:acme/app.git\n[remote "b"]\n\turl = https://github.com/a/b\n'
    assert context.secret_files(workspace(tmp_path, {".git/config": ssh})) == []


def test_dockerignore_with_its_real_semantics(tmp_path):
    ignore = "# keep the image small\n.git\n**/*.pem\n.env*\n.aws\n!.aws/config\nkeys/\n"
    ctx = workspace(tmp_path, {**A_JENKINS_WORKSPACE, ".dockerignore": ignore, ".aws/config": "[default]\n"})
    # .git, the nested pem, .env, keys/ excluded; .aws re-included for its config only (the "!" exception)
    assert paths(context.secret_files(ctx)) == [".aws/config", ".npmrc", "pkg/.pypirc"]


def test_the_dockerfile_specific_ignore_file_wins(tmp_path):
    ctx = workspace(tmp_path, {".env": "A=1\n", ".dockerignore": "", "Dockerfile.dockerignore": ".env\n"})
    assert context.secret_files(ctx) == []


def test_allow_goes_on_with_a_warning(tmp_path, caplog):
    ctx = workspace(tmp_path, {".env": "A=1\n"})
    with caplog.at_level(logging.WARNING):
        assert paths(context.check(ctx, allow=True)) == [".env"]
    assert "look like secrets: .env (environment file); building anyway (--allow-context-secrets)" in caplog.text


def test_many_findings_are_counted_not_all_listed(tmp_path):
    ctx = workspace(tmp_path, {f"svc{i}/.env": "A=1\n" for i in range(14)})
    with pytest.raises(ConfigError, match=r"holds 14 file\(s\).*; and 4 more"):
        context.check(ctx, allow=False)


def test_the_sample_application_context_is_clean_even_with_a_stray_env_file(tmp_path):
    import shutil

    app = shutil.copytree(ROOT / "application_src", tmp_path / "app")
    (app / ".env").write_text("SECRET=1\n")
    (app / "id_ed25519").write_text("key\n")
    assert context.check(app, allow=False) == []


def test_the_cli_stops_before_the_build_with_exit_2(tmp_path, monkeypatch, capsys):
    ctx = workspace(tmp_path / "ws", {".env": "A=1\n", "requirements.txt": "flask\n"})
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # never reached
    monkeypatch.chdir(tmp_path)
    for var in ("CA_DOMAIN", "CA_REPOSITORY", "CA_REPOSITORY_URL", "CA_CONFIG", "CA_ALLOW_CONTEXT_SECRETS"):
        monkeypatch.delenv(var, raising=False)
    code = consume_deploy.main(["build", "--context", str(ctx), "--image-name", "app", "--tag", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "look like secrets: .env (environment file)" in err
    assert "Docker engine" not in err
    args = ["build", "--context", str(ctx), "--image-name", "app", "--tag", "1", "--allow-context-secrets"]
    code = consume_deploy.main(args)
    err = capsys.readouterr().err
    assert "building anyway (--allow-context-secrets)" in err
    assert "missing --domain and --repository" in err  # past the check: the next one speaks
