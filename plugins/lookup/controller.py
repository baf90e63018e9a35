# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is deploying from where: recorded in the lock, used to spot dead holders."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: controller
short_description: This controller's name, the running ansible-playbook's PID, and the live Ansible PIDs
description:
  - Returns one mapping with C(host) (this controller's host name), C(pid) (the PID of the
    ansible-playbook process running this play) and C(live_pids) (PIDs of all processes on
    this controller whose command line mentions ansible).
  - A deploy lock whose holder names this controller and a PID missing from C(live_pids)
    belongs to a deploy that died (kill -9, a crash); M(deployctl.core.deploy_lock) takes it over.
version_added: 0.1.0
author: deployctl contributors
"""

EXAMPLES = r"""
- name: Record the controller
  ansible.builtin.set_fact:
    controller: "{{ lookup('deployctl.core.controller') }}"
"""

RETURN = r"""
_raw:
  description: One mapping with C(host), C(pid), C(live_pids).
  type: list
  elements: dict
"""

import os
import socket

from ansible.plugins.lookup import LookupBase


def ansible_pids(proc: str = "/proc") -> list[int]:
    pids = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, "cmdline"), "rb") as handle:
                argv = handle.read().split(b"\0")[:3]
        except OSError:
            continue
        if any(b"ansible" in arg for arg in argv):
            pids.append(int(name))
    return sorted(pids)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        # Lookups run in a worker process forked from ansible-playbook itself.
        return [{"host": socket.gethostname(), "pid": os.getppid(), "live_pids": ansible_pids()}]
