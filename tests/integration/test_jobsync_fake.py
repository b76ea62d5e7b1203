"""The fake Jenkins behaves like Jenkins where python-jenkins and jobsync depend on it.

Each behaviour follows a named Jenkins source (see tests/fakes/fake_jenkins.py's docstring).
"""

from __future__ import annotations

import jenkins
import pytest
import requests
from lxml import etree
from tests.fakes.fake_jenkins import VERSION, FakeJenkins

JOB = "<?xml version='1.0' encoding='UTF-8'?><project><description>d &amp; é</description><builders/></project>"
FOLDER = "<com.cloudbees.hudson.plugins.folder.Folder><description/></com.cloudbees.hudson.plugins.folder.Folder>"
PIPELINE = "org.jenkinsci.plugins.workflow.job.WorkflowJob"


@pytest.fixture
def server(fake):
    return jenkins.Jenkins(fake.url, username=fake.user, password=fake.token, timeout=10)


def test_python_jenkins_round_trip(fake, server):
    server.create_job("a", JOB)
    assert server.get_version() == VERSION  # after auth is resolved, as against a locked-down Jenkins
    assert server.job_exists("a")
    assert "d &amp; é" in server.get_job_config("a")
    assert server.get_job_config("a").startswith("<?xml version='1.1' encoding='UTF-8'?>")
    server.reconfig_job("a", JOB.replace("d &amp;", "e &lt;"))
    assert fake.items["a"].description == "e < é"
    assert server.build_job("a") == 1
    server.create_folder("f")
    server.create_job("f/b", JOB)
    assert {j["fullname"] for j in server.get_all_jobs()} == {"a", "f", "f/b"}
    server.delete_job("f")
    assert sorted(fake.items) == ["a"]


def test_create_errors(fake, server):
    server.create_job("a", JOB)
    with pytest.raises(jenkins.JenkinsException, match="already exists"):
        server.create_job("a", JOB)
    headers = {"Content-Type": "application/xml"}
    auth = (fake.user, fake.token)
    for name in ("a", "A"):  # item names compare case-insensitively (Jenkins.items, Folder.items)
        r = requests.post(fake.url + f"createItem?name={name}", data=JOB, headers=headers, auth=auth, timeout=5)
        assert r.status_code == 400
        error = r.headers["X-Error"].encode("latin-1").decode("utf-8")
        assert error == f"A job already exists with the name \u2018{name}\u2019"
        assert r.headers["Content-Type"].startswith("text/html") and "<html>" in r.text
    assert requests.get(fake.url + "job/A/api/json", auth=auth, timeout=5).json()["fullName"] == "a"
    r = requests.post(fake.url + "job/missing/createItem?name=x", data=JOB, headers=headers, auth=auth, timeout=5)
    assert r.status_code == 404
    with pytest.raises(jenkins.JenkinsException, match="folder"):
        server.create_job("missing/x", JOB)
    r = requests.post(fake.url + "createItem?name=a%3Ab", data=JOB, headers=headers, auth=auth, timeout=5)
    assert r.status_code == 400 and "unsafe" in r.headers["X-Error"]
    # XML Jenkins cannot parse is an IOException: 500 and the "Oops!" page, not a 400
    r = requests.post(fake.url + "createItem?name=b", data="<project>", headers=headers, auth=auth, timeout=5)
    assert r.status_code == 500 and "Oops!" in r.text and "X-Error" not in r.headers
    r = requests.post(fake.url + "job/a/config.xml", data="<project", headers=headers, auth=auth, timeout=5)
    assert r.status_code == 500 and "A problem occurred while processing the request" in r.text
    assert sorted(fake.items) == ["a"]


