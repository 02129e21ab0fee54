"""The two file formats, row by row. CSV is flat: contact fields, the primary person's fields and the billing_*
and shipping_* address fields, one column each. JSON Lines keeps everything: one contact object per line, as
the API shows it, with full billing and shipping addresses, every person, custom fields and `addresses`
(the additional ones)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

import msgspec

from zcontacts.domain.schemas import AddressDetail, ContactPerson, ContactRecord, ContactUpdate
from zcontacts.domain.validation import nul_path, nul_refusal

Format = Literal["csv", "jsonl"]

CONTACT_COLUMNS = ("contact_name", "company_name", "website", "status", "twitter", "facebook", "notes")
# The primary person's fields.
PERSON_COLUMNS = (
    "salutation", "first_name", "last_name", "email", "phone", "mobile", "department", "designation", "skype",
)  # fmt: skip
ADDRESS_FIELDS = tuple(f for f in AddressDetail.__struct_fields__ if f != "address_id")
ADDRESS_COLUMNS = tuple(f"{kind}_{f}" for kind in ("billing", "shipping") for f in ADDRESS_FIELDS)
# contact_id is written by export for reference; import matches contacts by contact_name and ignores it.
CSV_COLUMNS = ("contact_id", *CONTACT_COLUMNS, *PERSON_COLUMNS, *ADDRESS_COLUMNS)
_KNOWN_COLUMNS = frozenset(CSV_COLUMNS)

# Contact fields a JSON line may set (the update body's, persons apart); the rest of a contact object (ids,
# times, currency) is the server's and is ignored.
_BODY_KEYS = tuple(f for f in ContactUpdate.__struct_fields__ if f != "contact_persons")
# Top-level copies of the primary person's fields: a line that lists its persons leaves these to them.
_MIRRORED = ("contact_salutation", "first_name", "last_name", "email", "phone", "mobile")
# Files are decoded with errors="surrogateescape": a byte that is not UTF-8 becomes U+DC80-U+DCFF, so it costs
# only its own row (refused, numbered), not the rest of the file.
_UNDECODED = re.compile("[\udc80-\udcff]")


class RowError(msgspec.Struct, frozen=True):
    """A row that was not imported: its number (the file's line; a CSV header is row 1), the field at fault
    (empty when the row as a whole is) and why."""

    row: int
    field: str
    message: str


class Row(msgspec.Struct):
    """One parsed row: body fields apart from persons, the persons, the status and additional addresses.
    `flat` rows (CSV) carry at most the primary person, field by field as the columns give them."""

    number: int
    fields: dict[str, Any]
    persons: list[dict[str, Any]]
    status: str
    additional: list[dict[str, Any]]
    flat: bool

    @property
    def name(self) -> str:
        """The contact_name given, trimmed ("" when missing)."""
        value = self.fields.get("contact_name")
        return value.strip() if isinstance(value, str) else ""


def format_of(path: Path, given: str | None = None) -> Format:
    """The format named, or the one the file's suffix says."""
    name = (given or path.suffix.lstrip(".")).lower()
    if name == "csv":
        return "csv"
    if name in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise ValueError(f"cannot tell the format of {path.name}: use .csv or .jsonl, or --format csv|jsonl")


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read through it (for progress on files of unknown row count)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.done += len(data)
        return len(data)


def read_rows(stream: BinaryIO, fmt: Format) -> Iterator[Row | RowError]:
    """The rows of a file, one at a time."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    return _csv_rows(text) if fmt == "csv" else _json_rows(text)


def _csv_rows(text: IO[str]) -> Iterator[Row | RowError]:
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ValueError(f"the CSV header (row 1) cannot be read as CSV ({exc})") from None
    if header is None:
        return
    if bad := _undecoded(",".join(header)):
        raise ValueError(f"the CSV header (row 1) {bad}")
    header = [column.strip() for column in header]
    unknown = [c for c in header if c not in _KNOWN_COLUMNS]
    if unknown:
        raise ValueError(f"unknown CSV column {unknown[0]!r}; the columns are: {', '.join(CSV_COLUMNS)}")
    if "contact_name" not in header:
        raise ValueError("the CSV header has no contact_name column")
    for number, cells in enumerate(_records(reader), start=2):
        if isinstance(cells, csv.Error):
            yield RowError(
                number, "", f"the row cannot be read as CSV ({cells}); the rest of the file is not read"
            )
            return
        if not cells:
            continue
        if len(cells) != len(header):
            yield RowError(number, "", f"the row has {len(cells)} cells, the header {len(header)}")
            continue
        given = dict(zip(header, cells, strict=True))
        yield _refused_cell(number, given) or _csv_row(number, given)


def _records(reader: Iterator[list[str]]) -> Iterator[list[str] | csv.Error]:
    """The reader's records, then the error that stopped it, if any: a cell over csv.field_size_limit() (128 KiB,
    far past any field's length) cannot be read, and past it the reader cannot tell where rows begin."""
    try:
        yield from reader
    except csv.Error as exc:
        yield exc


def _refused_cell(number: int, cells: dict[str, str]) -> RowError | None:
    """A CSV row holding bytes that are not UTF-8 or a NUL character, refused naming the first such cell."""
    row = "".join(cells.values())
    # The whole row first (isascii is free): cell by cell only when it holds a character it is refused for.
    if "\x00" not in row and (row.isascii() or not _UNDECODED.search(row)):
        return None
    for column, cell in cells.items():
        if bad := _undecoded(cell):
            return RowError(number, column, f"Invalid value passed for {column}: the text {bad}.")
    return _nul_in(number, cells)


def _csv_row(number: int, cells: dict[str, str]) -> Row:
    fields: dict[str, Any] = {c: cells[c] for c in CONTACT_COLUMNS if c in cells and c != "status"}
    for kind in ("billing", "shipping"):
        address = {f: cells[f"{kind}_{f}"] for f in ADDRESS_FIELDS if f"{kind}_{f}" in cells}
        if address:
            fields[f"{kind}_address"] = address
    person = {c: cells[c] for c in PERSON_COLUMNS if c in cells}
    return Row(number, fields, [person] if person else [], cells.get("status", "").strip(), [], flat=True)


def _json_rows(text: IO[str]) -> Iterator[Row | RowError]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        if bad := _undecoded(line):
            yield RowError(number, "", f"JSON is not well formed: the line {bad}.")
            continue
        try:
            value = msgspec.json.decode(line)
            refused = _nul_in(number, value) if isinstance(value, dict) else None
        except msgspec.DecodeError:
            yield RowError(number, "", "JSON is not well formed")
            continue
        except RecursionError:  # nested past the interpreter's limit (msgspec's decode, the NUL walk)
            yield RowError(number, "", "JSON is not well formed: the line is nested too deeply.")
            continue
        if not isinstance(value, dict):
            yield RowError(number, "", "a line must be a JSON object (one contact)")
            continue
        yield refused or _json_row(number, value)


def _undecoded(text: str) -> str | None:
    """Why a text read with bytes that are not UTF-8 is refused ("is not valid UTF-8 (byte 0xe9)"), or None."""
    found = _UNDECODED.search(text)
    return None if found is None else f"is not valid UTF-8 (byte 0x{ord(found.group()) - 0xDC00:02x})"


def _nul_in(number: int, given: dict[str, Any]) -> RowError | None:
    """A row holding a NUL character, refused naming where: anywhere, even in a column or key import ignores,
    as the API refuses one anywhere in a body."""
    where = nul_path(given)
    return None if where is None else RowError(number, where, nul_refusal(where).message)


def _json_row(number: int, value: dict[str, Any]) -> Row | RowError:
    persons = value.get("contact_persons") or []
    additional = value.get("addresses") or []
    for key, items in (("contact_persons", persons), ("addresses", additional)):
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            return RowError(number, key, f"{key} must be a list of objects")
    fields = {k: value[k] for k in _BODY_KEYS if k in value and not (persons and k in _MIRRORED)}
    status = value.get("status") or ""
    if not isinstance(status, str):
        return RowError(number, "status", "status must be active or inactive")
    return Row(number, fields, persons, status.strip(), additional, flat=False)


# ---- writing ---------------------------------------------------------------------------------------------


def csv_writer(stream: IO[str]) -> Any:
    """A CSV writer that has written the header."""
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    return writer


def csv_cells(record: ContactRecord) -> list[str]:
    """A contact's CSV row, in CSV_COLUMNS order."""
    contact = record.contact
    primary = next((p for p in contact.contact_persons if p.is_primary_contact), ContactPerson(""))
    cells = [contact.contact_id, *(getattr(contact, c) for c in CONTACT_COLUMNS)]
    cells += [getattr(primary, c) for c in PERSON_COLUMNS]
    for address in (record.billing, record.shipping):
        cells += [getattr(address, f) for f in ADDRESS_FIELDS]
    return cells


_to_json = msgspec.json.Encoder().encode


def json_line(record: ContactRecord) -> bytes:
    """A contact as one JSON line: the API's object, with full billing and shipping addresses and the
    additional ones as `addresses`."""
    contact: dict[str, Any] = msgspec.to_builtins(record.contact)
    contact["billing_address"] = msgspec.to_builtins(record.billing)
    contact["shipping_address"] = msgspec.to_builtins(record.shipping)
    contact["addresses"] = msgspec.to_builtins(record.additional)
    return _to_json(contact) + b"\n"
