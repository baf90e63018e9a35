"""A Rails app as `rails new -d postgresql` makes it, deployed by following the README alone.

The app is generated at test time inside the target image (offline, against Debian's gems);
the project adds only what the README's "Your Rails app" section tells a user to add, taken
from the README verbatim: the health route, the Makefile and the inventory variables. It runs
beside the sample app on the same hosts (its own user, /srv/blog, port 3001, its own database).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import secrets
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import INVENTORY, REPO_ROOT, VAULT_ID, Fleet
from tests.e2e.test_cli import Cli, deployctl
from tests.e2e.test_secrets import leaks_in_files
from tests.harness import podman, targets
from tests.harness.image import ensure_target_image

BLOG_TO = "/srv/blog"
PORT = 3001  # the sample app holds 3000 on these hosts
UNIT = "/etc/systemd/system/blog.service"
ROUTE_ANCHOR = "Rails.application.routes.draw do\n"

# What a developer runs on their machine (offline here: Debian's gems; `bundle lock` is what
# `bundle install` leaves behind to commit). --skip-javascript and --skip-webpack-install:
# no node on the hosts. Without --skip-git, rails writes its .gitignore (config/master.key).
GENERATE = """set -euo pipefail
cd /work
rails new blog -d postgresql --minimal --skip-bundle --skip-javascript --skip-webpack-install >/dev/null
cd blog
bundle lock --local >/dev/null
bin/rails generate scaffold Post title:string body:text >/dev/null
"""
ADD_MIGRATION = (
    "set -euo pipefail; cd /work/blog; bin/rails generate migration AddSummaryToPosts summary:string >/dev/null"
)


def readme_blocks() -> dict[str, str]:
    """The fenced blocks of the README's "Your Rails app" section, by language (ruby, make, yaml)."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("### Your Rails app", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^ *```(\w+)\n(.*?)^ *```$", section, flags=re.M | re.S)
    # The section's blocks are indented as list items: strip that indentation (tabs stay).
    return {lang: re.sub(r"^ {3}", "", body, flags=re.M) for lang, body in blocks}


def in_target_image(work: Path, script: str) -> None:
    """Run `script` in a throwaway container of the target image, /work mounted, no network."""
    podman.run("run", "--rm", "--network", "none", "-v", f"{work}:/work", ensure_target_image(), "bash", "-c", script)


def git(cwd: Path, *args: str) -> str:
    identity = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    return subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def commit_and_tag(app: Path, tag: str) -> str:
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", tag)
    git(app, "tag", tag)
    return git(app, "rev-parse", "HEAD").strip()


def encrypt(name: str, value: str) -> str:
    """`ansible-vault encrypt_string --stdin-name NAME`, as the README says (the value on stdin)."""
    proc = subprocess.run(
        [targets.tool("ansible-vault"), "encrypt_string", "--vault-id", VAULT_ID, "--stdin-name", name],
        input=value,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    return proc.stdout


@dataclass
class Blog:
    inventory: Path
    commits: dict[str, str]
    db_password: str
    master_key: str
    first_deploy: Cli

    @property
    def env(self) -> str:
        return str(self.inventory)


def create_database(fleet: Fleet, password: str) -> None:
    """The blog's role and database on the e2e database server (the password through stdin)."""
    prefix = next(iter(fleet.hosts.values()))["harness_prefix"]
    sql = (
        "DROP DATABASE IF EXISTS blog_production; DROP ROLE IF EXISTS blog;"
        f" CREATE ROLE blog LOGIN PASSWORD '{password}'; CREATE DATABASE blog_production OWNER blog;"
    )
    proc = subprocess.run(
        ["podman", "exec", "-i", "-u", "postgres", f"{prefix}-db", "psql", "-q", "-v", "ON_ERROR_STOP=1"],
        input=sql,
        capture_output=True,
        text=True,
        env=podman.environment(),
    )
    assert proc.returncode == 0, proc.stderr


def write_inventory(fleet: Fleet, root: Path, db_password: str, master_key: str) -> Path:
    """inventories/blog as the README's step 3 has a user write it, on the e2e hosts."""
    inventory = root / "blog"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    hosts = {h: {"ansible_port": v["ansible_port"]} for h, v in fleet.hosts.items()}
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"app": {"hosts": hosts}}}}))
    shutil.copy(INVENTORY / "group_vars/all/connection.yml", inventory / "group_vars/all/connection.yml")
    variables = yaml.safe_load(readme_blocks()["yaml"])
    variables.update(deploy_app_name="blog", deploy_repo_url="file:///srv/upstream/blog.git", deploy_app_port=PORT)
    (inventory / "group_vars/all/vars.yml").write_text("---\n" + yaml.safe_dump(variables))
    host = next(iter(fleet.hosts.values()))["sample_db_host"]
    url = f"postgres://blog:{urllib.parse.quote(db_password, safe='')}@{host}:5432/blog_production"
    vault = encrypt("vault_database_url", url) + encrypt("vault_rails_master_key", master_key)
    (inventory / "group_vars/all/vault.yml").write_text("---\n" + vault)
    return inventory


