"""Shared fixtures of the unit tests: the module runner, an upstream git repository, deploy_to.

Everything here is real: git repositories, directories, users. Nothing is mocked, but for
the commands that would change this machine itself (systemctl, useradd): `fake_commands`
puts stand-ins on PATH that record how they were called.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

CASES = Path(__file__).parent / "cases"
APP_USER = "nobody"


def run_module(module: ModuleType, args: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
    """Run `module.main()` in this process with `args`; return its parsed JSON result.

    The exit status must agree with the result: 1 when failed, 0 otherwise.
    """
    module_args = dict(args)
    if check_mode:
        module_args["_ansible_check_mode"] = True
    out = io.StringIO()
    with patch_module_args(module_args), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        module.main()
    result: dict[str, Any] = json.loads(out.getvalue())
    assert exited.value.code == (1 if result.get("failed") else 0), result
    return result


def load_cases(name: str) -> list[Any]:
    """The cases of tests/unit/cases/NAME.yml as pytest params; `xfail: why` marks a known bug."""
    cases = yaml.safe_load((CASES / f"{name}.yml").read_text(encoding="utf-8"))
    return [
        pytest.param(case, id=case["id"], marks=[pytest.mark.xfail(strict=True, reason=case["xfail"])])
        if case.get("xfail")
        else pytest.param(case, id=case["id"])
        for case in cases
    ]


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on a free port of 127.0.0.1 answering with `handler`, in a thread; yields its URL (/up)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/up"
    finally:
        httpd.shutdown()
        httpd.server_close()


def tree(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under `root` with its mode, owner, group and link target or size: a snapshot."""
    snapshot = {}
    for directory, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = os.path.normpath(os.path.join(directory, name))
            st = os.lstat(path)
            what = os.readlink(path) if stat.S_ISLNK(st.st_mode) else str(st.st_size if stat.S_ISREG(st.st_mode) else 0)
            snapshot[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, st.st_gid, what)
    return snapshot


def journal(deploy_to: Path) -> list[dict[str, Any]]:
    path = deploy_to / ".deployctl" / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def state(deploy_to: Path, release_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((deploy_to / ".deployctl" / "releases" / f"{release_id}.json").read_text())
    return data


# -- upstream git repository ----------------------------------------------------

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "TZ": "UTC",
    "LC_ALL": "C",
}


