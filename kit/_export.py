"""A chain → a service folder that runs anywhere Python and Kafka are.

Layout (plain Docker and Quix Cloud both take it)::

    main.py            entry point: builds the chain with kit_runtime
    steps.py           the captured helper and step cells, as functions
    kit_runtime/       the kit's runtime (no Jupyter dependency), copied
    requirements.txt   exact versions of this environment
    dockerfile, app.yaml, .env.example, README.md

The broker and topics come from environment variables (``KIT_BROKER`` or
``Quix__Broker__Address``, one ``TOPIC_<NAME>`` per topic), never from
literals. Live runs from a notebook execute this same code.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._parity import Samples
from ._service_files import (
    app_yaml,
    dockerfile,
    env_example,
    quix_yaml,
    readme,
    requirements,
    topic_variable,
)
from .chain.capture import Chain
from .chain.step import CellStep, ChainError, step_function_source

__all__ = ["export_chain", "topic_variable"]

RUNTIME = Path(__file__).parent / "runtime"


def export_chain(
    chain: Chain,
    outdir: str | Path,
    *,
    name: str,
    steps: Iterable[str] | None = None,
    source: str = "a notebook",
    topics: Iterable[str] | None = None,
    samples: Samples | None = None,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    replicas: int = 1,
    pipeline: bool = False,
) -> Path:
    """Write the service for ``steps`` (default: all) of ``chain`` to ``outdir``.

    Args:
        samples: from :func:`kit._parity.record_samples`; with them the
            folder gets a parity test (``test_service.py`` + ``parity/``)
            and each Polars step's input schema (``schema.json``).
        schemas: step name -> the nested schema of its input's values (for
            ``schema.json`` without samples: a live run's prototypes).
        replicas: the replica count written to app.yaml / quix.yaml.
        pipeline: also write a ``quix.yaml`` pipeline entry.
    """
    ordered = chain.ordered(steps)
    if not ordered:
        raise ChainError(
            f"{source} has no %%stream steps: nothing to export. Add a step cell "
            "(`%%stream NAME --input TOPIC` with a Polars expression on `df`), "
            "then export again."
        )
    chain.validate(ordered, topics=topics)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    runtime = out / "kit_runtime"
    if runtime.exists():
        shutil.rmtree(runtime)
    shutil.copytree(
        RUNTIME, runtime, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    imports = chain.needed_imports(ordered)
    (out / "steps.py").write_text(
        _steps_py(chain, ordered, imports, name=name, source=source)
    )
    (out / "main.py").write_text(_main_py(name, source))
    (out / "requirements.txt").write_text(requirements(imports))
    inputs, outputs = _topics(chain, ordered)
    (out / "dockerfile").write_text(dockerfile())
    (out / "app.yaml").write_text(app_yaml(name, inputs, outputs))
    (out / ".env.example").write_text(env_example(inputs, outputs))
    if pipeline:
        (out / "quix.yaml").write_text(quix_yaml(name, inputs, outputs, replicas))
    (out / "README.md").write_text(
        readme(name, source, ordered, chain, inputs, outputs, replicas)
    )
    if samples is not None:
        from ._parity import write_parity

        variables = {t: topic_variable(t) for t in [*inputs, *outputs]}
        write_parity(out, samples, variables)
        schemas = {**samples.schemas, **(schemas or {})}
    _write_schemas(out, ordered, schemas or {})
    return out


def _write_schemas(
    out: Path, steps: list[CellStep], schemas: Mapping[str, Mapping[str, Any]]
) -> None:
    """``schema.json``: each Polars step's input schema, as the notebook saw
    it; the service's decoders start from it (every batch, the first after a
    restart included, has these fields)."""
    import json

    from .runtime.schema import schema_to_json

    known = {
        s.name: {"input": s.input, "fields": schema_to_json(schemas[s.name])}
        for s in steps
        if s.kind == "polars" and schemas.get(s.name)
    }
    path = out / "schema.json"
    if not known:
        path.unlink(missing_ok=True)
        return
    doc = {
        "about": "The fields (and their types) of each Polars step's input, as the "
        "notebook saw them: every batch the step gets has them. New fields are "
        "added as they appear; a value of another type is a bad record (dead "
        "letter). Edit it to change the contract.",
        "steps": known,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _topics(chain: Chain, steps: list[CellStep]) -> tuple[list[str], list[str]]:
    outputs = [chain.output_topic(s) for s in steps]
    inputs = []
    for step in steps:
        topic = chain.topic_of(step.input)
        if topic not in outputs and topic not in inputs:
            inputs.append(topic)
    return inputs, outputs


def _steps_py(
    chain: Chain, steps: list[CellStep], imports: list[str], *, name: str, source: str
) -> str:
    parts = [
        f'"""The steps of service {name!r}, exported from {source} by jupyter-streamkit.\n\n'
        "Each function is one %%stream cell; helper cells come first. Topics are\n"
        'read from TOPIC_* environment variables (defaults: the notebook\'s topics)."""\n',
        "from __future__ import annotations\n",
        "import os\nfrom typing import Any\n\nimport polars as pl\n",
    ]
    if imports:
        # The service ships the runtime as kit_runtime (no kit installed).
        lines = [line.replace("kit.runtime", "kit_runtime") for line in imports]
        parts.append("\n".join(lines) + "\n")
    parts.append(
        "from kit_runtime.chain import Step\nfrom kit_runtime.schema import load_schemas\n"
    )
    for helper_name, helper in chain.helpers.items():
        parts.append(f"# --- %%stream helpers ({helper_name}) ---\n{helper.strip()}\n")
    for step in steps:
        parts.append(
            f"# --- {step.cell_line or '%%stream ' + step.name} ---\n"
            + step_function_source(step)
        )
    parts.append(
        "def topic(variable: str, default: str) -> str:\n"
        "    return os.environ.get(variable) or default\n"
    )
    parts.append(
        "# Each Polars step's input schema as the notebook saw it (schema.json).\n"
        "SCHEMAS = load_schemas(os.path.join(os.path.dirname(__file__), 'schema.json'))\n"
    )
    rows = []
    for step in steps:
        src, dst = chain.topic_of(step.input), chain.output_topic(step)
        func = step_function_source(step).split("(", 1)[0].removeprefix("def ")
        rows.append(
            f"    Step(\n        {step.name!r},\n        {step.kind!r},\n"
            f"        topic({topic_variable(src)!r}, {src!r}),\n"
            f"        topic({topic_variable(dst)!r}, {dst!r}),\n"
            f"        {func},\n"
            + (
                f"        schema=SCHEMAS.get({step.name!r}),\n"
                if step.kind == "polars"
                else ""
            )
            + "    ),"
        )
    parts.append("STEPS = [\n" + "\n".join(rows) + "\n]\n")
    # The service ships the runtime as kit_runtime (the kit is not installed).
    text = "\n\n".join(parts)
    return text.replace("from kit.runtime.", "from kit_runtime.").replace(
        "import kit.runtime.", "import kit_runtime."
    )


def _main_py(name: str, source: str) -> str:
    return textwrap.dedent(
        f'''\
        """Service {name!r}, exported from {source} by jupyter-streamkit.

        Run: KIT_BROKER=HOST:PORT python main.py   (or Quix__Broker__Address,
        or Quix__Sdk__Token on Quix Cloud). SIGTERM finishes the current batch,
        commits and exits 0.
        """

        from kit_runtime.service import main
        from steps import STEPS

        if __name__ == "__main__":
            main(STEPS, name={name!r})
        '''
    )
