"""``kit demo`` (README command 1): broker, live telemetry, JupyterLab; its
Ctrl-C; ``--headless``; ``--check``; its errors; where it finds the notebook.

Each ``kit demo`` here is a real subprocess with a state directory of its own
(``private_state``), so it starts (and must stop) a broker of its own. The
browser half (open the printed URL, run the quickstart, live data within 5 s)
is ``tests/browser/test_demo.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

import kit
from kit._demo.feed import AttachedFeed
from kit._demo.notebook import find_notebook
from kit._errors import KitError

from .browser._lab import DEMO_URL, KitDemo, alive, isolated_jupyter_env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(base: Path) -> dict[str, str]:
    env = {**os.environ, **isolated_jupyter_env(base)}
    for name in ("KIT_BROKER", "KIT_HEADLESS"):
        env.pop(name, None)
    return env


def _broker_record(state: Path) -> dict[str, object] | None:
    try:
        data: dict[str, object] = json.loads((state / "broker.json").read_text())
    except FileNotFoundError:
        return None
    return data


def _get(url: str, token: str) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_demo_no_browser_serves_live_data_and_ctrl_c_stops_all(
    private_state: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    demo = KitDemo(
        ["--no-browser", "--dir", str(tmp_path / "work"), "--port", str(_free_port())],
        env=_env(tmp_path),
    )
    try:
        url = demo.wait_for(DEMO_URL, timeout=90)
        up = time.monotonic() - started
        base, token = f"http://127.0.0.1:{url.group(1)}", url.group(2)
        # One progress line per part, in order.
        labels = [line.split()[0] for line in demo.lines]
        assert labels[:5] == [
            "notebook",
            "broker",
            "producer",
            "jupyterlab",
            "jupyterlab",
        ]
        assert "started the embedded broker" in demo.output
        assert url.group(0).endswith(f"/lab/tree/quickstart.ipynb?token={token}")

        # JupyterLab answers (with the token only) and serves the quickstart copy.
        assert (tmp_path / "work" / "quickstart.ipynb").is_file()
        assert _get(f"{base}/api/status", token)
        model = _get(f"{base}/api/contents/quickstart.ipynb?content=0", token)
        assert model["type"] == "notebook"  # type: ignore[index]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/status", timeout=10)
        refused.value.close()
        assert refused.value.code == 403
        # A kernel, as opening the notebook would start: it must go too.
        request = urllib.request.Request(
            f"{base}/api/kernels",
            method="POST",
            data=b"{}",
            headers={"Authorization": f"token {token}"},
        )
        urllib.request.urlopen(request, timeout=30).close()

        # The topic receives data, tagged as kit demo's.
        record = _broker_record(private_state)
        assert record is not None
        conn = kit.connect(str(record["address"]))
        counts = []
        for _ in range(2):
            counts.append(
                {t.name: t.messages for t in conn.topics()}.get("telemetry", 0)
            )
            time.sleep(1.0)
        assert 0 < counts[0] < counts[1], counts
        consumer = conn.consumer(auto_offset_reset="earliest")
        consumer.subscribe(["telemetry"])
        try:
            message = None
            deadline = time.monotonic() + 15
            while message is None and time.monotonic() < deadline:
                candidate = consumer.poll(0.2)
                if candidate is not None and not candidate.error():
                    message = candidate
        finally:
            consumer.close()
        assert message is not None
        assert dict(message.headers() or [])["kit-demo"]
        assert set(json.loads(message.value())) >= {"car", "speed", "rpm", "gear"}

        # A notebook's `%stream demo telemetry` uses kit demo's producer...
        attached = kit.demo("telemetry", connection=conn)
        assert isinstance(attached, AttachedFeed) and attached.rate == 100
        assert "already produces demo telemetry into 'telemetry'" in attached.message()
        attached.stop()  # detaches only
        # ...while a bounded one produces its own, and kit demo's gives way.
        own = kit.demo("telemetry", rate=200, count=200, connection=conn)
        assert not isinstance(own, AttachedFeed)
        own.wait(15)
        demo.wait_for("producer    paused: another producer writes to 'telemetry'", 5)
        demo.wait_for("producer    resumed: no other producer for 3 s", 10)

        processes = demo.descendants()
        names = " ".join(" ".join(p.cmdline()) for p in processes)
        assert "jupyterlab" in names and "ipykernel" in names and "tansu" in names
    finally:
        code = demo.stop(signal.SIGINT)
    assert code == 0, demo.output
    assert alive(processes) == [], demo.output
    assert _broker_record(private_state) is None
    assert "stopped the embedded broker kit demo started" in demo.output
    assert "jupyterlab  stopped, with 1 kernel" in demo.output
    assert demo.lines[-1] == "stopped     everything kit demo started"
    print(f"kit demo up in {up:.1f} s; whole test {time.monotonic() - started:.1f} s")


@pytest.mark.slow
def test_demo_opens_the_browser_and_leaves_a_broker_it_did_not_start(
    private_state: Path, tmp_path: Path
) -> None:
    """Without --no-browser JupyterLab opens the notebook in the browser
    (``$BROWSER`` here: a script that notes what it was asked to open); a
    broker that ran before kit demo is used, and still runs after it."""
    from kit import _broker

    info, _ = _broker.start()
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    demo = KitDemo(
        ["--dir", str(tmp_path / "work"), "--port", str(_free_port())],
        env={**_env(tmp_path), "BROWSER": str(browser)},
    )
    try:
        url = demo.wait_for(DEMO_URL, timeout=90).group(0)
        assert f"already running at {info.address}" in demo.output
        assert "opening it in your browser" in demo.wait_for("^ready ", 10).string
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # JupyterLab opens a page that redirects to the notebook's URL (so the
        # token is not on a command line).
        page = Path(opened.read_text().strip().removeprefix("file://"))
        assert url in page.read_text()
    finally:
        assert demo.stop(signal.SIGTERM) == 0, demo.output
    assert "stopped the embedded broker" not in demo.output
    assert _broker.running() == info


@pytest.mark.slow
def test_demo_headless_writes_executed_notebook_and_report(
    private_state: Path, tmp_path: Path
) -> None:
    """A short notebook (the quickstart's own headless run takes ~50 s and is
    tests/test_notebooks.py's): bounded live views, static outputs, HTML."""
    notebook = tmp_path / "short.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "%load_ext kit",
            "%stream connect",
            "%stream demo telemetry --rate 200",
            "%stream peek telemetry --rows 5 --from earliest --for 3s",
        )
    ]
    nbformat.write(nb, notebook)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "demo", "--headless",
         "--notebook", str(notebook), "--dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=180, env=_env(tmp_path),
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    executed = tmp_path / "out" / "short.executed.ipynb"
    report = tmp_path / "out" / "short.html"
    assert f"notebook    {executed}" in result.stdout
    assert f"report      {report}" in result.stdout
    outputs = json.dumps(
        [c.get("outputs") for c in json.loads(executed.read_text())["cells"]]
    )
    assert "kit-table" in outputs  # the peek's final static table
    assert "widget-view+json" not in outputs  # no live widget left behind
    html = report.read_text()
    assert "<html" in html and "kit-table" in html and "speed" in html
    assert "producer" not in result.stdout  # headless: the notebook's demo only
    assert _broker_record(private_state) is None  # the broker it started: stopped
    assert took < 120, f"took {took:.0f} s"


