"""Plugin discovery: entry points loaded once, ragserve's own first, broken ones skipped."""

from __future__ import annotations

import logging
import sys
import threading
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragserve.embed.registry import embedder_kinds
from ragserve.ingest.loaders import registered_loaders
from ragserve.llm.kinds import chat_kinds
from ragserve.plugins import BUILTIN_ENTRY_POINTS, PluginLoader, load_plugins
from tests.conftest import ROOT
from tests.plugin_package import write_distribution

# A group of its own, so these tests never touch the process's real plugins.
GROUP = "ragserve-unit-test"

RECORDER = """
CALLS = []
"""


def recording_plugin(label: str, *, delay_s: float = 0.0) -> str:
    return f"""
    import time
    import recorder

    def register():
        time.sleep({delay_s})
        recorder.CALLS.append({label!r})
    """


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for fake distributions; their modules are unloaded afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    write_distribution(tmp_path, "recorder-support", {}, {"recorder": RECORDER}, group=GROUP)
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if Path(getattr(module, "__file__", None) or "/").is_relative_to(tmp_path):
            del sys.modules[name]


def recorded() -> list[str]:
    import recorder

    return list(recorder.CALLS)


def test_builtins_declared_in_pyproject_are_the_fallback_list() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["ragserve"] == dict(BUILTIN_ENTRY_POINTS)


def test_builtins_register_through_the_plugin_path() -> None:
    loaded = {plugin.name: plugin for plugin in load_plugins()}
    for name, value in BUILTIN_ENTRY_POINTS:
        assert loaded[name].value == value and loaded[name].error is None
    assert {lo.kind for lo in registered_loaders()} >= {"pdf", "docx", "html", "markdown", "text"}
    assert set(embedder_kinds()) >= {"onnx", "sentence-transformers", "openai"}
    assert set(chat_kinds()) >= {"openai", "ollama", "embedded"}


def test_a_broken_plugin_is_logged_by_name_and_skipped(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = {"good_plugin": recording_plugin("good")}
    write_distribution(site, "rsv-good", {"good": "good_plugin:register"}, good, group=GROUP)
    write_distribution(
        site,
        "rsv-broken",
        {"missing": "no_such_module:register", "raises": "raising_plugin:register"},
        {"raising_plugin": "def register():\n    raise RuntimeError('needs a licence key')\n"},
        group=GROUP,
    )
    with caplog.at_level(logging.WARNING, logger="ragserve.plugins"):
        plugins = {plugin.name: plugin for plugin in PluginLoader(GROUP).load()}

    assert plugins["good"].error is None
    assert recorded() == ["good"]
    assert plugins["missing"].error == "ModuleNotFoundError: No module named 'no_such_module'"
    assert plugins["raises"].error == "RuntimeError: needs a licence key"
    messages = [record.getMessage() for record in caplog.records]
    assert (
        "plugin 'missing' (no_such_module:register, from rsv-broken) failed to load and is "
        "skipped: ModuleNotFoundError: No module named 'no_such_module'"
    ) in messages
    assert (
        "plugin 'raises' (raising_plugin:register, from rsv-broken) failed to load and is "
        "skipped: RuntimeError: needs a licence key"
    ) in messages


def test_the_first_distribution_loads_first_then_the_others_by_name(site: Path) -> None:
    for dist, label in [("zz-core", "core"), ("bb-plugin", "bb"), ("aa-plugin", "aa")]:
        module = label + "_plugin"
        write_distribution(
            site, dist, {label: f"{module}:register"}, {module: recording_plugin(label)},
            group=GROUP,
        )  # fmt: skip
    PluginLoader(GROUP, first="zz-core").load()
    # Later registrations replace earlier ones of the same kind: a plugin beats a built-in.
    assert recorded() == ["core", "aa", "bb"]


def test_missing_own_metadata_falls_back_to_the_builtin_list_and_says_so(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_distribution(
        site, "core-code", {}, {"core_plugin": recording_plugin("core")}, group=GROUP
    )
    loader = PluginLoader(GROUP, first="core-dist", fallback=[("core", "core_plugin:register")])
    with caplog.at_level(logging.WARNING, logger="ragserve.plugins"):
        plugins = loader.load()
    assert [(p.name, p.error) for p in plugins] == [("core", None)]
    assert recorded() == ["core"]
    assert "core-dist's installed metadata declares no" in caplog.text
    assert "pip install -e ." in caplog.text


def test_concurrent_first_calls_load_each_plugin_once(site: Path) -> None:
    write_distribution(
        site, "slow-plugin", {"slow": "slow_plugin:register"},
        {"slow_plugin": recording_plugin("slow", delay_s=0.2)}, group=GROUP,
    )  # fmt: skip
    loader = PluginLoader(GROUP)
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append([p.name for p in loader.load()]))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert recorded() == ["slow"]
    assert results == [["slow"]] * 8
    assert [p.name for p in loader.load()] == ["slow"]


def test_a_plugin_that_reads_the_registries_while_loading_sees_those_loaded_before_it(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = PluginLoader(GROUP)
    # What a plugin reaching a registry (which calls load_plugins) does, made observable.
    monkeypatch.setitem(sys.modules, "plugin_hook", types.SimpleNamespace(loader=loader))
    reader = """
    import recorder, plugin_hook

    def register():
        recorder.CALLS.append([p.name for p in plugin_hook.loader.load()])
    """
    write_distribution(site, "a-first", {"first": "first_plugin:register"},
                       {"first_plugin": recording_plugin("first")}, group=GROUP)  # fmt: skip
    write_distribution(site, "b-reader", {"reader": "reader_plugin:register"},
                       {"reader_plugin": reader}, group=GROUP)  # fmt: skip
    assert [p.name for p in loader.load()] == ["first", "reader"]
    assert recorded() == ["first", ["first"]]
