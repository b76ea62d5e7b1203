"""The fake Jenkins behaves like Jenkins where python-jenkins and jobsync depend on it."""

from __future__ import annotations

import jenkins
import pytest
import requests

JOB = "<?xml version='1.0' encoding='UTF-8'?><project><description>d &amp; é</description><builders/></project>"
FOLDER = "<com.cloudbees.hudson.plugins.folder.Folder><description/></com.cloudbees.hudson.plugins.folder.Folder>"


@pytest.fixture
def server(fake):
    return jenkins.Jenkins(fake.url, username=fake.user, password=fake.token, timeout=10)


def test_python_jenkins_round_trip(fake, server):
    server.create_job("a", JOB)
    assert server.get_version() == "2.462.3"  # after auth is resolved, as against a locked-down Jenkins
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
    headers = {"Jenkins-Crumb": fake.crumb, "Content-Type": "application/xml"}
    auth = (fake.user, fake.token)
    r = requests.post(fake.url + "createItem?name=a", data=JOB, headers=headers, auth=auth, timeout=5)
    assert r.status_code == 400
    r = requests.post(fake.url + "job/missing/createItem?name=x", data=JOB, headers=headers, auth=auth, timeout=5)
    assert r.status_code == 404
    with pytest.raises(jenkins.JenkinsException, match="folder"):
        server.create_job("missing/x", JOB)
    r = requests.post(fake.url + "createItem?name=a%3Ab", data=JOB, headers=headers, auth=auth, timeout=5)
    assert r.status_code == 400


def test_auth_and_csrf(fake):
    assert requests.get(fake.url + "api/json", timeout=5).status_code == 403
    root = requests.get(fake.url, auth=(fake.user, fake.token), timeout=5)
    assert root.status_code == 200 and root.headers["X-Jenkins"] == "2.462.3"
    bad = requests.get(fake.url + "api/json", auth=(fake.user, "wrong"), timeout=5)
    assert bad.status_code == 401 and bad.headers["X-Jenkins"] == "2.462.3"
    auth = (fake.user, fake.token)
    r = requests.post(fake.url + "createItem?name=x", data=JOB, auth=auth, timeout=5)
    assert r.status_code == 403 and "crumb" in r.text
    crumb = requests.get(fake.url + "crumbIssuer/api/json", auth=auth, timeout=5).json()
    r = requests.post(
        fake.url + "createItem?name=x",
        data=JOB,
        auth=auth,
        timeout=5,
        headers={crumb["crumbRequestField"]: crumb["crumb"]},
    )
    assert r.status_code == 200


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
