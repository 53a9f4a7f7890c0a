"""What the server does to the host for fast, faithful sandboxes."""

import os

import pytest


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups)")
def test_server_favours_cgroup_moves(server):
    # Every cold start moves its first process into its own cgroups. Without favordynmods each
    # move waits for an RCU grace period (5-15 ms); the server mounts or remounts a cgroup
    # hierarchy with it at start.
    with open("/proc/self/mountinfo") as f:
        cgroup_options = [
            line.split(" - ", 1)[1].split()[2]
            for line in f
            if " - cgroup" in line
        ]
    assert any("favordynmods" in opts.split(",") for opts in cgroup_options), cgroup_options
