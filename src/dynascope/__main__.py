"""`python -m dynascope` runs the command-line interface."""

from dynascope.cli import main

main()
