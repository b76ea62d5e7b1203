"""After the deploy: plan exit codes, build order, the history in the registry and rollback.

CloudFormation, ECS and STS are moto's; the registry is an in-process registry v2 (tests/fakes/v2registry.py)
holding what each push left (a manifest and a config blob with the build's labels), so the assertions are
about the stack's parameters, the registry's tags and what the CLI prints and reports.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("moto")

from tests.fakes import v2registry
from tests.unit.test_consume_pipeline import INDEX, TEMPLATE, stack_parameters, stages, vpc, world  # noqa: F401

from jenkins_codeartifact.cli import consume_deploy
from jenkins_codeartifact.consume import image, local_target, ordering
from jenkins_codeartifact.consume import registry as registries
from jenkins_codeartifact.consume.images import EcrImages
from jenkins_codeartifact.consume.target import DeployResult
from jenkins_codeartifact.errors import PreconditionError

STACK = "consumer"
stores: dict[str, v2registry.Store] = {}  # what each registry of a test holds, by host


@pytest.fixture
def reg(world, monkeypatch):  # noqa: F811 - the fixture imported above
    """The registry v2 the pushes go to; each build's labels end up in its image's config."""
    labels: dict[str, dict[str, str]] = {}
    build = image.build

    def labelled_build(index, **kw):
        labels[kw["image"]] = dict(kw.get("labels") or {})
        return build(index, **kw)

    with v2registry.serving() as (host, store):
        stores[host] = store

        def push(client, local, registry, name, tag, **kw):
            digest = stores[registry.host].push(name, tag, labels.get(local), layer=local)
            return registries.PushResult(registry.reference(name, tag), digest, 1)

        monkeypatch.setattr(image, "build", labelled_build)
        monkeypatch.setattr(registries, "push", push)
        store.host = host  # type: ignore[attr-defined]
        yield store


def release(tmp_path, reg, tag: str, build: str | None = None, **kw: Any):
    pipeline = stages(tmp_path, tag=tag, build_number=build or tag, registry=reg.host, **kw)
    pipeline.run("all")
    return pipeline


def live() -> str:
    params = stack_parameters(STACK)
    assert params is not None
    return params["ImageDigest"]


def digest_of(reg, tag: str) -> str:
    return reg.tags["app"][tag]


# ------------------------------------------------------------------------------------ deploy --plan --exit-code


def cli(reg, tmp_path, *argv: str) -> int:
    params = [a for p in vpc() for a in ("--param", p)]
    common = ["--image-name", "app", "--region", "eu-west-1", "--stack", STACK, "--registry", reg.host]
    return consume_deploy.main([*argv, *common, *params, "--no-probe", "--report", str(tmp_path / "r.json")])


def report(tmp_path) -> dict[str, Any]:
    return json.loads((tmp_path / "r.json").read_text())


def test_plan_exit_code_is_0_without_changes_and_4_with_them(reg, tmp_path, capsys):
    release(tmp_path, reg, "1")
    release_2 = stages(tmp_path, tag="2", build_number="2", registry=reg.host)
    release_2.build()
    release_2.push()
    assert cli(reg, tmp_path, "deploy", "--tag", "1", "--plan", "--exit-code") == 0
    assert report(tmp_path)["status"] == "ok" and report(tmp_path)["deploy"]["changes"] == []
    assert cli(reg, tmp_path, "deploy", "--tag", "2", "--plan", "--exit-code") == 4
    got = report(tmp_path)
    assert got["status"] == "ok" and got["exit_code"] == 4
    assert "parameter ImageTag: '1' -> '2'" in got["deploy"]["changes"]
    assert "PLANNED=" in capsys.readouterr().out
    assert cli(reg, tmp_path, "deploy", "--tag", "2", "--plan") == 0  # without --exit-code: as before
    assert stack_parameters(STACK)["ImageTag"] == "1"  # nothing was deployed


def test_exit_code_without_plan_is_a_usage_error(reg, tmp_path, capsys):
    assert cli(reg, tmp_path, "deploy", "--tag", "1", "--exit-code") == 2
    assert "ERROR: --exit-code: only with deploy --plan" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ ordering


def test_build_records_the_build_number_as_a_label(tmp_path, monkeypatch):
    assert ordering.build_label("42") == {ordering.LABEL: "42"}
    assert ordering.build_label(None) == {}
    with pytest.raises(Exception, match=r"--build-number 'abc': not a whole number"):
        ordering.build_label("abc")


def test_an_older_build_never_replaces_a_newer_one(reg, tmp_path, caplog):
    release(tmp_path, reg, "42")
    late = stages(tmp_path, tag="41", build_number="41", registry=reg.host)
    late.build()
    late.push()  # build 41 finished after 42
    with pytest.raises(PreconditionError, match=r"image app:41 is build 41, older than the live build 42") as info:
        late.deploy()
    assert info.value.exit_code == 3 and "rollback" in (info.value.hint or "")
    assert live() == digest_of(reg, "42")
    forced = stages(tmp_path, tag="41", registry=reg.host, allow_downgrade=True)
    forced.deploy()
    assert live() == digest_of(reg, "41")
    assert forced.record["deploy"]["order"] == {"live_build": 42, "new_build": 41}
    assert "--allow-downgrade: build 41 replaces the live build 42" in caplog.text


def test_an_image_without_the_label_deploys_with_a_warning(reg, tmp_path, caplog):
    release(tmp_path, reg, "5")
    reg.push("app", "hand-made")  # pushed by someone else: no build-number label
    pipeline = stages(tmp_path, tag="hand-made", registry=reg.host)
    pipeline.deploy()
    assert live() == digest_of(reg, "hand-made")
    assert "WARNING: the new image has no build-number label" in caplog.text


# ------------------------------------------------------------------------------------ history and rollback


def test_each_healthy_deploy_is_kept_as_a_tag_and_live_moves(reg, tmp_path):
    for n in ("1", "2", "3"):
        release(tmp_path, reg, n)
    tags = reg.tags["app"]
    assert [tags[f"deployed-{STACK}-{n}"] for n in (1, 2, 3)] == [tags["1"], tags["2"], tags["3"]]
    assert tags[f"live-{STACK}"] == tags["3"] == live()
    stages(tmp_path, tag="3", registry=reg.host).deploy()  # the same again: no new entry
    assert f"deployed-{STACK}-4" not in reg.tags["app"]


def test_two_rollbacks_go_two_steps_back_and_a_third_finds_nothing(reg, tmp_path, capsys):
    for n in ("1", "2", "3"):
        release(tmp_path, reg, n)
    d1, d2, d3 = (digest_of(reg, n) for n in ("1", "2", "3"))
    assert cli(reg, tmp_path, "rollback") == 0
    got = report(tmp_path)["deploy"]
    assert got["rolled_back_from"] == {"tag": "3", "digest": d3}
    assert got["rolled_back_to"] == {"tag": "2", "digest": d2}
    assert live() == d2 and stack_parameters(STACK)["ImageTag"] == "2"
    assert f"ROLLED_BACK_TO=2@{d2}" in capsys.readouterr().out
    assert cli(reg, tmp_path, "rollback") == 0
    assert report(tmp_path)["deploy"]["rolled_back_to"] == {"tag": "1", "digest": d1}
    assert live() == d1 and reg.tags["app"][f"live-{STACK}"] == d1
    assert cli(reg, tmp_path, "rollback") == 3
    assert "ERROR: no earlier image to roll back to" in capsys.readouterr().err
    assert live() == d1


def test_a_deploy_after_a_rollback_goes_back_past_the_rolled_back_one(reg, tmp_path):
    for n in ("1", "2"):
        release(tmp_path, reg, n)
    stages(tmp_path, registry=reg.host).rollback()  # 2 was bad
    release(tmp_path, reg, "3")
    back = stages(tmp_path, registry=reg.host)
    back.rollback()
    assert back.record["deploy"]["rolled_back_to"]["tag"] == "1"  # never forth to the bad 2


def test_rollback_to_a_tag_or_digest(reg, tmp_path):
    for n in ("1", "2", "3"):
        release(tmp_path, reg, n)
    stages(tmp_path, registry=reg.host, rollback_tag="1").rollback()
    assert live() == digest_of(reg, "1")
    stages(tmp_path, registry=reg.host, rollback_digest=digest_of(reg, "2")).rollback()
    assert live() == digest_of(reg, "2") and stack_parameters(STACK)["ImageTag"] == "2"


def test_rollback_to_an_expired_digest_changes_nothing(reg, tmp_path, capsys):
    for n in ("1", "2"):
        release(tmp_path, reg, n)
    gone = digest_of(reg, "1")
    reg.expire(gone)  # a keep-last-N rule took it
    assert cli(reg, tmp_path, "rollback", "--to-digest", gone) == 3
    err = capsys.readouterr().err
    assert f"ERROR: cannot roll back to digest {gone}: app in the registry" in err
    assert "no longer has it (expired or deleted); nothing was deployed" in err
    assert live() == digest_of(reg, "2")
    assert cli(reg, tmp_path, "rollback") == 3  # the history's own entry is gone with it
    assert live() == digest_of(reg, "2")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "1", "--to-digest", "sha256:" + "a" * 64], "--to and --to-digest: give one of them"),
        (["--to-digest", "sha256:xyz"], "--to-digest 'sha256:xyz': not a digest"),
    ],
)
def test_bad_rollback_input_is_a_usage_error(reg, tmp_path, capsys, argv, message):
    assert cli(reg, tmp_path, "rollback", *argv) == 2
    assert f"ERROR: {message}" in capsys.readouterr().err


def test_a_registry_answering_503_leaves_the_history_as_it_was(reg, tmp_path, capsys):
    for n in ("1", "2"):
        release(tmp_path, reg, n)
    before = dict(reg.tags["app"])
    reg.fail_puts = 10  # the stack rolls back, then the registry fails while the history is written
    assert cli(reg, tmp_path, "rollback") == 1
    err = capsys.readouterr().err
    assert f"ERROR: {STACK} is rolled back to 1, but its history in the registry" in err
    assert "was not updated: registry unreachable: PUT" in err and "answered HTTP 503, 3 attempts" in err
    assert live() == digest_of(reg, "1")
    assert reg.tags["app"] == before  # no tag half-moved


def test_the_local_target_rolls_back_through_the_same_history(reg, tmp_path, monkeypatch):
    ran: list[str] = []

    def deploy_local(client, ref, local, auth=None, tag=""):
        ran.append(ref)
        return DeployResult("local", tag, "RUNNING", True)

    monkeypatch.setattr(local_target, "deploy_local", deploy_local)
    for n in ("1", "2"):
        release(tmp_path, reg, n, target="local", local_state_dir=str(tmp_path / "state"))
    back = stages(tmp_path, registry=reg.host, target="local", local_state_dir=str(tmp_path / "state"))
    back.rollback()
    assert ran[-1] == f"{reg.host}/app:deployed-{local_target.local_name('app')}-1"
    assert back.record["deploy"]["rolled_back_to"] == {"tag": "1", "digest": digest_of(reg, "1")}
    assert reg.tags["app"][f"live-{local_target.local_name('app')}"] == digest_of(reg, "1")


# ------------------------------------------------------------------------------------ environments and promote


@pytest.fixture
def envs(reg, tmp_path):
    """staging on the registry ``reg``, prod on a second registry, one config file naming both."""
    with v2registry.serving() as (prod_host, prod):
        config = tmp_path / "release.toml"
        params = ", ".join(json.dumps(p) for p in vpc())
        config.write_text(
            f'image_name = "app"\nregion = "eu-west-1"\ntemplate = "{TEMPLATE}"\nparams = [{params}]\n'
            f'no_probe = true\n[environments.staging]\nstack = "app-staging"\nregistry = "{reg.host}"\n'
            f'image_name = "app-staging"\n[environments.prod]\nstack = "app-prod"\nregistry = "{prod_host}"\n'
            'image_name = "app-prod"\n'
        )
        prod.host = prod_host  # type: ignore[attr-defined]
        stores[prod_host] = prod
        yield config, reg, prod


def to_env(tmp_path, store, env: str, tag: str) -> None:
    """Build ``tag`` (build number ``tag``), push it to ``store`` and deploy it to ``env``."""
    name = f"app-{env}"
    pipeline = stages(tmp_path, tag=tag, build_number=tag, registry=store.host, stack=name, env=env, image_name=name)
    pipeline.run("all")


def run_cli(config, tmp_path, *argv: str) -> int:
    return consume_deploy.main([*argv, "--config", str(config), "--report", str(tmp_path / "r.json")])


def test_an_environment_table_gives_the_stack_and_registry_and_flags_still_win(envs, tmp_path):
    from jenkins_codeartifact import config as loader

    config, _, prod = envs
    s = loader.load({"env": "prod"}, env={}, config=config)
    assert (s.stack, s.registry, s.image_name, s.no_probe) == ("app-prod", prod.host, "app-prod", True)
    assert loader.load({"env": "prod", "stack": "other"}, env={}, config=config).stack == "other"
    assert loader.load({}, env={"CA_ENV": "staging", "CA_STACK": "x"}, config=config).stack == "x"
    with pytest.raises(Exception, match=r"--env 'qa': no \[environments.qa\] in .*release.toml") as info:
        loader.load({"env": "qa"}, env={}, config=config)
    assert "environments there: prod, staging" in (info.value.hint or "")
    bad = tmp_path / "bad.toml"
    bad.write_text('[environments.prod]\nstak = "x"\n')
    with pytest.raises(Exception, match=r"bad.toml: environments.prod: unknown key 'stak'"):
        loader.load({}, env={}, config=bad)


def test_promote_deploys_stagings_digest_to_prod_copied_into_its_registry(envs, tmp_path, capsys):
    config, staging, prod = envs
    to_env(tmp_path, staging, "staging", "1")
    to_env(tmp_path, prod, "prod", "1")
    to_env(tmp_path, staging, "staging", "3")
    tested = staging.tags["app-staging"]["3"]
    assert run_cli(config, tmp_path, "promote", "--from", "staging", "--to", "prod") == 0
    got = report(tmp_path)
    assert got["promote"]["image_digest"] == tested and got["promote"]["copy"]["blobs_copied"] == 1
    assert stack_parameters("app-prod")["ImageDigest"] == tested and stack_parameters("app-prod")["ImageTag"] == "3"
    assert prod.tags["app-prod"]["3"] == tested and prod.tags["app-prod"]["live-prod"] == tested
    assert prod.tags["app-prod"]["deployed-prod-2"] == tested
    assert got["deploy"]["order"] == {"live_build": 1, "new_build": 3}  # the label came along with the config


def test_promote_refuses_while_stagings_rollout_is_not_completed(envs, tmp_path, capsys, monkeypatch):
    from jenkins_codeartifact.consume import promote, rollout

    config, staging, prod = envs
    to_env(tmp_path, staging, "staging", "1")
    to_env(tmp_path, prod, "prod", "1")
    described = rollout.describe_service

    def mid_rollout(ecs, service):
        found = described(ecs, service)
        for d in found.get("deployments") or []:
            d["rolloutState"] = "IN_PROGRESS"
        return found

    monkeypatch.setattr(promote.rollout, "describe_service", mid_rollout)
    before = stack_parameters("app-prod")
    assert run_cli(config, tmp_path, "promote", "--from", "staging", "--to", "prod") == 3
    assert "ERROR: promote: the last rollout of staging is not COMPLETED (service" in capsys.readouterr().err
    assert stack_parameters("app-prod") == before


def test_a_source_registry_failing_mid_copy_leaves_no_tag_in_the_target(envs, tmp_path, capsys):
    config, staging, prod = envs
    to_env(tmp_path, staging, "staging", "1")
    to_env(tmp_path, prod, "prod", "1")
    to_env(tmp_path, staging, "staging", "2")
    staging.fail_blob_reads_after = staging.blob_reads  # its next blob GET (the copy's) answers 503
    before = stack_parameters("app-prod")
    code = run_cli(config, tmp_path, "promote", "--from", "staging", "--to", "prod")
    err = capsys.readouterr().err
    assert code == 3 and "ERROR: registry unreachable: GET" in err and "answered HTTP 503" in err
    assert "2" not in prod.tags["app-prod"]  # no tag names a half-copied image
    assert stack_parameters("app-prod") == before


def test_promote_to_itself_or_without_from_is_a_usage_error(envs, tmp_path, capsys):
    config, _, _ = envs
    assert run_cli(config, tmp_path, "promote", "--from", "prod", "--to", "prod") == 2
    assert "are the same stack app-prod" in capsys.readouterr().err
    assert run_cli(config, tmp_path, "promote", "--to", "prod") == 2
    assert "ERROR: promote: needs --from ENV and --to ENV" in capsys.readouterr().err


def test_rollback_on_ecr_keeps_the_history_in_the_repository(world, tmp_path, monkeypatch, caplog):  # noqa: F811
    """The account's ECR (moto): history tags by PutImage, what runs now from the stack."""
    import boto3

    def push(client, local, registry, name, tag, **kw):
        ecr = boto3.client("ecr", region_name="eu-west-1")
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": "sha256:" + "3" * 64},
            "layers": [{"digest": "sha256:" + tag.rjust(64, "0"), "size": 1}],  # one image per tag
        }
        put = ecr.put_image(repositoryName=name, imageTag=tag, imageManifest=json.dumps(manifest))
        return registries.PushResult(registry.reference(name, tag), put["image"]["imageId"]["imageDigest"], 1)

    monkeypatch.setattr(registries, "push", push)
    monkeypatch.setattr(EcrImages, "blob", lambda self, digest: None)  # moto has no GetDownloadUrlForLayer
    for n in ("1", "2"):
        stages(tmp_path, tag=n, build_number=n, no_registry_cache=True).run("all")
    ecr = boto3.client("ecr", region_name="eu-west-1")

    def tags() -> dict[str, str]:
        images = ecr.describe_images(repositoryName="app")["imageDetails"]
        return {t: i["imageDigest"] for i in images for t in i.get("imageTags", [])}

    assert tags()[f"live-{STACK}"] == tags()["2"] == live()
    back = stages(tmp_path)
    back.rollback()
    assert live() == tags()["1"] == tags()[f"live-{STACK}"]
    assert back.record["deploy"]["rolled_back_to"] == {"tag": "1", "digest": tags()["1"]}
    assert tags()[f"rolledback-{STACK}-2"] == tags()["2"]


