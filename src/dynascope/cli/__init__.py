"""Command-line interface (typer + rich): `dynascope tasks|models|train|runs|show|demo|analyze|compare|report`."""

from dynascope.cli._app import app, main

__all__ = ["app", "main"]
