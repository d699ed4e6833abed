"""Each action exists once (:mod:`kit.ops`): export, status and stop give the
same result from the ``%stream`` magics, the ``kit`` command and the Streams
panel's server API; an export never starts a broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from IPython.core.error import UsageError

import kit
from kit import process
from kit.chain.capture import kernel_chain
from kit.cli import main
from tests.conftest import produce_json
from tests.server.test_handlers import _call, _notebook, server  # noqa: F401

pytestmark = pytest.mark.slow

# A step on messy records: a missing field, a number sent as a string, a
# nested object, a field that only appears late.
MESSY = [
    {"_key": f"m{i % 3}", "v": i, "meta": {"site": "a" if i % 2 else "b"}}
    for i in range(30)
] + [
    {"_key": "m0", "meta": {"site": "c"}},  # no v
    {"_key": "m1", "v": "7"},  # a string where numbers were: a conflict
    {"_key": "m2", "v": 40, "late": True},  # a field seen first now
]


def _cells(topic: str) -> list[str]:
    return [
        "import polars as pl",
        "%%stream helpers\nLIMIT = 3",
        f"%%stream fast --input {topic}\n"
        "df.filter(pl.col('v') > LIMIT).with_columns(w=pl.col('v') * 2)",
    ]


def _written(folder: Path) -> dict[str, str]:
    """What must be the same whichever front end exported: the step code,
    the schema, the parity sample and its expectations."""
    steps = (folder / "steps.py").read_text()
    # Its first line names where the chain came from: the kernel or the file.
    files = {"steps.py": steps.replace("from messy.ipynb", "from a notebook", 1)}
    files["schema.json"] = (folder / "schema.json").read_text()
    for path in sorted((folder / "parity").iterdir()):
        files[f"parity/{path.name}"] = path.read_text()
    return files


def test_export_writes_the_same_service_from_every_front_end(
    server: dict[str, Any],  # noqa: F811
    ip_session: Any,
    connection: kit.Connection,
    topic: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    produce_json(connection, topic, MESSY)
    root: Path = server["root"]
    _notebook(root / "messy.ipynb", _cells(topic))
    kernel_chain().steps.clear()
    kernel_chain().helpers.clear()
    try:
        *first, step = _cells(topic)
        for cell in first:
            ip_session.run_cell(cell)
        with pytest.warns(kit.KitWarning, match="Skipped 1 bad record"):
            ip_session.run_cell(step)  # the prototype: "7" is a conflict
        ip_session.run_line_magic("stream", f"export {root / 'by-magic'} --name fast")
        assert "with its parity test" in capsys.readouterr().out
    finally:
        kernel_chain().steps.clear()
        kernel_chain().helpers.clear()
    by_cli = CliRunner().invoke(
        main, ["export", str(root / "messy.ipynb"), str(root / "by-cli"), "--name",
               "fast", "--broker", str(connection.address)],
    )  # fmt: skip
    assert by_cli.exit_code == 0, by_cli.output
    status, body = _call(
        server, "POST", "export", {"notebook": "messy.ipynb", "outdir": "by-server",
                                   "name": "fast"},
    )  # fmt: skip
    assert status == 200 and body["parity"], body
    magic, cli, api = (_written(root / d) for d in ("by-magic", "by-cli", "by-server"))
    assert magic == cli == api
    names = {d: sorted(p.name for p in (root / d).iterdir()) for d in ("by-magic", "by-cli", "by-server")}  # fmt: skip
    assert (
        names["by-magic"]
        == names["by-cli"]
        == names["by-server"]
        == sorted(body["files"])
    )
    # The sample holds the bad record too, and its expected dead letter.
    dead = next(v for k, v in magic.items() if k.startswith("parity/dead"))
    assert '\\"7\\"' in dead or '"7"' in dead, dead


def test_an_export_error_reads_the_same_from_every_front_end(
    server: dict[str, Any],  # noqa: F811
    ip_session: Any,
    connection: kit.Connection,
    topic: str,
) -> None:
    produce_json(connection, topic, MESSY)
    root: Path = server["root"]
    cells = [
        "import polars as pl",
        "%%stream helpers\napi_key = 'sk-12345678'",
        f"%%stream s --input {topic}\ndf.filter(pl.col('v') > 3)",
    ]
    _notebook(root / "secret.ipynb", cells)
    kernel_chain().steps.clear()
    kernel_chain().helpers.clear()
    try:
        with pytest.warns(kit.KitWarning, match="Skipped 1 bad record"):
            for cell in cells:
                ip_session.run_cell(cell)  # the prototype runs
        with pytest.raises(UsageError) as magic:
            ip_session.run_line_magic("stream", f"export {root / 'x1'}")
    finally:
        kernel_chain().steps.clear()
        kernel_chain().helpers.clear()
    cli = CliRunner().invoke(
        main, ["export", str(root / "secret.ipynb"), str(root / "x2")]
    )
    status, body = _call(
        server, "POST", "export", {"notebook": "secret.ipynb", "outdir": "x3"}
    )
    message = str(magic.value)
    assert message.startswith("Cell 'helpers' holds what looks like a secret"), message
    assert cli.exit_code == 1 and cli.output.strip() == f"Error: {message}", cli.output
    assert status == 422 and body["error"] == message


def _service(folder: Path, name: str, connection: kit.Connection) -> process.Service:
    service = process.start_service(folder, name=name, connection=connection)
    process.wait_running(service)
    return service


def test_stop_and_status_match_names_one_way_everywhere(
    server: dict[str, Any],  # noqa: F811
    ip_session: Any,
    connection: kit.Connection,
    topic: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A name is a service's exact name when one has it, else a part of names:
    ``stop NAME`` never stops ``NAME-2`` beside ``NAME``."""
    from kit._export import export_chain
    from kit.chain.capture import Chain
    from kit.chain.step import CellStep

    chain = Chain()
    chain.add_step(CellStep("copy", "polars", topic, f"{topic}-out", "df"))
    folder = export_chain(chain, tmp_path / "svc", name="svc", topics=[topic])
    connection.create_topic(f"{topic}-out", partitions=2, exist_ok=True)
    name = f"fe-{uuid.uuid4().hex[:6]}"
    both = (name, f"{name}-2")

    def running() -> set[str]:
        return {s.name for s in process.list_services()} & set(both)

    try:
        for service in both:
            _service(folder, service, connection)
        # Status: the same services, each way.
        shown = CliRunner().invoke(main, ["status", name]).output
        assert f"{name}  pid" in shown and f"{name}-2  pid" not in shown
        _, api = _call(server, "GET", "services")
        assert set(both) <= {s["name"] for s in api["services"]}
        assert [s.name for s in kit.status(name).services] == [name]
        # Stop NAME: that one only, from each front end.
        ip_session.run_line_magic("stream", f"stop {name}")
        assert f"Stopped: {name}\n" in capsys.readouterr().out
        assert running() == {f"{name}-2"}
        _service(folder, name, connection)
        out = CliRunner().invoke(main, ["stop", name]).output
        assert f"Stopped: {name}\n" in out and running() == {f"{name}-2"}
        _service(folder, name, connection)
        status, body = _call(server, "POST", f"services/{name}/stop", body={})
        assert (
            status == 200 and body["stopped"] == [name] and running() == {f"{name}-2"}
        )
        # A part of names: every service with it.
        _service(folder, name, connection)
        out = CliRunner().invoke(main, ["stop", name[:-1]]).output
        stopped = out.split("Stopped: ", 1)[1].split("\n", 1)[0].split(", ")
        assert sorted(stopped) == sorted(both) and not running(), out
    finally:
        for service in both:
            process.stop_service(service)
        connection.delete_topics([f"{topic}-out"])


