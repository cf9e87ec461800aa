"""The catalog (SQLite): storage in :mod:`.db`, one module per kind of knowledge beside it."""

from earmark.catalog.db import SCHEMA_VERSION, Catalog, catalog_file, default_catalog_path

__all__ = ["SCHEMA_VERSION", "Catalog", "catalog_file", "default_catalog_path"]