@pytest.fixture(scope="module")
def blog(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Blog]:
    """The app from `rails new` with the README's additions, v1 (scaffold) and v2 (a migration),
    in /srv/upstream/blog.git; its database; its inventory; v1 deployed with the CLI."""
    work = tmp_path_factory.mktemp("rails-new")
    in_target_image(work, GENERATE)
    app = work / "blog"
    blocks = readme_blocks()
    routes = (app / "config/routes.rb").read_text()
    (app / "config/routes.rb").write_text(routes.replace(ROUTE_ANCHOR, ROUTE_ANCHOR + "  " + blocks["ruby"], 1))
    (app / "Makefile").write_text(blocks["make"])
    assert "config/master.key" in git(app, "status", "--ignored", "--short"), "rails' .gitignore keeps the key out"
    commits = {"v1": commit_and_tag(app, "v1")}
    in_target_image(work, ADD_MIGRATION)
    commits["v2"] = commit_and_tag(app, "v2")
    upstream = targets.UPSTREAM / "blog.git"
    shutil.rmtree(upstream, ignore_errors=True)
    git(work, "clone", "-q", "--bare", str(app), str(upstream))

    db_password = "p@ss%w0rd/" + secrets.token_hex(8)  # URL-encoded in DATABASE_URL; '%' tests the escaping
    create_database(fleet, db_password)
    master_key = (app / "config/master.key").read_text().strip()
    inventory = write_inventory(fleet, tmp_path_factory.mktemp("inventories"), db_password, master_key)
    first = deployctl("deploy", str(inventory), "--ref", "v1", "--json")
    yield Blog(inventory, commits, db_password, master_key, first)
    for host in fleet.hosts:
        fleet.ssh(host, "systemctl disable --now blog 2>/dev/null; true")


class Browser:
    """A client with a cookie jar, talking to one host's app over the container network."""

    def __init__(self, fleet: Fleet, host: str) -> None:
        prefix = fleet.hosts[host]["harness_prefix"]
        self.base = f"http://{targets.container_ip(f'{prefix}-{host}')}:{PORT}"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str, str]:
        """(status, content type, body); redirects followed."""
        return self._open(path, None)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str, str]:
        return self._open(path, urllib.parse.urlencode(form).encode())

    def _open(self, path: str, data: bytes | None) -> tuple[int, str, str]:
        try:
            with self.opener.open(self.base + path, data, timeout=10) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type", ""), err.read().decode(errors="replace")


def current(fleet: Fleet, host: str) -> str:
    return fleet.ssh(host, f"readlink {BLOG_TO}/current").strip().rsplit("/", 1)[-1]


def psql(fleet: Fleet, host: str, blog: Blog, query: str) -> str:
    """A query as the app's database user, the password through stdin."""
    db_host = fleet.hosts[host]["sample_db_host"]
    return fleet.ssh(
        host,
        f'read -r PGPASSWORD; export PGPASSWORD; psql -h {db_host} -U blog -d blog_production -tAc "{query}"',
        stdin=blog.db_password + "\n",
    ).strip()


def test_a_record_made_through_the_scaffold_form_on_one_host_is_read_on_the_other(fleet: Fleet, blog: Blog):
    assert blog.first_deploy.rc == 0, blog.first_deploy.out + blog.first_deploy.err
    assert set(blog.first_deploy.outcomes().values()) == {"deployed"}
    web1, web2 = (Browser(fleet, host) for host in sorted(fleet.hosts))
    status, _, body = web1.get("/up")
    assert (status, body) == (200, f"ok {blog.commits['v1']}")

    # Without the form's token (no session) the app refuses: CSRF protection is on, with its key.
    assert web1.post("/posts", {"post[title]": "forged"})[0] == 422
    status, _, form = web1.get("/posts/new")
    assert status == 200
    token = re.search(r'name="authenticity_token" value="([^"]+)"', form)
    assert token, form[:2000]
    title = f"Hello from web1 {secrets.token_hex(4)}"
    status, _, page = web1.post(
        "/posts", {"authenticity_token": token.group(1), "post[title]": title, "post[body]": "first post"}
    )
    assert status == 200 and "Post was successfully created." in page, page[:2000]

    status, _, index = web2.get("/posts")
    assert status == 200 and title in index
    # The precompiled stylesheet, served by puma itself (RAILS_SERVE_STATIC_FILES from the README).
    asset = re.search(r'href="(/assets/application-[0-9a-f]+\.css)"', index)
    assert asset, index[:2000]
    status, content_type, css = web2.get(asset.group(1))
    assert status == 200 and content_type.startswith("text/css")
    assert re.search(r"margin:\s*33px", css), "the scaffold's stylesheet is in the precompiled asset"


