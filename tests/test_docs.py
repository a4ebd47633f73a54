"""The README and docs/deploy stay honest: every command they show exists with the flags they
use, the error table matches the error tree, and the deployment files are consistent."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from ruamel.yaml import YAML

from atlas_canvas import _errors
from atlas_canvas._cli import cli
from atlas_canvas._config import parse_config
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DEPLOY = ROOT / "docs" / "deploy"

# Codes that never reach an Atlas client as an error body, with the reason.
_NOT_ON_THE_WIRE = {
    "ATLAS_UsageError": "command-line misuse, printed by mom, exit 2",
    "ATLAS_HTTPStatusError": "the upstream's own status and body are passed back unchanged",
    "ATLAS_UpstreamError": "base class; its subclasses carry the codes",
}


def _shell_commands(text: str) -> list[list[str]]:
    """``mom ...`` command lines in the ```sh blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("mom "):
                commands.append(shlex.split(line))
    return commands


def _resolve(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The click command ``argv`` (starting with ``mom``) names, and the rest of argv."""
    assert argv[0] in ("mom", "atlas-canvas"), argv
    command: click.Command = cli
    rest = argv[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"no command {rest[0]!r} in {argv}"
        command, rest = sub, rest[1:]
    assert not isinstance(command, click.Group), f"{argv} names a group, not a command"
    return command, rest


def _check_options(command: click.Command, args: list[str], where: str) -> None:
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for arg in args:
        if arg.startswith("-") and arg != "-":
            flag = arg.split("=", 1)[0]
            assert flag in known, f"{where}: {command.name} has no option {flag}"


def test_readme_keeps_the_two_commands_and_the_makefile_has_them() -> None:
    assert "make demo" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_every_mom_command_in_the_readme_exists_with_its_flags() -> None:
    commands = _shell_commands(README)
    assert len(commands) >= 8
    for argv in commands:
        command, rest = _resolve(argv)
        _check_options(command, rest, "README")


def test_command_table_names_real_commands() -> None:
    rows = re.findall(r"^\| `(mom [^`]*)` \|", README, flags=re.M)
    assert len(rows) >= 8
    for row in rows:
        words = row.replace("[", " ").replace("]", " ").replace("\\|", " ").split()
        command, rest = _resolve(words)
        _check_options(command, [w for w in rest if w.startswith("-")], f"table row {row!r}")


def test_error_table_matches_the_error_tree() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| (\d{3}) \|", README, flags=re.M))
    classes = [
        c
        for c in vars(_errors).values()
        if isinstance(c, type) and issubclass(c, _errors.AtlasError)
    ]
    codes = {c.code: c.http_status for c in classes if c.code not in _NOT_ON_THE_WIRE}
    assert set(rows) == set(codes), (
        f"undocumented: {sorted(set(codes) - set(rows))}; unknown: {sorted(set(rows) - set(codes))}"
    )
    for code, status in codes.items():
        assert int(rows[code]) == status, code


def test_every_declared_dependency_is_explained() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    section = README.split("## Dependencies", 1)[1].split("\n## ", 1)[0]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    # Packages the Makefile installs itself (with --no-deps, to keep a requirement out) are
    # dependencies too, and need the same explanation.
    makefile = (ROOT / "Makefile").read_text()
    for line in re.findall(r"pip install [^\n]*--no-deps([^\n]*)", makefile):
        declared += re.findall(r"'([^']+)'", line)
    assert any(r.startswith("jupysql") for r in declared), "the Makefile's --no-deps install moved"
    for requirement in declared:
        name = re.match(r"[A-Za-z0-9_.-]+(\[[^\]]*\])?", requirement)
        assert name is not None, requirement
        if name.group(0).startswith("atlas-canvas"):
            continue
        assert f"**{name.group(0)}**" in section, f"README does not say why {requirement} is there"
    # ...and it names nothing that is no longer declared.
    names = {re.match(r"[A-Za-z0-9_.-]+(\[[^\]]*\])?", r).group(0) for r in declared}  # type: ignore[union-attr]
    for bold in re.findall(r"\*\*([A-Za-z0-9_.\[\]-]+)\*\*", section):
        assert bold in names, f"README explains {bold}, which nothing installs"


def test_readme_links_and_pictures_exist() -> None:
    for target in re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)\)", README):
        assert (ROOT / target).exists(), target


# ------------------------------------------------------------------ docs/deploy


def _yaml_docs(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d]


def test_kubernetes_example_is_consistent() -> None:
    docs = _yaml_docs(DEPLOY / "kubernetes.yaml")
    by_kind = {d["kind"]: d for d in docs}
    assert {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} <= set(by_kind)
    deployment = by_kind["Deployment"]
    assert deployment["spec"]["replicas"] >= 2  # the server keeps no state
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command, rest = _resolve(["mom", *container["args"]])
    assert command.name == "run"
    _check_options(command, rest, "kubernetes.yaml")
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthcheck"
    # The secrets come from one Secret, created by the documented command with every variable
    # the config uses plus the access token.
    (source,) = container["envFrom"]
    secret = source["secretRef"]["name"]
    text = (DEPLOY / "kubernetes.yaml").read_text()
    assert f"kubectl create secret generic {secret}" in text
    config_text = by_kind["ConfigMap"]["data"]["atlas.yml"]
    cfg = parse_config(config_text, "kubernetes.yaml#atlas.yml", environ={})
    variables = {v for a in cfg.http_adapters for v in a.secret_variables} | {"ATLAS_ACCESS_TOKEN"}
    for var in variables:
        assert f"--from-literal={var}=" in text, var
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert rest[rest.index("-f") + 1].startswith(mounts["config"])
    assert rest[rest.index("--certfile") + 1].startswith(mounts["tls"])
    selector = by_kind["Service"]["spec"]["selector"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def _exec_start(unit: str) -> list[str]:
    joined = unit.replace("\\\n", " ")
    (line,) = [ln for ln in joined.splitlines() if ln.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_systemd_unit_runs_a_real_command() -> None:
    unit = (DEPLOY / "atlas.service").read_text()
    argv = _exec_start(unit)
    assert argv[0].endswith("/mom")
    command, rest = _resolve(["mom", *argv[1:]])
    assert command.name == "run"
    _check_options(command, rest, "atlas.service")
    assert "EnvironmentFile=" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit


def test_systemd_unit_verifies() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    r = subprocess.run(
        ["systemd-analyze", "verify", str(DEPLOY / "atlas.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        ln
        for ln in (r.stdout + r.stderr).splitlines()
        # The only expected complaint: this machine has no /opt/atlas-canvas install.
        if ln.strip() and "is not executable" not in ln
    ]
    assert problems == []


def test_dockerfile_command_exists() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    entry = re.search(r'^ENTRYPOINT \["mom"\]', text, re.M)
    cmd = re.search(r"^CMD (\[.*\])", text, re.M)
    assert entry and cmd
    import json

    command, rest = _resolve(["mom", *json.loads(cmd.group(1))])
    assert command.name == "run"
    _check_options(command, rest, "Dockerfile")
