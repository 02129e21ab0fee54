"""Import and export of an organization's contacts as CSV or JSON Lines, straight on the database through the
domain rules (the same validation as the API), streaming in batches so memory stays bounded."""

from zcontacts.transfer.exporter import export_file
from zcontacts.transfer.formats import CSV_COLUMNS, RowError, format_of
from zcontacts.transfer.importer import ImportReport, import_file

__all__ = ["CSV_COLUMNS", "ImportReport", "RowError", "export_file", "format_of", "import_file"]
