"""Command-line interface (typer + rich): `dynascope tasks|models|train|ablate|specialize|runs|show|demo|analyze|compare|report|data|experiment`."""

from dynascope.cli._app import app, main

# Each command module registers its commands on `app` when imported; `_app` itself imports none of them, so
# the command modules can import `app` from it without a loop.
from dynascope.cli import ablation, analysis, commands, compare, data, demo, experiment, report, score, specialization  # noqa: E402,F401,I001

__all__ = ["app", "main"]