def test_auth_and_csrf(fake):
    assert requests.get(fake.url + "api/json", timeout=5).status_code == 403
    root = requests.get(fake.url, auth=(fake.user, fake.token), timeout=5)
    assert root.status_code == 200 and root.headers["X-Jenkins"] == VERSION
    bad = requests.get(fake.url + "api/json", auth=(fake.user, "wrong"), timeout=5)
    assert bad.status_code == 401 and bad.headers["X-Jenkins"] == VERSION
    # an API token needs no crumb (ApiCrumbExclusion)
    r = requests.post(fake.url + "createItem?name=x", data=JOB, auth=(fake.user, fake.token), timeout=5)
    assert r.status_code == 200, r.text
    # a password does: the crumb of its own session (DefaultCrumbIssuer hashes user and session id)
    auth = (fake.user, fake.password)
    headers = {"Content-Type": "application/xml"}
    r = requests.post(fake.url + "createItem?name=y", data=JOB, auth=auth, headers=headers, timeout=5)
    assert r.status_code == 403 and "No valid crumb was included in the request" in r.text
    with requests.Session() as session:
        session.auth = auth
        crumb = session.get(fake.url + "crumbIssuer/api/json", timeout=5).json()
        headers[crumb["crumbRequestField"]] = crumb["crumb"]
        r = requests.post(fake.url + "createItem?name=y", data=JOB, auth=auth, headers=headers, timeout=5)
        assert r.status_code == 403, "the crumb without its session cookie"
        assert session.post(fake.url + "createItem?name=y", data=JOB, headers=headers, timeout=5).status_code == 200
        fake.rotate_crumbs()  # a restart: sessions and crumbs gone
        r = session.post(fake.url + "createItem?name=z", data=JOB, headers=headers, timeout=5)
        assert r.status_code == 403 and "No valid crumb" in r.text
    assert sorted(fake.items) == ["x", "y"]


def test_post_is_reserialised_and_unknown_classes_dropped():
    """SECURITY-3744: a POSTed config.xml is unmarshalled; what no installed plugin binds is dropped."""
    xml = (
        '<project><description>it\'s "q"&#13;\nx</description><buildWrappers>'
        "<hudson.plugins.timestamper.TimestamperBuildWrapper/><com.example.Gone/></buildWrappers>"
        '<scm class="hudson.plugins.git.GitSCM"><configVersion>2</configVersion></scm></project>'
    )
    with FakeJenkins(installed=frozenset({"git"})) as fake:
        server = jenkins.Jenkins(fake.url, username=fake.user, password=fake.token, timeout=10)
        server.create_job("a", xml)
        saved = fake.config("a")
        assert saved.startswith("<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>")
        assert "it&apos;s &quot;q&quot;&#xd;\nx</description>" in saved  # XStream's escapes
        assert "Timestamper" not in saved and "com.example.Gone" not in saved and "<buildWrappers/>" in saved
        assert '<scm class="hudson.plugins.git.GitSCM" plugin="git@5.7.0">' in saved
        assert fake.old_data == [
            ("a", "hudson.plugins.timestamper.TimestamperBuildWrapper"),
            ("a", "com.example.Gone"),
        ]
        # an old class name with a compatibility alias is read, and written under its new name
        folder = (
            "<com.cloudbees.hudson.plugins.folder.Folder><properties>"
            "<org.jenkinsci.plugins.pipeline.modeldefinition.config.FolderConfig><dockerLabel/>"
            "</org.jenkinsci.plugins.pipeline.modeldefinition.config.FolderConfig></properties>"
            "</com.cloudbees.hudson.plugins.folder.Folder>"
        )
        with FakeJenkins() as full:
            full.put("f", folder)
            assert 'org.jenkinsci.plugins.docker.workflow.declarative.FolderConfig plugin="docker-workflow@' in (
                full.config("f")
            )


def test_post_body_is_decoded_with_the_request_charset(fake):
    """config.xml: the request's charset (UTF-8 if none); createItem: the bytes, as the prologue says."""
    auth = (fake.user, fake.token)
    text = "<project><description>caf\u00e9</description></project>"
    r = requests.post(
        fake.url + "createItem?name=a",
        data=("<?xml version='1.0' encoding='ISO-8859-1'?>" + text).encode("latin-1"),
        headers={"Content-Type": "application/xml"},
        auth=auth,
        timeout=5,
    )
    assert r.status_code == 200 and fake.items["a"].description == "caf\u00e9"
    for charset in ("iso-8859-1", "utf-8"):
        headers = {"Content-Type": f"application/xml; charset={charset}"}
        body = text.replace("caf", charset).encode(charset)
        assert requests.post(fake.url + "job/a/config.xml", data=body, headers=headers, auth=auth, timeout=5).ok
        assert fake.items["a"].description == f"{charset}\u00e9"
    body = text.encode("utf-8")
    assert requests.post(fake.url + "job/a/config.xml", data=body, headers={}, auth=auth, timeout=5).ok
    assert fake.items["a"].description == "caf\u00e9"
    assert etree.fromstring(fake.config("a").split("\n", 1)[1].encode()).findtext("description") == "caf\u00e9"