def test_kit_export_with_nothing_running_leaves_nothing_running(
    private_state: Path, tmp_path: Path, connection: kit.Connection, topic: str
) -> None:
    """No KIT_BROKER, no embedded broker in the state dir: the service is
    written without a sample, with how to get one, and no broker starts.
    A notebook that connects to an address records its sample there."""
    from kit import _broker

    env = {k: v for k, v in os.environ.items() if k != "KIT_BROKER"}
    env["KIT_STATE_DIR"] = str(private_state)
    nb = tmp_path / "chain.ipynb"
    _notebook(nb, _cells(topic))
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "export", str(nb), str(tmp_path / "svc")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "No parity test: no broker to read a sample from" in result.stdout
    assert (tmp_path / "svc" / "main.py").is_file()
    assert not (tmp_path / "svc" / "test_service.py").exists()
    time.sleep(0.5)
    assert _broker.running() is None  # (KIT_STATE_DIR is private_state here)
    # The address the notebook connects to is where its sample is read.
    produce_json(connection, topic, MESSY)
    _notebook(nb, [f"%stream connect {connection.address}", *_cells(topic)])
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "export", str(nb), str(tmp_path / "svc2"),
         "--json"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout.strip().splitlines()[-1])
    assert done["parity"] and "test_service.py" in done["files"], done
    assert _broker.running() is None
    # ... and where that broker does not answer, the service is written
    # without a sample, saying so (an export never needs a broker).
    _notebook(nb, ["%stream connect 127.0.0.1:1", *_cells(topic)])
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "export", str(nb), str(tmp_path / "svc3")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the broker the notebook connects to (127.0.0.1:1) did not answer" in (
        result.stdout
    )
    assert not (tmp_path / "svc3" / "test_service.py").exists()