def test_the_secrets_reach_the_app_and_nothing_else(fleet: Fleet, blog: Blog):
    output = blog.first_deploy.out + blog.first_deploy.err
    for host in fleet.hosts:
        release = f"{BLOG_TO}/current"
        assert fleet.ssh(host, f"stat -c '%a %U:%G' {release}/.deployctl-environment").strip() == "600 root:root"
        assert fleet.ssh(host, f"stat -c '%a %U:%G' {release}/config/master.key").strip() == "640 root:blog"
        unit = fleet.ssh(host, f"cat {UNIT}")
        assert f"EnvironmentFile={BLOG_TO}/current/.deployctl-environment" in unit
        for secret in (blog.db_password, urllib.parse.quote(blog.db_password, safe=""), blog.master_key):
            assert secret not in output
            assert secret not in unit
            assert leaks_in_files(fleet, host, secret, deploy_to=BLOG_TO) == []
            in_journal = fleet.ssh(
                host,
                "umask 077; cat > /root/.canary; journalctl --no-pager -u blog -u ssh | grep -cF -f /root/.canary;"
                " rm /root/.canary; true",
                stdin=secret + "\n",
            )
            assert in_journal.strip() == "0"


def test_a_release_without_the_credentials_key_is_refused_and_the_live_one_keeps_serving(fleet: Fleet, blog: Blog):
    live = {host: current(fleet, host) for host in fleet.hosts}
    keyless = json.dumps({"deploy_secret_environment": {"RAILS_LOG_LEVEL": "info"}, "deploy_secret_files": {}})

    run = deployctl("deploy", blog.env, "--ref", "v2", "-e", keyless, "--json")
    assert run.rc == 5, run.out + run.err
    for result in run.hosts.values():
        assert (result["outcome"], result["bad_input"]) == ("aborted", True)
        assert "config/credentials.yml.enc but no key" in result["message"]
    playbook = Fleet(blog.inventory).playbook("deploy.yml", "-e", "deploy_ref=v2", "-e", keyless)
    assert playbook.rc == 2
    assert "no key to read it" in playbook.output and "RAILS_MASTER_KEY" in playbook.output

    for host in fleet.hosts:
        assert current(fleet, host) == live[host]
        assert Browser(fleet, host).get("/up")[2] == f"ok {blog.commits['v1']}"


def test_logrotate_rotates_the_app_log_while_the_app_keeps_writing(fleet: Fleet, blog: Blog):
    for host in fleet.hosts:
        rule = "/etc/logrotate.d/blog"
        assert fleet.ssh(host, f"stat -c '%a %U:%G' {rule}").strip() == "644 root:root"
        Browser(fleet, host).get("/posts?before=rotation")
        fleet.ssh(host, f"logrotate -f {rule}")
        logs = fleet.ssh(host, f"ls {BLOG_TO}/shared/log").split()
        assert {"production.log", "production.log.1"} <= set(logs), logs
        assert 'GET "/posts?before=rotation"' in fleet.ssh(host, f"cat {BLOG_TO}/shared/log/production.log.1")
        Browser(fleet, host).get("/posts?after=rotation")
        after = fleet.ssh(host, f"cat {BLOG_TO}/shared/log/production.log")
        assert 'GET "/posts?after=rotation"' in after and "before=rotation" not in after


def test_a_migration_deploys_once_and_a_rollback_migrates_it_down(fleet: Fleet, blog: Blog):
    columns = "SELECT column_name FROM information_schema.columns WHERE table_name='posts' ORDER BY 1"
    host = sorted(fleet.hosts)[0]
    v1_release = {h: current(fleet, h) for h in fleet.hosts}

    run = deployctl("deploy", blog.env, "--ref", "v2", "--json")
    assert run.rc == 0, run.out + run.err
    assert "summary" in psql(fleet, host, blog, columns).split()
    for h in fleet.hosts:
        assert Browser(fleet, h).get("/up")[2] == f"ok {blog.commits['v2']}"
        assert "Hello from web1" in Browser(fleet, h).get("/posts")[2]

    back = deployctl("rollback", blog.env, "-e", "deploy_rollback_migrate_down=true", "--json")
    assert back.rc == 0, back.out + back.err
    assert "summary" not in psql(fleet, host, blog, columns).split()
    for h in fleet.hosts:
        assert current(fleet, h) == v1_release[h]
        assert Browser(fleet, h).get("/up")[2] == f"ok {blog.commits['v1']}"
        assert "Hello from web1" in Browser(fleet, h).get("/posts")[2]
