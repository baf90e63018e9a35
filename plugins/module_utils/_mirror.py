# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cached bare mirror of the application's repository on each host.

Each deploy fetches only the delta into the mirror, resolves the requested ref
to a commit, and exports that commit (no .git) into a staging directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator

from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError

FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# What `git clone --mirror` fetches: every ref of the remote, not only heads and tags.
MIRROR_REFSPEC = "+refs/*:refs/*"


class MirrorError(DeployError):
    """A git operation failed; `stderr` is git's own words (also a detail of the failure).

    `input_error` is true when the user can fix it by changing what they asked for
    (an unknown ref, a commit with submodules), false when the repository could not
    be reached or read (network, permissions, a broken mirror).
    """

    def __init__(self, message: str, stderr: str = "", input_error: bool = False) -> None:
        super().__init__(message, input_error=input_error, stderr=stderr)
        self.stderr = stderr


class Mirror:
    def __init__(self, path: str, url: str, ssh_command: str | None = None) -> None:
        self.path = path
        self.url = url
        self.env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        if ssh_command:
            self.env["GIT_SSH_COMMAND"] = ssh_command

    def _git(self, *args: str, cwd_repo: bool = True) -> str:
        argv = ["git", *(["--git-dir", self.path] if cwd_repo else []), *args]
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env)
        if proc.returncode != 0:
            raise MirrorError(f"git {args[0]} failed (exit {proc.returncode})", proc.stderr.strip())
        return proc.stdout

    def exists(self) -> bool:
        return os.path.isfile(os.path.join(self.path, "HEAD"))

    def update(self, ref: str) -> None:
        """Bring the mirror up to date with the remote, cloning it on the first deploy.

        A full commit SHA already in the mirror needs no fetch at all. Raises MirrorError
        when the remote cannot be cloned or fetched.
        """
        if not self.exists():
            try:
                self._git("clone", "--mirror", "--quiet", self.url, self.path, cwd_repo=False)
            except MirrorError as err:
                raise MirrorError(f"cannot clone {self.url} into {self.path}", err.stderr) from err
            return
        if FULL_SHA.match(ref) and self.has_commit(ref):
            return
        if self._git("config", "--get", "remote.origin.url").strip() != self.url:
            self._git("remote", "set-url", "origin", self.url)
        try:
            self._git("fetch", "--prune", "--prune-tags", "--force", "--quiet", "origin")
        except MirrorError as err:
            raise MirrorError(f"cannot fetch {self.url} into {self.path}", err.stderr) from err

    def has_commit(self, sha: str) -> bool:
        proc = subprocess.run(
            ["git", "--git-dir", self.path, "cat-file", "-e", sha + "^{commit}"],
            capture_output=True,
            env=self.env,
        )
        return proc.returncode == 0

    def resolve(self, ref: str) -> str:
        for candidate in (ref, f"refs/tags/{ref}", f"refs/heads/{ref}"):
            proc = subprocess.run(
                ["git", "--git-dir", self.path, "rev-parse", "--verify", "--quiet", candidate + "^{commit}"],
                capture_output=True,
                text=True,
                env=self.env,
            )
            if proc.returncode == 0:
                return proc.stdout.strip()
        raise MirrorError(
            f"ref {ref!r} is not a branch, tag or commit of {self.url}; "
            f"known refs include: {', '.join(self.known_refs()[:10]) or 'none'}",
            input_error=True,
        )

    @contextlib.contextmanager
    def preview(self, ref: str) -> Iterator[tuple[Mirror, str]]:
        """Resolve `ref` as `update` + `resolve` would, leaving the mirror untouched (check mode).

        Yields a throwaway repository that holds the commit (read it with `list_dir`,
        `submodules`) and the commit. The scratch repository borrows the mirror's
        objects (alternates), so only what the mirror lacks crosses the network.
        """
        with tempfile.TemporaryDirectory(prefix="deployctl-preview-") as tmp:
            scratch = Mirror(tmp, self.url)
            scratch.env = self.env
            scratch._git("init", "--quiet", "--bare", tmp, cwd_repo=False)
            if self.exists():
                with open(os.path.join(tmp, "objects", "info", "alternates"), "w", encoding="utf-8") as handle:
                    handle.write(os.path.join(os.path.abspath(self.path), "objects") + "\n")
            if FULL_SHA.match(ref) and self.has_commit(ref):
                # `update` fetches nothing for it either: this works offline too.
                yield scratch, scratch.resolve(ref)
                return
            try:
                # A branch or tag name: fetch only its history, the cheapest way to learn it.
                scratch._git("fetch", "--quiet", "--no-tags", self.url, f"+{ref}:refs/preview")
            except MirrorError:
                # Not a name the remote advertises: an abbreviated or unadvertised commit,
                # an expression such as v1~2, or nothing at all. The real deploy resolves
                # it against a mirror that holds every ref of the remote, so get the same
                # refs (and, with the borrowed objects, the same objects) and resolve the
                # same way: the same commit, or the same "not a branch, tag or commit".
                scratch.fetch_all()
                commit = scratch.resolve(ref)
            else:
                try:
                    commit = scratch._git("rev-parse", "--verify", "refs/preview^{commit}").strip()
                except MirrorError as err:
                    # For instance a tag of a tree or a blob.
                    raise MirrorError(
                        f"ref {ref!r} of {self.url} does not point at a commit", err.stderr, input_error=True
                    ) from err
            yield scratch, commit

    def fetch_all(self) -> None:
        """Fetch every ref of the remote, as the mirror's own fetch does."""
        try:
            self._git("fetch", "--quiet", "--force", self.url, MIRROR_REFSPEC)
        except MirrorError as err:
            raise MirrorError(f"cannot fetch {self.url}", err.stderr) from err

    def log(self, since: str | None, until: str, limit: int = 100) -> tuple[list[dict[str, str]], int]:
        """The commits `until` holds and `since` lacks, newest first (at most `limit`: commit, author, date
        (ISO 8601), subject), and how many commits `since` holds that `until` lacks (an older or diverged
        commit leaves those out). Without `since` (nothing live), the newest `limit` of `until`.
        Raises MirrorError."""
        span = f"{since}..{until}" if since else until
        out = self._git("log", f"--max-count={limit}", "--format=%H%x1f%an%x1f%aI%x1f%s", span, "--")
        commits = [dict(zip(("commit", "author", "date", "subject"), line.split("\x1f"), strict=True))
                   for line in out.splitlines() if line]  # fmt: skip
        behind = int(self._git("rev-list", "--count", f"{until}..{since}", "--").strip()) if since else 0
        return commits, behind

    def known_refs(self) -> list[str]:
        out = self._git("for-each-ref", "--sort=-creatordate", "--format=%(refname:short)", "refs/tags", "refs/heads")
        return out.split()

    def refs_containing(self, commit: str) -> list[str]:
        """Short names of the branches and tags whose history holds `commit`. Raises MirrorError."""
        out = self._git("for-each-ref", "--contains", commit, "--format=%(refname:short)", "refs/heads", "refs/tags")
        return out.split()

    def list_dir(self, commit: str, directory: str) -> list[str]:
        """File names under `directory` at `commit` (empty when it does not exist)."""
        proc = subprocess.run(
            ["git", "--git-dir", self.path, "ls-tree", "--name-only", f"{commit}:{directory}"],
            capture_output=True,
            text=True,
            env=self.env,
        )
        return proc.stdout.split() if proc.returncode == 0 else []

    def submodules(self, commit: str) -> list[str]:
        """Paths of the submodules that `.gitmodules` at the root of `commit` declares.

        Empty when there is no `.gitmodules` or it declares no path. `git archive`
        leaves submodule directories empty, so a release cannot hold them.
        """
        blob = f"{commit}:.gitmodules"
        exists = subprocess.run(
            ["git", "--git-dir", self.path, "cat-file", "-e", blob], capture_output=True, env=self.env
        )
        if exists.returncode != 0:
            return []
        # -z: a path may hold spaces or even newlines; each entry is "key\nvalue\0".
        proc = subprocess.run(
            ["git", "--git-dir", self.path, "config", "-z", "--blob", blob, "--get-regexp", r"^submodule\..*\.path$"],
            capture_output=True,
            text=True,
            env=self.env,
        )
        if proc.returncode == 1 and not proc.stderr.strip():
            return []  # exit 1 without a message: no submodule path in the file
        if proc.returncode != 0:
            raise MirrorError(
                f"the app's .gitmodules at {commit} cannot be parsed, so deployctl cannot tell which git "
                "submodules it declares (a release cannot include submodules): fix or remove .gitmodules",
                proc.stderr.strip(),
                input_error=True,
            )
        return [entry.split("\n", 1)[1] for entry in proc.stdout.split("\0") if "\n" in entry]

    def export(self, commit: str, destination: str) -> None:
        """Write the tree of `commit` into `destination` (which must exist)."""
        archive = subprocess.Popen(
            ["git", "--git-dir", self.path, "-c", "tar.umask=022", "archive", "--format=tar", commit],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        extract = subprocess.run(
            ["tar", "-x", "--no-same-owner", "-C", destination],
            stdin=archive.stdout,
            capture_output=True,
            text=True,
        )
        assert archive.stdout is not None
        archive.stdout.close()
        archive_err = archive.stderr.read().decode(errors="replace") if archive.stderr else ""
        if archive.wait() != 0 or extract.returncode != 0:
            raise MirrorError(f"cannot export {commit} into {destination}", archive_err + extract.stderr)