def test_a_service_a_script_runs_outlives_it_and_a_wrong_name_says_so(
    connection: kit.Connection, topic: str, tmp_path: Path
) -> None:
    """kit.run from a script: the service (detached) keeps running after the
    script ends, under the name it was run as. kit.stop from another script
    names what it left running; a misspelt name gets the names there are."""
    from kit._export import export_chain
    from kit.chain.capture import Chain
    from kit.chain.step import CellStep

    chain = Chain()
    chain.add_step(CellStep("copy", "polars", topic, f"{topic}-out", "df"))
    folder = export_chain(chain, tmp_path / "svc", name="exported", topics=[topic])
    connection.create_topic(f"{topic}-out", partitions=2, exist_ok=True)
    name = f"script-{uuid.uuid4().hex[:6]}"
    script = (
        "import kit, warnings\n"
        f"kit.connect({connection.address!r})\n"
        f"kit.run({str(folder)!r}, name={name!r})\n"
    )
    try:
        ran = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0, ran.stderr
        time.sleep(2)
        service = next(s for s in process.list_services() if s.name == name)
        assert service.alive, "the service ended with the script"
        assert (service.status() or {}).get("service") == name
        stopper = (
            "import kit, warnings\n"
            "warnings.simplefilter('always')\n"
            f"print(kit.stop({name!r}).elsewhere)\n"
        )
        tried = subprocess.run(
            [sys.executable, "-c", stopper], capture_output=True, text=True, timeout=60
        )
        assert f"['{name}']" in tried.stdout
        assert "KitWarning" in tried.stderr and "all=True) stops it" in tried.stderr
        assert service.alive
        wrong = CliRunner().invoke(main, ["stop", name + "x"])
        assert wrong.exit_code == 1
        assert f"Did you mean {name!r}?" in wrong.output, wrong.output
        unknown = CliRunner().invoke(main, ["status", name + "x"])
        assert unknown.exit_code == 1 and f"Did you mean {name!r}?" in unknown.output
    finally:
        process.stop_service(name)
        connection.delete_topics([f"{topic}-out"])
