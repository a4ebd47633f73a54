"""The YAML loader's named limits: size, depth, documents, values (aliases expanded).

A file past a limit is refused with a ConfigError that names the limit and the file, quickly,
never with a RecursionError or a stall (issue: a 3,000-deep file sent with SIGHUP blocked a
server for seconds and logged a 3,000-line RecursionError).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import atlas_canvas._yaml
from atlas_canvas._cli import main
from atlas_canvas._config import load_config, parse_config
from atlas_canvas._errors import ConfigError
from atlas_canvas._yaml import (
    MAX_CONFIG_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_DOCUMENTS,
    MAX_YAML_NODES,
    load_documents,
)

#: Generous: refusing takes well under a second here; the point is "not a stall".
QUICK_SECONDS = 3.0


def refused(text: str, filename: str = "deep.yml") -> tuple[ConfigError, float]:
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_documents(text, filename)
    return info.value, time.perf_counter() - t0


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 3000 + "]" * 3000 + "\n", id="flow-sequences"),
        pytest.param("{a: " * 3000 + "x" + "}" * 3000 + "\n", id="flow-mappings"),
        pytest.param("- " * 3000 + "x\n", id="block-sequences"),
        pytest.param("".join(" " * i + "- \n" for i in range(700)), id="block-indented"),
        pytest.param("spec:\n  a: " + "[" * 3000, id="unclosed"),
    ],
)
def test_deep_nesting_is_refused_quickly(text: str) -> None:
    err, seconds = refused(text)
    assert "MAX_YAML_DEPTH" in str(err) and f"{MAX_YAML_DEPTH} levels" in str(err)
    assert str(err).startswith("deep.yml:")
    assert err.file == "deep.yml"
    assert seconds < QUICK_SECONDS, seconds


def test_depth_at_the_limit_loads() -> None:
    depth = MAX_YAML_DEPTH - 1  # the scalar inside is one level too
    docs = load_documents("[" * depth + "x" + "]" * depth + "\n", "ok.yml")
    node = docs[0].data
    for _ in range(depth - 1):
        node = node[0]
    assert node == ["x"]
    with pytest.raises(ConfigError, match="MAX_YAML_DEPTH"):
        load_documents("[" * (depth + 1) + "x" + "]" * (depth + 1) + "\n", "deep.yml")


def test_deep_file_through_load_config_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.yml"
    path.write_text("kind: Atlas\nspec:\n  x: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ConfigError, match="MAX_YAML_DEPTH") as info:
        load_config(path)
    assert info.value.file == str(path) and info.value.line == 3
    assert main(["atlas", "config", "validate", "-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "MAX_YAML_DEPTH" in err and str(path) in err
    assert "RecursionError" not in err and "Traceback" not in err


def test_file_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    with path.open("wb") as fh:  # sparse: 1 GiB that would take long to read or parse
        fh.truncate(1 << 30)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.perf_counter() - t0 < QUICK_SECONDS
    assert "MAX_CONFIG_BYTES" in str(info.value)
    assert info.value.file == str(path)
    assert str(info.value).startswith(str(path))


def test_size_limit_is_exact(tmp_path: Path) -> None:
    body = "kind: Atlas\n"
    at_limit = body + "#" * (MAX_CONFIG_BYTES - len(body) - 1) + "\n"
    assert len(at_limit.encode()) == MAX_CONFIG_BYTES
    assert load_documents(at_limit, "f.yml")[0].data["kind"] == "Atlas"
    with pytest.raises(ConfigError, match="MAX_CONFIG_BYTES"):
        load_documents(at_limit + "#", "f.yml")
    # Bytes, not characters: 'é' is two bytes in UTF-8.
    wide = body + "#" + "é" * (MAX_CONFIG_BYTES // 2) + "\n"
    assert len(wide) < MAX_CONFIG_BYTES < len(wide.encode())
    with pytest.raises(ConfigError, match="MAX_CONFIG_BYTES"):
        load_documents(wide, "f.yml")
    path = tmp_path / "f.yml"
    path.write_text(at_limit + "#")
    with pytest.raises(ConfigError, match="MAX_CONFIG_BYTES"):
        load_config(path)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    err, seconds = refused("\n".join(lines) + "\n", "bomb.yml")
    assert "MAX_YAML_NODES" in str(err) and "aliases" in str(err)
    assert str(err).startswith("bomb.yml:")
    assert seconds < QUICK_SECONDS, seconds


def test_a_few_aliases_are_fine() -> None:
    docs = load_documents("a: &h {name: X, value: y}\nb: [*h, *h]\n", "f.yml")
    assert docs[0].data["b"][1]["name"] == "X"


def test_value_count_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real limit needs a 100 KB file that takes seconds to parse; the rule is the same.
    assert MAX_YAML_NODES == 20_000
    monkeypatch.setattr(atlas_canvas._yaml, "MAX_YAML_NODES", 100)
    # The root mapping, the key, the list and its items: 3 + n values.
    load_documents("a: [" + ", ".join(["1"] * 97) + "]\n", "many.yml")
    err, _ = refused("a: [" + ", ".join(["1"] * 98) + "]\n", "many.yml")
    assert "more than 100 values" in str(err) and "MAX_YAML_NODES" in str(err)
    # Values count across documents.
    err, _ = refused(("---\na: [" + ", ".join(["1"] * 50) + "]\n") * 2, "many.yml")
    assert "MAX_YAML_NODES" in str(err)


def test_document_count_limit() -> None:
    ok = "---\na: 1\n" * MAX_YAML_DOCUMENTS
    assert len(load_documents(ok, "f.yml")) == MAX_YAML_DOCUMENTS
    err, seconds = refused(ok + "---\na: 1\n", "docs.yml")
    assert "MAX_YAML_DOCUMENTS" in str(err)
    assert err.line == 2 * MAX_YAML_DOCUMENTS + 1
    assert seconds < QUICK_SECONDS


def test_limits_apply_to_parse_config() -> None:
    with pytest.raises(ConfigError, match="MAX_YAML_DEPTH"):
        parse_config("kind: Atlas\nspec: " + "[" * 100 + "]" * 100 + "\n", "p.yml", environ={})
