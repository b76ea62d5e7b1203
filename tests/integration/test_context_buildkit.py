"""The context check against the truth: for real projects' .dockerignore files, the files it says would enter
the build context are the files BuildKit really sends, and its findings are the secrets among them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jenkins_codeartifact.consume import context

DATA = Path(__file__).resolve().parents[1] / "data" / "dockerignore"
TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"

# One workspace for all: code, build output, and secrets in the places these patterns allow or exclude.
WORKSPACE = {
    "app.py": "",
    "setup.py": "",
    "package.json": "{}",
    "requirements-frozen.txt": "flask==3.0.0\n",
    ".env": "DATABASE_URL=postgres://u:p@db/app\n",
    ".env.example": "DATABASE_URL=\n",
    ".git/config": f'[remote "origin"]\n\turl = https://x-access-token:{TOKEN}@github.com/acme/app.git\n',
    ".git/HEAD": "ref: refs/heads/main\n",
    ".aws/credentials": "[default]\n",
    ".github/workflows/ci.yml": "on: push\n",
    ".npmrc": "//registry.npmjs.org/:_authToken=x\n",
    "airflow/__init__.py": "",
    "airflow/.env": "A=1\n",
    "airflow/git_version": "abc\n",
    "airflow/www/node_modules/x.js": "",
    "airflow/www/static/dist/tls.pem": "-----BEGIN PRIVATE KEY-----\n",
    "airflow/providers/__pycache__/a.cpython-312.pyc": "",
    "docker/entrypoint.sh": "",
    "docker/.pypirc": "[pypi]\n",
    "dist/requirements-frozen.txt": "",
    "dist/app-1.0-py3-none-any.whl": "",
    "dist/deploy.pem": "-----BEGIN PRIVATE KEY-----\n",
    "config/secrets/.env": "B=2\n",
    "docs/conf.py": "",
    "tests/test_app.py": "",
    "tests/resources/mlflow-test-plugin/setup.py": "",
    "tests/resources/mlflow-test-plugin/.pypirc": "[pypi]\n",
    "travis/small-requirements.txt": "",
    "travis/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "keys/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "keys/id_rsa.pub": "ssh-rsa AAAA\n",
    "venv/bin/activate": "",
    "home/.aws/config": "[default]\n",
}
NOT_CONTENT = {"Dockerfile", ".dockerignore"}  # BuildKit reads these itself; docker-py always sends both


def build_tree(root: Path, ignore: Path) -> Path:
    for rel, text in WORKSPACE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /ctx/\n")
    shutil.copy(ignore, root / ".dockerignore")
    return root


def sent_by_buildkit(ctx: Path, out: Path, env: dict[str, str]) -> set[str]:
    cli = env.get("CA_DOCKER_CLI") or "docker"
    run_env = {**os.environ, **env, "DOCKER_BUILDKIT": "1"}
    done = subprocess.run(
        [cli, "build", "--output", f"type=local,dest={out}", str(ctx)],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    root = out / "ctx"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("ignore", sorted(DATA.glob("*.dockerignore")), ids=lambda p: p.stem)
def test_the_check_sees_what_buildkit_sends(ignore, docker_env, tmp_path):
    ctx = build_tree(tmp_path / "ws", ignore)
    truth = sent_by_buildkit(ctx, tmp_path / "out", docker_env) - NOT_CONTENT
    files = {p.relative_to(ctx).as_posix() for p in ctx.rglob("*") if p.is_file()}
    ours = (files & _listed(ctx)) - NOT_CONTENT
    assert ours == truth, {"only ours": sorted(ours - truth), "only buildkit": sorted(truth - ours)}
    found = {f.path for f in context.secret_files(ctx)}
    assert found == {p for p in truth if context.classify(Path(p), ctx / p)}  # every secret sent, nothing else
    assert found, "each of these real .dockerignore files lets at least one secret of the workspace through"
    print(f"\n{ignore.stem}: BuildKit sent {len(truth)} of {len(WORKSPACE)} files; secrets among them: {sorted(found)}")


def _listed(ctx: Path) -> set[str]:
    from docker.utils.build import exclude_paths

    return {p.replace(os.sep, "/") for p in exclude_paths(str(ctx), context.ignore_patterns(ctx))}
