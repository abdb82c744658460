# Benchmark recorder for benchmarks/deploy_bench.py (not part of the collection).
#
# Writes a JSON file ($KUBEBIN_BENCH_OUT) with, for each task as the linear strategy runs
# it: its role, name, start and end (wall clock, from its start to the next task's start),
# and per host the number of results by status. Enabled by the benchmark through
# ANSIBLE_CALLBACK_PLUGINS and ANSIBLE_CALLBACKS_ENABLED; prints nothing.
from __future__ import annotations

DOCUMENTATION = """
name: kubebin_bench
type: aggregate
short_description: record task timings and per-host result counts to a JSON file
description:
  - Used by benchmarks/deploy_bench.py of kubebin.cluster; writes $KUBEBIN_BENCH_OUT.
requirements:
  - enable in configuration
"""

import json
import os
import time
from collections import defaultdict

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kubebin_bench"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._tasks = []
        self._current = None
        self._counts = defaultdict(lambda: defaultdict(int))
        self._started = time.time()

    def _close_current(self):
        if self._current is not None:
            self._current["end"] = time.time()
            self._tasks.append(self._current)
            self._current = None

    def _start(self, task, kind):
        self._close_current()
        role = task._role.get_name(include_role_fqcn=False) if task._role else ""
        self._current = {"role": role, "name": task.get_name(), "kind": kind, "start": time.time()}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task, "task")

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task, "handler")

    def _count(self, result, status):
        self._counts[result._host.get_name()][status] += 1

    def v2_runner_on_ok(self, result):
        self._count(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._count(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._count(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._close_current()
        out = os.environ.get("KUBEBIN_BENCH_OUT")
        if not out:
            return
        data = {
            "wall": time.time() - self._started,
            "tasks": self._tasks,
            "hosts": {h: dict(c) for h, c in self._counts.items()},
        }
        with open(out, "w", encoding="utf-8") as f:
            json.dump(data, f)
