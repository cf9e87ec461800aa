"""Choosing the engine: ``EARMARK_ENGINE=ray`` / ``EARMARK_RAY_ADDRESS`` and the commands'
``--engine`` / ``--address`` options; no Ray cluster is needed to check the choice itself
(``tests/ray`` runs the engine on a real one)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from earmark.cli import app
from earmark.engine import LocalEngine, default_engine
from earmark.engine import ray as ray_engine
from earmark.settings import Settings, override_settings


@pytest.fixture
def fresh_shared_engine(monkeypatch):
    """No Ray engine made by an earlier test of this process."""
    monkeypatch.setattr(ray_engine, "_shared", None)


def test_the_ray_engine_and_its_address_come_from_the_environment():
    chosen = Settings.from_environ({"EARMARK_ENGINE": "ray",
                                    "EARMARK_RAY_ADDRESS": "10.0.0.5:6379"})
    assert (chosen.engine, chosen.ray_address) == ("ray", "10.0.0.5:6379")
    assert Settings.from_environ({}).ray_address is None


def test_default_engine_is_the_processs_one_ray_engine_on_the_settings_address(
        fresh_shared_engine):
    with override_settings(engine="ray", ray_address="10.0.0.5:6379", workers=3):
        engine = default_engine()
        # Made without connecting (that happens on first use), and shared by every batch.
        assert isinstance(engine, ray_engine.RayEngine) and engine.address == "10.0.0.5:6379"
        assert engine.workers == 3
        assert default_engine(5) is engine and engine.workers == 5
    with override_settings(engine="ray", ray_address="auto"):
        with pytest.raises(ray_engine.RayEngineError, match="already runs on the Ray cluster"):
            default_engine()
    with override_settings(engine="local"):
        assert isinstance(default_engine(2), LocalEngine) and default_engine(2).workers == 2


@pytest.mark.parametrize("order", [("--engine", "local", "--address", "10.0.0.5:6379"),
                                   ("--address", "10.0.0.5:6379", "--engine", "local")])
def test_address_with_the_local_engine_is_a_usage_error_before_any_work(order, tmp_path):
    db = tmp_path / "catalog.sqlite"
    result = CliRunner().invoke(app, ["scan", str(tmp_path), *order, "--db", str(db)])
    assert result.exit_code == 2
    assert "--address needs --engine ray" in result.output
    assert not db.exists()


def test_the_local_clusters_levers_keep_it_on_loopback_with_its_own_token(tmp_path):
    env = ray_engine.loopback_environment(tmp_path)
    assert env["HOME"] == str(tmp_path)  # where ray_bootstrap_config.yaml is
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert env["RAY_USAGE_STATS_ENABLED"] == "0"
    assert env["RAY_USAGE_STATS_REPORT_URL"].startswith("http://127.0.0.1:")
    assert (env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN_PATH"]) == (
        "token", str(tmp_path / "auth_token"))


def test_a_malformed_address_is_a_usage_error_before_any_work(tmp_path):
    db = tmp_path / "catalog.sqlite"
    result = CliRunner().invoke(app, ["scan", str(tmp_path), "--address", "nonsense",
                                      "--db", str(db)])
    assert result.exit_code == 2
    assert "the Ray address must be auto or HOST:PORT, not 'nonsense'" in result.output
    assert not db.exists()


def test_a_cluster_that_does_not_answer_fails_at_once_with_the_reason(tmp_path):
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "song.flac").write_bytes(b"not really audio")
    # A process of its own: this one may be connected to a Ray cluster already (tests/ray).
    result = subprocess.run([sys.executable, "-m", "earmark", "scan", tmp_path / "music",
                             "--address", address, "--db", tmp_path / "catalog.sqlite"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 3
    assert f"error: cannot reach the Ray cluster at {address}: Connection refused" in (
        result.stderr)