def git(cwd: Path, *args: str, date: str = "2024-01-01T00:00:00+00:00") -> str:
    env = dict(os.environ, **GIT_ENV, GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class Upstream:
    path: Path
    url: str
    v1: str
    v2: str


@pytest.fixture(scope="session")
def upstream_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository: v1 (lightweight tag), v2 (annotated tag, adds a migration), main = v2."""
    base = tmp_path_factory.mktemp("upstream")
    work = base / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    files = {
        "Gemfile": "source 'https://rubygems.org'\n",
        "config/application.rb": "# app\n",
        "log/.keep": "",
        "db/migrate/20240101000000_y.rb": "# y\n",
    }
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(content)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "v1")
    git(work, "tag", "v1")
    (work / "db/migrate/20240201000000_x.rb").write_text("# x\n")
    date = "2024-02-01T00:00:00+00:00"
    git(work, "add", "-A", date=date)
    git(work, "commit", "-q", "-m", "v2", date=date)
    git(work, "tag", "-a", "-m", "v2", "v2", date=date)
    bare = base / "app.git"
    git(base, "clone", "-q", "--bare", str(work), str(bare))
    return bare


@pytest.fixture
def upstream(upstream_template: Path, tmp_path: Path) -> Upstream:
    """A private copy of the upstream repository (tests may push to it)."""
    path = tmp_path / "upstream" / "app.git"
    shutil.copytree(upstream_template, path, symlinks=True)
    return Upstream(
        path=path,
        url=f"file://{path}",
        v1=git(path, "rev-parse", "v1^{commit}"),
        v2=git(path, "rev-parse", "v2^{commit}"),
    )


@pytest.fixture
def deploy_to(tmp_path: Path) -> Path:
    """Root of the application; it does not exist yet (the first deploy creates it)."""
    return tmp_path / "srv" / "shop"


@pytest.fixture
def open_deploy_to() -> Iterator[Path]:
    """A deploy_to whose ancestors the app user may traverse, for commands run as that user.

    pytest's tmp_path is under a 0700 directory that only root may enter.
    """
    base = Path(tempfile.mkdtemp(prefix="deployctl-unit-", dir="/tmp"))
    base.chmod(0o711)
    try:
        yield base / "shop"
    finally:
        shutil.rmtree(base)


def staged_args(deploy_to: Path, upstream: Upstream, release_id: str, **overrides: Any) -> dict[str, Any]:
    """Arguments of release state=staged as the deploy role passes them."""
    args: dict[str, Any] = {
        "deploy_to": str(deploy_to),
        "state": "staged",
        "release_id": release_id,
        "repo_url": upstream.url,
        "version": "v1",
        "app_user": APP_USER,
        "shared_dirs": ["log", "tmp/pids"],
        "config_content": "production:\n  secret_key_base: s3cr3t-do-not-leak\n",
        "deployed_by": "alice",
        "host_label": "web1",
    }
    args.update(overrides)
    return args


def release_to(deploy_to: Path, release_id: str, state: str, **overrides: Any) -> dict[str, Any]:
    """Run release with `state` (built, active, failed ...) for `release_id`; it must succeed."""
    from ansible_collections.deployctl.core.plugins.modules import release

    result = run_module(release, {"deploy_to": str(deploy_to), "state": state, "release_id": release_id, **overrides})
    assert not result.get("failed"), result["msg"]
    return result


def switch_diff(deploy_to: Path, before: str | None, after: str) -> dict[str, str]:
    """The diff release state=active reports for `current` moved from release `before` (None: no link) to `after`."""
    current = str(deploy_to / "current")
    return {
        "before": f"current -> releases/{before}\n" if before else "",
        "after": f"current -> releases/{after}\n",
        "before_header": current,
        "after_header": current,
    }


def stage_and_build(deploy_to: Path, upstream: Upstream, release_id: str, **overrides: Any) -> dict[str, Any]:
    """Stage and publish a release, as a deploy does before the switch; return the staged result."""
    from ansible_collections.deployctl.core.plugins.modules import release

    staged = run_module(release, staged_args(deploy_to, upstream, release_id, **overrides))
    assert not staged.get("failed"), staged["msg"]
    release_to(deploy_to, release_id, "built")
    return staged


def deploy(deploy_to: Path, upstream: Upstream, release_id: str, **overrides: Any) -> dict[str, Any]:
    """Stage, build and activate a release, as a successful deploy does; return the staged result."""
    staged = stage_and_build(deploy_to, upstream, release_id, **overrides)
    release_to(deploy_to, release_id, "active")
    return staged


# -- stand-ins for the commands that change the machine itself -------------------------

FAKE_COMMAND = """#!{python}
import json, pathlib, sys, time
here = pathlib.Path(__file__).parent
argv = [pathlib.Path(sys.argv[0]).name, *sys.argv[1:]]
with open(here / "calls.jsonl", "a", encoding="utf-8") as log:
    log.write(json.dumps(argv) + "\\n")
answers = json.loads((here / "answers.json").read_text(encoding="utf-8"))
# The answer for the longest prefix of the command line that has one.
answer = max(
    (a for a in answers if argv[: len(a["argv"])] == a["argv"]), key=lambda a: len(a["argv"]), default={{}}
)
time.sleep(answer.get("sleep", 0))
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""


class FakeCommands:
    """Executables first on PATH that record each call and answer as told (exit 0, no output by default)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.answers: list[dict[str, Any]] = []
        (bin_dir / "answers.json").write_text("[]")

    def add(self, *names: str) -> None:
        for name in names:
            path = self.bin_dir / name
            path.write_text(FAKE_COMMAND.format(python=sys.executable))
            path.chmod(0o755)

    def answer(self, *argv: str, rc: int = 0, stdout: str = "", stderr: str = "", sleep: float = 0) -> None:
        """How a call whose command line starts with `argv` answers (from now on, instead of before)."""
        self.answers = [answer for answer in self.answers if answer["argv"] != list(argv)]
        self.answers.append({"argv": list(argv), "rc": rc, "stdout": stdout, "stderr": stderr, "sleep": sleep})
        (self.bin_dir / "answers.json").write_text(json.dumps(self.answers))

    def calls(self) -> list[list[str]]:
        """The command lines run so far, in order, each as its argv (the name without its directory)."""
        log = self.bin_dir / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fake_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
    """Stand-ins first on PATH: add the commands a test needs, then read the calls they got."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return FakeCommands(bin_dir)