_WAIT_FOR_WINDOWS = """\
deadline = time.monotonic() + 40
def windows_out():
    return next(s for s in live.status()["steps"] if s["name"] == "per_car")
while windows_out()["records_out"] == 0:
    assert time.monotonic() < deadline, f"the Quix step put no records out: {live.status()}"
    time.sleep(0.5)
print("quix step out:", windows_out()["records_out"], "late:", windows_out()["late"])
"""


def _quickstart_chain(path: Path) -> Path:
    """The quickstart without its bounded live views (peek, plot, topics: they
    only take time here), ending with a check that this run's Quix window
    step put records out."""
    quickstart = nbformat.read(  # type: ignore[no-untyped-call]
        Path(__file__).parents[1] / "notebooks" / "quickstart.ipynb", as_version=4
    )
    skipped = ("%stream peek", "%stream plot", "%stream topics")
    quickstart.cells = [
        cell
        for cell in quickstart.cells
        if cell.cell_type == "code" and not cell.source.startswith(skipped)
    ] + [nbformat.v4.new_code_cell(_WAIT_FOR_WINDOWS)]
    nbformat.write(quickstart, path)  # type: ignore[no-untyped-call]
    return path


@pytest.mark.slow
def test_demo_headless_runs_again_and_again_on_one_state_dir(
    private_state: Path, tmp_path: Path
) -> None:
    """The quickstart's chain (a Polars step, a Quix window step) run headless
    five times with one state directory: twice on a broker of kit demo's own
    (a new, empty one each time), then on a broker started by hand, again
    after that broker was restarted, and after the input topic was deleted
    and created again. Every run's Quix step puts windows out; its local
    state is reset where it belongs to a broker that is gone."""
    notebook = _quickstart_chain(tmp_path / "chain.ipynb")
    env = _env(tmp_path)

    def headless(run: int) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "kit.cli", "demo", "--headless", "--notebook",
             str(notebook), "--dir", str(tmp_path / f"out{run}")],
            capture_output=True, text=True, timeout=240, env=env,
        )  # fmt: skip
        assert result.returncode == 0, f"run {run}: " + result.stdout + result.stderr
        outputs = json.dumps(
            [c.get("outputs") for c in json.loads(
                (tmp_path / f"out{run}" / "chain.executed.ipynb").read_text()
            )["cells"]]
        )  # fmt: skip
        assert "quix step out:" in outputs, outputs[-3000:]
        assert "Traceback" not in outputs and "InvalidChangelogOffset" not in outputs
        return outputs

    first = headless(1)
    assert "Local state" not in first
    assert "Local state of 'kit-live-quix' deleted" in headless(2)

    def kit_broker(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "kit.cli", "broker", *args],
            check=True, capture_output=True, timeout=60, env=env,
        )  # fmt: skip

    kit_broker("start")
    try:
        assert "Local state of 'kit-live-quix' deleted" in headless(3)
        kit_broker("stop")
        kit_broker("start")
        assert "Local state of 'kit-live-quix' deleted" in headless(4)
        info = _broker_record(private_state)
        assert info is not None
        conn = kit.connect(str(info["address"]))
        conn.delete_topics(["telemetry"])
        conn.create_topic("telemetry", partitions=4)
        fifth = headless(5)  # the Polars step reads the new topic from its start
        assert "Local state" not in fifth
    finally:
        kit_broker("stop")