def test_an_abort_during_the_copy_leaves_no_tag_and_reports_aborted(envs, tmp_path, monkeypatch):
    from jenkins_codeartifact import signals
    from jenkins_codeartifact.consume.images import V2Images

    config, staging, prod = envs
    to_env(tmp_path, staging, "staging", "1")
    to_env(tmp_path, prod, "prod", "1")
    to_env(tmp_path, staging, "staging", "2")
    before = stack_parameters("app-prod")
    read = V2Images.blob

    def terminated_mid_copy(self, digest):
        if self.name == "app-staging":  # the copy's first read of staging's blobs: Jenkins' abort arrives
            raise signals.Terminated()
        return read(self, digest)

    monkeypatch.setattr(V2Images, "blob", terminated_mid_copy)
    assert run_cli(config, tmp_path, "promote", "--from", "staging", "--to", "prod") == signals.EXIT_SIGTERM
    assert report(tmp_path)["status"] == "aborted"
    assert "2" not in prod.tags["app-prod"] and stack_parameters("app-prod") == before


def test_a_copy_into_another_accounts_ecr_uploads_the_blobs_and_tags_last(reg):
    """promote.copy from a registry v2 into ECR (moto): layer upload API, manifest by digest, then the tag."""
    import boto3

    from jenkins_codeartifact.consume import promote
    from jenkins_codeartifact.consume.images import V2Images

    digest = reg.push("app", "7", {ordering.LABEL: "7"}, layer="seven")
    ecr = boto3.client("ecr", region_name="eu-west-1")
    ecr.create_repository(repositoryName="app-prod")
    source = V2Images(registries.registry_from_url(reg.host), "app")
    target = EcrImages(ecr, "app-prod")
    got = promote.copy(source, target, digest, "7")
    assert got["blobs_copied"] == 1 and got["digest"] == digest
    (image,) = ecr.describe_images(repositoryName="app-prod")["imageDetails"]
    assert image["imageDigest"] == digest and image["imageTags"] == ["7"]
    assert target.has_blob(json.loads(target.manifest(digest).body)["config"]["digest"])