def test_tree_query_nests_folders(fake, server):
    server.create_job("f", FOLDER)
    server.create_job("f/g", FOLDER)
    server.create_job("f/g/j", JOB)
    data = server.get_info(query="?tree=jobs[name,jobs[name,description,jobs[name]]]")
    assert data["jobs"] == [
        {
            "_class": "com.cloudbees.hudson.plugins.folder.Folder",
            "name": "f",
            "jobs": [
                {
                    "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                    "name": "g",
                    "description": None,
                    "jobs": [{"_class": "hudson.model.FreeStyleProject", "name": "j"}],
                }
            ],
        }
    ]


def test_counts_requests_and_injects_faults(fake, server):
    server.create_job("a", JOB)
    fake.reset_counts()
    fake.faults["a"] = 500
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        server.reconfig_job("a", JOB)
    assert fake.requests == 1 and fake.log[0][2] == 500


def post(fake, path: str, data: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/xml"}  # an API token needs no crumb (ApiCrumbExclusion)
    auth = (fake.user, fake.token)
    return requests.post(fake.url + path, data=data, headers=headers, auth=auth, timeout=5, allow_redirects=False)


def test_names_are_case_insensitive_and_trailing_dot_is_rejected(fake, server):
    server.create_job("app", JOB)
    assert post(fake, "createItem?name=App", JOB).status_code == 400
    assert server.get_job_config("APP") == fake.config("app")
    r = post(fake, "createItem?name=v1.", JOB)
    assert r.status_code == 400 and "cannot end with" in r.text


def test_rename_move_keep_builds_copy_does_not(fake, server):
    server.create_folder("f")
    server.create_job("a", JOB)
    fake.add_build("a")
    fake.add_build("a", building=True)
    r = post(fake, "job/a/confirmRename?newName=b")
    assert r.status_code == 400 and r.headers["X-Error"] == "Unable to rename a job while it is building."
    fake.finish_builds("a")
    r = post(fake, "job/a/confirmRename?newName=b")
    assert r.status_code == 302 and r.headers["Location"] == fake.url + "job/b/"
    assert "a" not in fake.items and fake.build_numbers("b") == [1, 2]
    assert post(fake, "job/b/move/move?destination=/f").status_code == 302
    assert fake.build_numbers("f/b") == [1, 2]
    info = server.get_job_info("f/b")
    assert info["nextBuildNumber"] == 3 and info["lastBuild"]["number"] == 2 and info["color"] == "blue"
    server.create_job("f/c", JOB)
    assert post(fake, "job/f/job/b/confirmRename?newName=C").status_code == 400  # taken, case-insensitively
    assert post(fake, "job/f/createItem?name=copy&mode=copy&from=b").status_code == 302
    assert fake.items["f/copy"].description == fake.items["f/b"].description and fake.build_numbers("f/copy") == []
    assert post(fake, "createItem?name=x&mode=copy&from=missing").status_code == 400


def test_disable_enable_and_folder_like_items_export_jobs(fake, server):
    server.create_job("a", JOB)
    fake.add_build("a")
    assert post(fake, "job/a/disable").status_code == 302
    assert fake.items["a"].disabled and server.get_job_info("a")["color"] == "disabled"
    assert post(fake, "job/a/enable").status_code == 302
    assert not fake.items["a"].disabled and fake.build_numbers("a") == [1]
    mb = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
    fake.put("mb", f"<{mb}><description/></{mb}>")
    fake.put("mb/main", "<flow-definition><description/></flow-definition>")
    data = server.get_info(query="?tree=jobs[name,jobs[name]]")
    assert {"_class": mb, "name": "mb", "jobs": [{"_class": PIPELINE, "name": "main"}]} in data["jobs"]
    assert post(fake, "job/mb/disable").status_code == 404
