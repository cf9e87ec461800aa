"""earmark serve: the local web app (FastAPI).

Its routes call the same library services as the CLI. :func:`create_app` builds the app;
:func:`serve` runs it under uvicorn.
"""

from earmark.web.app import create_app
from earmark.web.server import Address, running, serve

__all__ = ["Address", "create_app", "running", "serve"]
