"""After deploying v1 then v2 (twice): what an operator would check on each host."""

from __future__ import annotations

import json
import urllib.request

import yaml

DEPLOY_TO = "/srv/sample"


def current_release(host) -> str:
    link = host.file(f"{DEPLOY_TO}/current")
    assert link.is_symlink
    return link.linked_to


def test_current_points_at_the_v2_release(host, v2_commit):
    release = current_release(host)
    assert release.startswith(f"{DEPLOY_TO}/releases/")
    assert host.file(f"{release}/REVISION").content_string.strip() == v2_commit
    record = json.loads(host.file(f"{DEPLOY_TO}/.deployctl/releases/{release.rsplit('/', 1)[1]}.json").content_string)
    assert record["state"] == "active"
    assert record["commit"] == v2_commit
    assert record["ref"] == "v2"
    assert record["schema_version"] == "20240201000000"


def test_v1_is_kept_as_the_rollback_target(host):
    releases = host.file(f"{DEPLOY_TO}/releases").listdir()
    assert len([r for r in releases if not r.startswith(".")]) == 2
    records = [json.loads(host.file(f"{DEPLOY_TO}/.deployctl/releases/{r}.json").content_string) for r in releases]
    assert sorted(r["state"] for r in records) == ["active", "built"]


def test_config_is_readable_by_the_app_only(host):
    config = host.file(f"{current_release(host)}/config/production.yml")
    assert config.mode == 0o640
    assert config.user == "root"
    assert config.group == "sample"


def test_the_v2_migration_is_in_the_database(host):
    config = yaml.safe_load(host.file(f"{current_release(host)}/config/production.yml").content_string)
    db = config["database"]
    # psql reads the password from the environment of this one command on the host.
    query = host.run(
        "PGPASSWORD=%s psql -h %s -U %s -d %s -tAc %s",
        db["password"],
        db["host"],
        db["username"],
        db["name"],
        "SELECT version FROM schema_migrations ORDER BY version",
    )
    assert query.rc == 0, query.stderr
    assert query.stdout.split() == ["20240101000000", "20240201000000"]


def test_the_app_service_is_running(host):
    service = host.service("sample")
    assert service.is_running
    assert service.is_enabled


def test_the_app_answers_with_v2(host, v2_commit):
    port = host.ansible.get_variables()["harness_http_port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/up", timeout=10) as response:
        status, body = response.status, json.loads(response.read())
    assert status == 200
    assert body["revision"] == v2_commit
    assert body["version"] == "v2"
    assert body["schema_version"] == 20240201000000


def test_journal_records_two_deploys_only(host):
    events = [
        json.loads(line) for line in host.file(f"{DEPLOY_TO}/.deployctl/journal.jsonl").content_string.splitlines()
    ]
    assert [e["event"] for e in events if e["event"] == "switched"] == ["switched", "switched"]
    assert all(e["host"] == host.backend.get_hostname() for e in events)
