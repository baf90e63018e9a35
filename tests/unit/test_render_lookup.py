"""deployctl.core.render: Ansible's template lookup without its deep copy of the task's variables, same output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.harness.targets import REPO_ROOT, tool

TEMPLATE = """\
# {{ ansible_managed }} ({{ template_path | basename }})
[Service]
{% for name, value in service_env.items() | sort %}
Environment={{ name }}={{ value }}
{% endfor %}
User={{ user | default('nobody') }}{{ extra }}
"""


def render(tmp_path: Path, expression: str, **extra_vars: object) -> object:
    """The value of a Jinja expression, templated by ansible's debug on localhost with the repository's ansible.cfg."""
    proc = subprocess.run(
        [tool("ansible"), "localhost", "-m", "ansible.builtin.debug", "-a", f"msg={{{{ {expression} }}}}",
         "-e", json.dumps({"path": str(tmp_path / "unit.j2"), **extra_vars}), "-o"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout.split("=>", 1)[1])["msg"]


def test_it_renders_what_the_builtin_template_lookup_renders(tmp_path: Path) -> None:
    (tmp_path / "unit.j2").write_text(TEMPLATE)
    variables = {"service_env": {"PORT": 3000, "RAILS_ENV": "production"}, "user": "shop"}

    both = render(
        tmp_path,
        "[lookup('deployctl.core.render', path, template_vars={'extra': '!'}),"
        " lookup('ansible.builtin.template', path, template_vars={'extra': '!'})]",
        **variables,
    )

    assert isinstance(both, list)
    ours, builtin = both
    assert ours == builtin
    assert "Environment=PORT=3000\nEnvironment=RAILS_ENV=production\nUser=shop!\n" in ours
    assert "(unit.j2)" in ours


def test_the_template_variables_stay_out_of_the_task_variables(tmp_path: Path) -> None:
    (tmp_path / "unit.j2").write_text("{{ template_path | basename }}")

    assert render(tmp_path, "[lookup('deployctl.core.render', path), template_path is defined]") == ["unit.j2", False]