def test_demo_busy_port_is_a_clear_error_and_starts_nothing(
    private_state: Path, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "kit.cli", "demo", "--no-browser",
             "--dir", str(tmp_path / "work"), "--port", str(port)],
            capture_output=True, text=True, timeout=60, env=_env(tmp_path),
        )  # fmt: skip
    assert result.returncode == 1
    assert f"Error: Port {port} on 127.0.0.1 is in use" in result.stderr
    assert "--port" in result.stderr
    assert _broker_record(private_state) is None
    assert "broker" not in result.stdout


@pytest.mark.slow
def test_demo_reports_jupyterlab_failing_and_stops_the_rest(
    private_state: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path)
    config = Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json"
    config.write_text(json.dumps({"ServerApp": {"certfile": "/nonexistent/kit.pem"}}))
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "demo", "--no-browser",
         "--dir", str(tmp_path / "work"), "--port", str(_free_port())],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "Error: JupyterLab exited with code 1 at start" in result.stderr
    assert "/nonexistent/kit.pem" in result.stderr  # the log's last lines
    assert "producer    stopped after" in result.stdout
    assert "stopped the embedded broker kit demo started" in result.stdout
    assert _broker_record(private_state) is None


def test_demo_check_produces_and_reads_back(broker: object) -> None:
    """``kit demo --check``: the install works without JupyterLab."""
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "demo", "--check", "--topic", "check-demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KIT_BROKER": broker.address},  # type: ignore[attr-defined]
    )
    assert result.returncode == 0, result.stderr
    assert "Produced 20 telemetry records" in result.stdout
    assert "Read back 20 of 20 records" in result.stdout
    assert "speed" in result.stdout and "at-least-once" in result.stdout


# where the notebook is found ---------------------------------------------------
def _package(tmp_path: Path, *, clone: bool, shipped: bool) -> Path:
    """A fake installed ``kit`` folder: in a clone, or in site-packages."""
    root = tmp_path / ("clone" if clone else "site-packages")
    package = root / "kit"
    package.mkdir(parents=True)
    if clone:
        (root / "pyproject.toml").write_text("")
        (root / "notebooks").mkdir()
        (root / "notebooks" / "quickstart.ipynb").write_text('{"clone": 1}')
    if shipped:
        (package / "notebooks").mkdir()
        (package / "notebooks" / "quickstart.ipynb").write_text('{"shipped": 1}')
    return package


def test_find_notebook_in_a_clone_opens_it_in_place(tmp_path: Path) -> None:
    package = _package(tmp_path, clone=True, shipped=False)
    root, path = find_notebook(package=package, echo=lambda _: None)
    assert root == package.parent
    assert path == package.parent / "notebooks" / "quickstart.ipynb"


def test_find_notebook_installed_copies_it_into_a_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(tmp_path, clone=False, shipped=True)
    monkeypatch.chdir(tmp_path)
    lines: list[str] = []
    root, path = find_notebook(package=package, echo=lines.append)
    assert root == tmp_path / "kit-demo" and path == root / "quickstart.ipynb"
    assert path.read_text() == '{"shipped": 1}' and "copied from" in lines[0]
    # A second run keeps the copy (it may hold the user's edits).
    path.write_text('{"edited": 1}')
    find_notebook(package=package, echo=lines.append)
    assert path.read_text() == '{"edited": 1}' and "your copy" in lines[1]


def test_find_notebook_with_dir_copies_even_from_a_clone(tmp_path: Path) -> None:
    package = _package(tmp_path, clone=True, shipped=False)
    root, path = find_notebook(
        package=package, workdir=str(tmp_path / "w"), echo=lambda _: None
    )
    assert root == tmp_path / "w"
    assert path == tmp_path / "w" / "quickstart.ipynb"
    assert path.read_text() == '{"clone": 1}'


def test_find_notebook_missing_says_what_to_do(tmp_path: Path) -> None:
    package = _package(tmp_path, clone=False, shipped=False)
    with pytest.raises(KitError, match=r"not in this installation.*pip install -e"):
        find_notebook(package=package, echo=lambda _: None)
