"""Runs before every other Ray test: earmark's own local Ray cluster contacts nothing but
127.0.0.1. A default Ray start probes the cloud-metadata address 169.254.169.254 and binds the
machine's interface address; here `earmark scan --engine ray` (which starts, uses and stops a
cluster of its own) runs under ``strace -f -e trace=connect`` and every connect of every
process it starts must go to a Unix socket or a loopback address."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from raytools import RAY_TESTS, earmark, outside_connects

from music import gtzan_clip, transcode

pytestmark = RAY_TESTS


def test_trace_parser_flags_every_non_loopback_connect():
    trace = "\n".join([
        '101 connect(3, {sa_family=AF_UNIX, sun_path="/tmp/x/sockets/raylet"}, 110) = 0',
        '101 connect(4, {sa_family=AF_INET, sin_port=htons(6379), '
        'sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '102 connect(5, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '103 connect(6, {sa_family=AF_INET, sin_port=htons(80), '
        'sin_addr=inet_addr("169.254.169.254")}, 16) = -1 ENETUNREACH',
        '104 connect(7, {sa_family=AF_INET, sin_port=htons(53), '
        'sin_addr=inet_addr("8.8.8.8")}, 16) = 0',
        '105 connect(8, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "fd00::2", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '106 connect(9, {sa_family=AF_UNSPEC, sa_data="..."}, 16) = 0',
        '107 <... connect resumed>) = 0',
    ])
    outside, loopback = outside_connects(trace)
    assert loopback == 2
    assert [re.search(r'"([^"]+)"', line)[1] for line in outside] == [
        "169.254.169.254", "8.8.8.8", "fd00::2"]


def test_earmarks_local_ray_cluster_connects_only_to_loopback(tmp_path):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace (Debian package) is needed to watch the cluster's connects")
    music = tmp_path / "music"
    music.mkdir()
    transcode(gtzan_clip("blues"), music / "blues.flac", "flac", seconds=4)
    trace = tmp_path / "connect.trace"
    done = earmark("scan", music, "--engine", "ray", "--db", tmp_path / "catalog.sqlite",
                   "--json", prefix=[strace, "-f", "-qq", "-e", "trace=connect", "-o", trace])
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line)["action"] for line in done.stdout.splitlines()] == ["added"]
    outside, loopback = outside_connects(trace.read_text(errors="replace"))
    assert outside == []
    # The trace did follow the cluster's processes: they talk to each other over 127.0.0.1.
    assert loopback > 10
