"""earmark serve: the local web app (FastAPI).

Its routes call the same library services as the CLI.
"""
