"""Reading import files: saving the upload, recognising what it is, and streaming its rows.

Everything a user uploads is checked before it is parsed: the size while it streams to disk; the
kind by its first bytes, not its name (a binary file or an old .xls renamed .csv is refused with a
message saying what to do); an XLSX by its zip directory, so a zip bomb or a sheet declaring more
rows than we import (when it is large enough to hold them: a declaration is only a claim) is
refused before a single row is read; a CSV by a sample of at most 64 KiB,
from which the encoding (UTF-8 with or without the byte order mark, or GB18030, which GBK and
GB2312 files saved by Chinese Excel are subsets of) and the delimiter (comma, semicolon or tab)
are detected.

Row numbers are the ones the user sees in Excel: the first line or sheet row is row 1, blank rows
count, and a quoted CSV cell spanning several lines is still one row. Rows come out as lists of
strings, whatever the cell types in the workbook (see ``_xlsx_cell``), so the engine checks every
format with the same code.

No file costs more than a bounded amount of memory and time, whatever it claims (issue 13): an
XLSX's extent is taken from the cells it holds (``_SheetExtent``), calamine, which builds the
sheet's whole grid, reads only a small and dense one, and anything else is streamed cell by cell
(``_xml_rows``); a value beyond XLSX_MAX_COLUMNS is refused by its address; a CSV line longer
than CSV_MAX_LINE_BYTES is refused as it is read; the mapping page's sample reads no further
than its rows.
"""

import codecs
import csv
import datetime
import functools
import io
import re
import struct
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import IO, Any

from defusedxml import ElementTree as SafeET
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.tenants.files import private_open

CSV_EXTENSIONS = (".csv", ".txt", ".tsv")
XLSX_EXTENSIONS = (".xlsx",)
EXTENSIONS = CSV_EXTENSIONS + XLSX_EXTENSIONS
DELIMITERS = (",", "\t", ";")  # in order of preference when two split the header equally

SAMPLE_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
# The longest CSV line we read (a row of 200 full columns is far shorter): a longer one is
# refused as it is read, so no row costs more memory than a few times this.
CSV_MAX_LINE_BYTES = 4 * 1024 * 1024

# XLSX zip bombs: the whole archive may expand to at most XLSX_MAX_RATIO times the file (real
# workbooks expand 4 to 20 times; a bomb a thousand times) once it is larger than
# XLSX_SMALL_UNCOMPRESSED, and never beyond XLSX_MAX_UNCOMPRESSED; the shared strings table,
# which every reader loads whole, at most XLSX_MAX_SHARED_STRINGS.
XLSX_MAX_RATIO = 100
XLSX_SMALL_UNCOMPRESSED = 16 * 1024 * 1024
XLSX_MAX_UNCOMPRESSED = 1024 * 1024 * 1024
XLSX_MAX_SHARED_STRINGS = 128 * 1024 * 1024
# calamine reads a whole sheet into memory (about twice its XML: 93 MB of XML, 300,000 rows,
# took 207 MB) and is six to twenty times faster than openpyxl; a sheet larger than this (or a
# sparse one: see XLSX_CALAMINE_MAX_CELLS) is streamed by ``_xml_rows`` instead, so memory stays
# bounded whatever the workbook.
XLSX_CALAMINE_MAX_SHEET = 128 * 1024 * 1024
XLSX_MAX_MEMBERS = 10_000
XLSX_MIN_ROW_BYTES = 8  # <row r="1"/>
# The header row and the mapping page's sample rows must lie within this much of the sheet's XML.
XLSX_SAMPLE_BYTES = 16 * 1024 * 1024
# A sample cell (the mapping page) is cut to this many characters.
SAMPLE_CELL_CHARS = 200

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
# What a damaged, encrypted or hostile archive or XML part raises while we read it ourselves
# (defusedxml's refusals of entities and DTDs are ValueErrors).
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
    SafeET.ParseError,
)
_SPREADSHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_SURROGATES = re.compile("[\udc80-\udcff]")
_UTF8_CHINESE_RUN = re.compile("[\u4e00-\u9fff]{2}")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]*)(\d*)(?::([A-Z]*)(\d*))?\"")
# An error cell (t="e", not self-closing) and the text of its <v>, within the same cell.
_ERROR_CELL = re.compile(
    rb"<(?:\w+:)?c\s[^>]*?\bt=\"e\"[^>]*(?<!/)>(?:(?!</(?:\w+:)?c>|<(?:\w+:)?c\s).)*?"
    rb"<(?:\w+:)?v>([^<]*)</",
    re.DOTALL,
)
_CELL_REF = re.compile(rb"\br=\"([A-Z]+)(\d+)\"")
_ROW_END = re.compile(rb"</(?:\w+:)?row>")


@dataclass(frozen=True)
class TableInfo:
    file_format: str  # "csv" or "xlsx"
    encoding: str  # "utf-8", "utf-8-sig" or "gb18030"; "" for xlsx
    delimiter: str  # ",", ";" or "\t"; "" for xlsx
    headers: list[str]  # the first non-empty row, each stripped; an empty header stays ""
    # xlsx: the rows the sheet declares (minus the header); csv: an estimate from the size and
    # the first rows (exact when the sample is the whole file); None when unknown.
    rows_estimate: int | None


def _refuse(message: str, code: str, **params: Any) -> ValidationError:
    return ValidationError(message, code=code, params=params or None)


def _row_label(number: int) -> str:
    return f"{number:,}"


# --- Saving the upload ---------------------------------------------------------------------


def save_upload(upload: IO[bytes], filename: str, directory: Path) -> Path:
    """Stream the upload to a new uniquely named file in ``directory``, keeping its extension.

    Refused (nothing left on disk) when the extension is not one we read, the file is empty, or
    it is larger than ``CRM_IMPORT_MAX_BYTES``: reading stops as soon as the limit is passed, so
    a huge upload never fills the disk."""
    extension = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if extension not in EXTENSIONS:
        if extension == ".xls":
            raise _xls_refusal()
        raise _refuse(
            _(
                "We can import CSV files (.csv, .txt, .tsv) and Excel workbooks (.xlsx);"
                " “%(name)s” is neither. In Excel, choose Save As and pick “CSV UTF-8” or"
                " “Excel Workbook (.xlsx)”."
            ),
            "extension",
            name=PurePosixPath(filename).name[:100],
        )
    limit = settings.CRM_IMPORT_MAX_BYTES
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}{extension}"
    size = 0
    chunker = getattr(upload, "chunks", None)
    chunks: Iterable[bytes] = (
        chunker() if callable(chunker) else iter(lambda: upload.read(CHUNK_BYTES), b"")
    )
    try:
        with private_open(path, "xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                out.write(chunk)
        if size == 0:
            raise _empty_file()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def upload_too_large() -> ValidationError:
    """The refusal of a file larger than CRM_IMPORT_MAX_BYTES (also said while it uploads)."""
    return _too_large(settings.CRM_IMPORT_MAX_BYTES)


def _too_large(limit: int) -> ValidationError:
    return _refuse(
        _(
            "This file is larger than %(limit)s MB, the most we import at once. Split it into"
            " smaller files and import them one after the other."
        ),
        "too_large",
        limit=f"{limit / (1024 * 1024):,.0f}" if limit >= 1024 * 1024 else f"{limit / 1048576:.2f}",
    )


def _empty_file() -> ValidationError:
    return _refuse(
        _("This file is empty. Check that you chose the right file, with a header row first."),
        "empty",
    )


def _xls_refusal() -> ValidationError:
    return _refuse(
        _(
            "This is an old Excel file (.xls) or a password-protected workbook, which we cannot"
            " read. Open it in Excel, remove any password, choose Save As and pick “Excel"
            " Workbook (.xlsx)” or “CSV UTF-8”, then upload the new file."
        ),
        "xls",
    )


# --- Inspecting a file -----------------------------------------------------------------------


def inspect_table(path: Path, filename: str) -> TableInfo:
    """What the file is and its header row, from its first bytes (CSV: 64 KiB, and when those
    are plain ASCII, 64 KiB from the first line that is not; XLSX: the zip directory, the
    sheet's declared size and its first rows). Refused with a ValidationError (plain message
    and a ``code``) when we cannot or must not read it."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if head.startswith(_OLE2_MAGIC):
        raise _xls_refusal()
    if head.startswith(_ZIP_MAGIC):
        return _xlsx_inspect(path)
    if PurePosixPath(filename).suffix.lower() in XLSX_EXTENSIONS:
        if not head.strip():
            raise _empty_file()
        raise _refuse(
            _(
                "This file is named .xlsx but is not an Excel workbook. Open it in Excel and"
                " save it again as “Excel Workbook (.xlsx)”, or as “CSV UTF-8”."
            ),
            "not_xlsx",
        )
    return _csv_inspect(path, head, filename)


def _check_columns(headers: list[str], *, cut: bool = False) -> None:
    """`cut`: the header row did not end within the bytes read, so its count is a floor."""
    limit = settings.CRM_IMPORT_MAX_COLUMNS
    if len(headers) > limit:
        message = (
            _(
                "This file has more than %(count)s columns; we import at most %(limit)s. Delete"
                " the columns you do not need and upload it again."
            )
            if cut
            else _(
                "This file has %(count)s columns; we import at most %(limit)s. Delete the"
                " columns you do not need and upload it again."
            )
        )
        raise _refuse(message, "too_many_columns", count=f"{len(headers):,}", limit=f"{limit:,}")
    seen: dict[str, str] = {}
    duplicates: list[str] = []
    for header in headers:
        if not header:
            continue
        key = unicodedata.normalize("NFKC", header).casefold()
        if key in seen:
            if seen[key] not in duplicates:
                duplicates.append(seen[key])
        else:
            seen[key] = header
    if duplicates:
        raise _refuse(
            _(
                "These column headers appear more than once: %(names)s. Give every column its"
                " own header (or delete the extra columns) and upload the file again."
            ),
            "duplicate_headers",
            names=", ".join(f"“{name}”" for name in duplicates),
        )


def _no_header() -> ValidationError:
    return _refuse(
        _(
            "This file has no header row: the first row must name the columns (for example"
            " Name, Phone, Email)."
        ),
        "no_header",
    )


# --- CSV ---------------------------------------------------------------------------------------


def _binary_refusal() -> ValidationError:
    return _refuse(
        _(
            "This file is not a CSV text file (it looks like a program, image or other binary"
            " file renamed .csv). In Excel, choose Save As and pick “CSV UTF-8”."
        ),
        "binary",
    )


def _encoding_refusal() -> ValidationError:
    return _refuse(
        _(
            "We cannot tell how this file's text is encoded: it is neither UTF-8 nor GB18030"
            " (GBK). In Excel, choose Save As and pick “CSV UTF-8”, then upload the new file."
        ),
        "encoding",
    )


def _encoding_label(encoding: str) -> str:
    return "GB18030" if encoding == "gb18030" else "UTF-8"


def _mixed_refusal(row: int, encoding: str) -> ValidationError:
    return _refuse(
        _(
            "Row %(row)s is not in the file's encoding (%(encoding)s): the file mixes text"
            " saved in different encodings, so some characters would be garbled. Open it in"
            " Excel or a text editor, fix that row (retype it) and save the whole file as"
            " “CSV UTF-8”."
        ),
        "mixed_encoding",
        row=_row_label(row),
        encoding=_encoding_label(encoding),
    )


def _csv_encoding(sample: bytes, complete: bool) -> tuple[str, int | None]:
    """The encoding, and the index of a line of the sample in another one (a mixed file).

    UTF-8 (BOM: "utf-8-sig") when every line decodes as UTF-8. A short GBK line can be valid
    UTF-8 by chance ("郑谢" is), but not one with two Chinese characters in a row as UTF-8,
    so only such lines count as evidence of UTF-8. With that evidence and lines that are not
    UTF-8 the file is mixed: its encoding is the majority's, and the caller names the first
    row in the other (this function finds a UTF-8 line in a GB18030 file; the caller's check
    for undecodable bytes the converse). Without it: GB18030 if the sample decodes and looks
    like text, else refused."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    body = _whole_lines(sample, complete)
    lines = body.split(b"\n")
    utf8_lines: list[int] = []
    bad_lines = 0
    for index, line in enumerate(lines):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A character cut by the end of an incomplete sample is not an error.
            cut = not complete and index == len(lines) - 1
            if not (cut and exc.reason == "unexpected end of data"):
                bad_lines += 1
        else:
            utf8_lines.append(index)
    if not bad_lines:
        return "utf-8", None
    strong = [i for i in utf8_lines if _UTF8_CHINESE_RUN.search(lines[i].decode("utf-8"))]
    if strong:
        if len(strong) >= bad_lines:
            return "utf-8", None
        return "gb18030", strong[0]
    try:
        text = codecs.getincrementaldecoder("gb18030")().decode(body, final=complete)
    except UnicodeDecodeError:
        raise _encoding_refusal() from None
    if not _looks_like_text(text):
        raise _encoding_refusal()
    return "gb18030", None


def _later_encoding(path: Path, start: int) -> str:
    """The encoding of the first 64 KiB from the first line with a non-ASCII byte after
    ``start`` (UTF-8 when there is none). Finding it reads on at the speed of the disk."""
    with path.open("rb") as handle:
        handle.seek(start)
        offset = start
        while chunk := handle.read(CHUNK_BYTES):
            if not chunk.isascii():
                first = next(i for i, byte in enumerate(chunk) if byte > 127)
                line_start = offset + chunk.rfind(b"\n", 0, first) + 1
                handle.seek(line_start)
                window = handle.read(SAMPLE_BYTES)
                complete = handle.read(1) == b""
                encoding, _foreign = _csv_encoding(window, complete)
                return encoding
            offset += len(chunk)
    return "utf-8"


def _looks_like_text(text: str) -> bool:
    """Few control characters and few private-use or unassigned code points: what decoding a
    binary file or a different code page as GB18030 produces."""
    if not text:
        return True
    odd = sum(
        1 for ch in text if ch not in "\t\r\n" and unicodedata.category(ch) in ("Cc", "Co", "Cn")
    )
    return odd <= max(2, len(text) // 200)


def _whole_lines(sample: bytes, complete: bool) -> bytes:
    """The sample up to its last line break, unless it is the whole file (or one long line)."""
    if complete:
        return sample
    end = sample.rfind(b"\n")
    return sample[: end + 1] if end >= 0 else sample


def _sniff_delimiter(text: str, *, tab_first: bool = False) -> str:
    """The delimiter among , tab ; that splits the header into the most columns with the
    following rows splitting into as many (the most consistent one wins; ties go to the
    comma, or to the tab for a .tsv file)."""
    order = ("\t", ",", ";") if tab_first else DELIMITERS
    best = order[0]
    best_score: tuple[float, int] = (-1.0, 0)
    lines = text.splitlines(keepends=True)[:60]
    for delimiter in order:
        try:
            records = [
                row for row in csv.reader(io.StringIO("".join(lines)), delimiter=delimiter) if row
            ]
        except csv.Error:
            continue
        if not records:
            continue
        width = len(records[0])
        if width < 2:
            continue
        following = records[1:21]
        # A partial last line of the sample must not count against a delimiter.
        consistent = (
            sum(1 for row in following if len(row) == width) / len(following) if following else 1.0
        )
        score = (consistent, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_inspect(path: Path, head: bytes, filename: str) -> TableInfo:
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise _empty_file()
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _refuse(
            _(
                "This file is saved as “Unicode Text” (UTF-16), which we do not read. In Excel,"
                " choose Save As and pick “CSV UTF-8”."
            ),
            "utf16",
        )
    if b"\x00" in head or len(_CONTROL_BYTES.findall(head)) > max(2, len(head) // 500):
        raise _binary_refusal()
    size = path.stat().st_size
    complete = len(head) >= size
    encoding, foreign_line = _csv_encoding(head, complete)
    if encoding == "utf-8" and not complete and head.isascii():
        # Plain ASCII so far says nothing: a GBK file often starts with English headers and
        # pinyin or Latin names. Decide on the first lines that are not ASCII.
        encoding = _later_encoding(path, len(head))
    body = _whole_lines(head, complete)
    text = codecs.getincrementaldecoder(encoding)(errors="surrogateescape").decode(
        body, final=complete
    )
    tab_first = PurePosixPath(filename).suffix.lower() == ".tsv"
    delimiter = _sniff_delimiter(text, tab_first=tab_first)
    if foreign_line is not None:
        raise _mixed_refusal(_row_of_line(text, delimiter, foreign_line), encoding)
    headers: list[str] | None = None
    data_rows = 0
    header_row = 0
    number = 0
    try:
        for number, record in _numbered_records(io.StringIO(text, newline=""), delimiter):
            if _SURROGATES.search("".join(record)):
                raise _mixed_refusal(number, encoding)
            if headers is None:
                headers = [cell.strip() for cell in record]
                header_row = number
            else:
                data_rows += 1
    except csv.Error:
        if complete:
            raise _csv_error(number + 1) from None
    if headers is None:
        if complete:
            raise _no_header()
        raise _refuse(
            _("The first 64 KB of this file hold no header row. Is it really a CSV file?"),
            "no_header",
        )
    # Without a data row in the sample, the header row may run on past it.
    _check_columns(headers, cut=not complete and data_rows == 0)
    if complete:
        estimate: int | None = data_rows
    elif data_rows:
        # Rows in the sample (blank ones too) scaled to the file's size.
        estimate = max(round(size * number / len(body)) - header_row, data_rows)
    else:
        estimate = None
    return TableInfo(
        file_format="csv",
        encoding=encoding,
        delimiter=delimiter,
        headers=headers,
        rows_estimate=estimate,
    )


def _row_of_line(text: str, delimiter: str, line_index: int) -> int:
    """The row (record) number holding the line at ``line_index`` (0-based)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    number = 0
    for number, _record in enumerate(reader, 1):
        if reader.line_num > line_index:
            return number
    return number + 1


def _numbered_records(text: IO[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Non-empty records with their row numbers (a blank line counts as a row)."""
    for number, record in enumerate(csv.reader(text, delimiter=delimiter, strict=False), 1):
        if record and (record[0].strip() or any(cell.strip() for cell in record)):
            yield number, record


def _csv_error(row: int) -> ValidationError:
    return _refuse(
        _(
            'Row %(row)s cannot be read: a quote (") is opened and never closed, or a cell'
            " is far too long. Fix that row in a text editor or in Excel and upload the file"
            " again."
        ),
        "bad_csv",
        row=_row_label(row),
    )


def _too_many_rows(limit: int) -> ValidationError:
    return _refuse(
        _(
            "This file has more than %(limit)s rows, the most we import at once. Split it into"
            " smaller files and import them one after the other."
        ),
        "too_many_rows",
        limit=f"{limit:,}",
    )


class _UndecodableBytes:
    """A codec error handler: undecodable bytes become lone surrogates, as with
    "surrogateescape", and ``count`` goes up. The CSV loop reads straight from the text file
    (the csv module's C loop, the fast path) and looks for the surrogates only in rows read
    after ``count`` changed, to name the row. The count is shared by every reader in the
    process: another file's bad bytes only make a reader look at more rows, never fewer."""

    name = "crm-transfer-undecodable"
    count = 0

    @classmethod
    def handle(cls, error: UnicodeError) -> tuple[str | bytes, int]:
        cls.count += 1
        return codecs.lookup_error("surrogateescape")(error)


codecs.register_error(_UndecodableBytes.name, _UndecodableBytes.handle)


# Bytes by their role in UTF-8 Chinese: L a lead byte of U+4E00..U+9FFF (E4..E9), C a
# continuation byte (80..BF), x anything else. Two Chinese characters in UTF-8 are "LCCLCC".
_UTF8_CJK_ROLES = bytes(
    ord("L") if 0xE4 <= i <= 0xE9 else ord("C") if 0x80 <= i <= 0xBF else ord("x")
    for i in range(256)
)


def _utf8_line_in(path: Path) -> int | None:
    """The index (from 0) of the first line of a GB18030 file that is UTF-8 with Chinese in it,
    or None. Such a line decodes as GB18030 without an error, into other characters, so
    decoding alone would import it garbled. A line counts when it holds two Chinese characters
    in a row as UTF-8 and decodes as UTF-8 whole, which GBK text practically never does. A
    byte translation and a substring search: about 0.2 s for 100 MB, in linear time however
    long the lines. The search stops at the first line longer than the reader takes (it
    refuses that line, so what follows never matters)."""
    newlines = 0
    pieces: list[bytes] = []  # the line read so far (the end of the last chunk, or more)
    held = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:  # still the same line: keep the piece, join once at its end
                pieces.append(chunk)
                held += len(chunk)
                if held > CSV_MAX_LINE_BYTES:
                    return None
                continue
            pieces.append(chunk[:cut])
            part = b"".join(pieces)
            hit = _utf8_chinese_line(part)
            if hit is not None:
                return newlines + part.count(b"\n", 0, hit)
            newlines += part.count(b"\n")
            pieces = [chunk[cut:]]
            held = len(pieces[0])
    part = b"".join(pieces)
    hit = _utf8_chinese_line(part)
    return None if hit is None else newlines + part.count(b"\n", 0, hit)


def _utf8_chinese_line(part: bytes) -> int | None:
    """Where the first line of ``part`` that is UTF-8 with Chinese in it starts, or None."""
    roles = part.translate(_UTF8_CJK_ROLES)
    start = 0
    while (hit := roles.find(b"LCCLCC", start)) >= 0:
        line_start = part.rfind(b"\n", 0, hit) + 1
        line_end = part.find(b"\n", hit)
        line_end = len(part) if line_end < 0 else line_end
        try:
            part[line_start:line_end].decode("utf-8")
        except UnicodeDecodeError:
            start = line_end + 1
            continue
        return line_start
    return None


def _csv_all_rows(
    path: Path, info: TableInfo, *, whole_file_checks: bool = True
) -> Iterator[tuple[int, list[str]]]:
    """Every physical row of the CSV, numbered, with the encoding checks (without
    ``whole_file_checks``, a sample's reading, a UTF-8 line in a GB18030 file is not looked
    for up front). A line longer than CSV_MAX_LINE_BYTES is refused as it is read, so neither
    it nor its cells are ever held whole."""
    undecodable = _UndecodableBytes
    # A UTF-8 line in a GB18030 file is found up front (by bytes); its row is named when the
    # reader gets to it.
    foreign_line = _utf8_line_in(path) if info.encoding == "gb18030" and whole_file_checks else None
    foreign = foreign_line if foreign_line is not None else -1
    with path.open("rb", buffering=0) as raw:
        bounded = io.BufferedReader(_LineBoundedReader(raw), SAMPLE_BYTES)
        text = io.TextIOWrapper(
            bounded, encoding=info.encoding, errors=undecodable.name, newline=""
        )
        seen_errors = undecodable.count
        reader = csv.reader(text, delimiter=info.delimiter, strict=False)
        number = 0
        try:
            for row in reader:
                number += 1
                if undecodable.count != seen_errors and _SURROGATES.search("".join(row)):
                    raise _mixed_refusal(number, info.encoding)
                if foreign >= 0 and reader.line_num > foreign:
                    raise _mixed_refusal(number, info.encoding)
                yield number, row
        except csv.Error:
            raise _csv_error(number + 1) from None
        except _LineTooLong:
            raise _line_too_long(number + 1) from None


class _LineTooLong(Exception):
    pass


class _LineBoundedReader(io.RawIOBase):
    """A file's bytes, ending in _LineTooLong at the first line (ended by LF or CR) longer than
    CSV_MAX_LINE_BYTES. Checked per block read, not per line: the csv module keeps its fast
    path over the text file."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.run = 0  # bytes since the last line end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        if not data:
            return 0
        size = len(data)
        buffer[:size] = data
        first = data.find(b"\n")
        carriage = data.find(b"\r")
        if first < 0 or 0 <= carriage < first:
            first = carriage
        if first < 0:
            self.run += size
        else:
            if self.run + first > CSV_MAX_LINE_BYTES:
                raise _LineTooLong
            self.run = size - 1 - max(data.rfind(b"\n"), data.rfind(b"\r"))
        if self.run > CSV_MAX_LINE_BYTES:
            raise _LineTooLong
        return size


def _line_too_long(row: int) -> ValidationError:
    return _refuse(
        _(
            "Row %(row)s is longer than %(limit)s MB, far longer than a row of customer"
            " data: perhaps its line breaks were lost. Open the file in Excel or a text"
            " editor, check that row and upload the file again."
        ),
        "line_too_long",
        row=_row_label(row),
        limit=f"{CSV_MAX_LINE_BYTES / 1024**2:g}",
    )


def _trim(row: list[str], width: int) -> None:
    """Drop empty cells beyond the headers (Excel often leaves trailing separators); cells
    with text stay, for the engine to reject."""
    while len(row) > width and not row[-1].strip():
        row.pop()


# --- XLSX ------------------------------------------------------------------------------------


def _bad_xlsx() -> ValidationError:
    return _refuse(
        _(
            "This Excel file is damaged or is not a real workbook. Open it in Excel, choose"
            " Save As and pick “Excel Workbook (.xlsx)” or “CSV UTF-8”."
        ),
        "bad_xlsx",
    )


def _zip_bomb() -> ValidationError:
    return _refuse(
        _(
            "This Excel file expands to far more data than its size suggests, which is how"
            " harmful files are built, so we do not open it. Save the sheet as “CSV UTF-8” and"
            " upload that instead."
        ),
        "zip_bomb",
    )


@dataclass(frozen=True)
class _Workbook:
    sheet: str  # member name of the first sheet
    shared_strings: str | None


def _xlsx_parts(archive: zipfile.ZipFile) -> _Workbook:
    names = set(archive.namelist())
    if "xl/workbook.xml" not in names:
        raise _refuse(
            _(
                "This file is a zip archive, not an Excel workbook (.xlsx). Upload the"
                " spreadsheet itself, saved as “Excel Workbook (.xlsx)” or “CSV UTF-8”."
            ),
            "not_xlsx",
        )
    try:
        workbook = SafeET.fromstring(archive.read("xl/workbook.xml"))
        relations = (
            SafeET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
            if "xl/_rels/workbook.xml.rels" in names
            else None
        )
    except Exception:
        raise _bad_xlsx() from None
    first = workbook.find(f"{{{_SPREADSHEET_NS}}}sheets/{{{_SPREADSHEET_NS}}}sheet")
    if first is None:
        raise _bad_xlsx()
    sheet = ""
    relation_id = first.get(f"{{{_REL_NS}}}id")
    if relations is not None and relation_id:
        for relation in relations.iter(f"{{{_PKG_REL_NS}}}Relationship"):
            if relation.get("Id") == relation_id:
                sheet = _member_of(relation.get("Target", ""))
                break
    if not sheet:
        sheet = "xl/worksheets/sheet1.xml"
    sheet = _normalise_member(sheet)
    if sheet not in names:
        raise _bad_xlsx()
    shared = "xl/sharedStrings.xml"
    if relations is not None:
        for relation in relations.iter(f"{{{_PKG_REL_NS}}}Relationship"):
            if relation.get("Type", "").endswith("/sharedStrings"):
                shared = _member_of(relation.get("Target", ""))
    return _Workbook(sheet=sheet, shared_strings=shared if shared in names else None)


def _member_of(target: str) -> str:
    """A relationship target of xl/workbook.xml as a member name of the archive."""
    path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return _normalise_member(path)


def _normalise_member(name: str) -> str:
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/".join(parts)


def _check_zip_sizes(archive: zipfile.ZipFile, file_size: int) -> None:
    """Refuse a zip bomb from the sizes the zip directory declares (``_inflate`` proves the
    members are no larger before anything parses them)."""
    infos = archive.infolist()
    if len(infos) > XLSX_MAX_MEMBERS:
        raise _zip_bomb()
    total = sum(info.file_size for info in infos)
    if total > XLSX_SMALL_UNCOMPRESSED and total > XLSX_MAX_RATIO * file_size:
        raise _zip_bomb()
    if total > XLSX_MAX_UNCOMPRESSED:
        raise _refuse(
            _(
                "This workbook holds more than %(limit)s GB of data once unpacked, more than we"
                " read from one Excel file. Save it as “CSV UTF-8”, or split it into smaller"
                " workbooks."
            ),
            "too_large",
            limit=f"{XLSX_MAX_UNCOMPRESSED / 1024**3:g}",
        )
    for info in infos:
        if (
            info.filename.lower().endswith("sharedstrings.xml")
            and info.file_size > XLSX_MAX_SHARED_STRINGS
        ):
            raise _zip_bomb()


def _xlsx_inspect(path: Path) -> TableInfo:
    file_size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            _check_zip_sizes(archive, file_size)
            parts = _xlsx_parts(archive)
            declared, seen, sampled = _declared_rows(archive, parts.sheet)
            # <dimension> is a claim: believed only when the sheet is large enough to hold
            # that many rows (a row takes more than XLSX_MIN_ROW_BYTES of XML).
            sheet_size = archive.getinfo(parts.sheet).file_size
            if declared is not None and declared * XLSX_MIN_ROW_BYTES > sheet_size:
                declared = None
            max_rows = settings.CRM_IMPORT_MAX_ROWS
            if declared is not None and declared > max_rows + 1:
                raise _too_many_rows(max_rows)
            header_row, headers = _xlsx_header(archive, parts)
    except _DAMAGED:
        raise _bad_xlsx() from None
    if headers is None:
        raise _no_header()
    _check_columns(headers)
    # Some writers (openpyxl's write-only mode among them) leave out <dimension> or write a
    # wrong one (fewer rows than the first bytes hold); the rows counted in the first bytes,
    # scaled to the sheet's size, then serve.
    last_row = declared if declared is not None and declared >= seen else sampled
    return TableInfo(
        file_format="xlsx",
        encoding="",
        delimiter="",
        headers=headers,
        rows_estimate=max(last_row - header_row, 0),
    )


def _declared_rows(archive: zipfile.ZipFile, sheet: str) -> tuple[int | None, int, int]:
    """The last row number the sheet's <dimension> declares (None without one), the rows that
    end in the sheet's first 64 KiB, and those scaled to the sheet's size (an estimate)."""
    info = archive.getinfo(sheet)
    with archive.open(info) as member:
        head = member.read(SAMPLE_BYTES)
    ends = len(_ROW_END.findall(head))
    sampled = ends if len(head) >= info.file_size else round(ends * info.file_size / len(head))
    match = _DIMENSION.search(head)
    last = (match.group(4) or match.group(2)) if match else ""
    return (int(last) if last else None), ends, sampled


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + (ord(letter) - 64)
    return index - 1


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _SharedStrings:
    """The shared strings table, streamed only as far as the lookups so far needed."""

    def __init__(self, archive: zipfile.ZipFile, member: str | None) -> None:
        self._handle = archive.open(member) if member else None
        self._events = SafeET.iterparse(self._handle, events=("end",)) if self._handle else None
        self._strings: list[str] = []

    def get(self, index: int) -> str:
        while self._events is not None and len(self._strings) <= index:
            try:
                _event, element = next(self._events)
            except StopIteration:
                self._events = None
                break
            except _DAMAGED:
                raise _bad_xlsx() from None
            if _local(element.tag) != "si":
                continue
            texts = []
            for child in element:
                name = _local(child.tag)
                if name == "t":
                    texts.append(child.text or "")
                elif name == "r":  # rich text runs; phonetic guides (rPh) are not the text
                    texts.extend(t.text or "" for t in child if _local(t.tag) == "t")
            self._strings.append("".join(texts))
            element.clear()
        return self._strings[index] if index < len(self._strings) else ""

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _xlsx_header(archive: zipfile.ZipFile, parts: _Workbook) -> tuple[int, list[str] | None]:
    """The first non-empty row of the first sheet and its number, read by streaming the sheet's
    XML: only the rows up to the header are parsed, and the shared strings table only as far as
    the header's strings. Only cells that exist are read, so a header claiming to reach column
    ZZZZZZZZZZZZ costs one cell, and is refused."""
    for number, cells in _xml_rows(archive, parts, max_bytes=XLSX_SAMPLE_BYTES):
        texts = {column: text.strip() for column, text in cells.items()}
        if any(texts.values()):
            return number, _dense(texts)  # at most XLSX_MAX_COLUMNS wide: see _xml_rows
    return 0, None


@dataclass(frozen=True)
class _DateStyles:
    """The cell styles (indices into cellXfs) whose number format shows a date or a duration,
    and the workbook's epoch: what turns a serial number into the date the user sees."""

    dates: frozenset[int]
    durations: frozenset[int]
    epoch: datetime.datetime


def _date_styles(archive: zipfile.ZipFile) -> _DateStyles:
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

    names = set(archive.namelist())
    formats: dict[int, str] = dict(BUILTIN_FORMATS)
    dates: set[int] = set()
    durations: set[int] = set()
    epoch = CALENDAR_WINDOWS_1900
    try:
        with archive.open("xl/workbook.xml") as member:
            for _event, element in SafeET.iterparse(member, events=("end",)):
                if _local(element.tag) == "workbookPr":
                    if element.get("date1904", "").lower() in ("1", "true"):
                        epoch = CALENDAR_MAC_1904
                    break
        if "xl/styles.xml" in names:
            in_cell_xfs = False
            index = 0
            with archive.open("xl/styles.xml") as member:
                for event, element in SafeET.iterparse(member, events=("start", "end")):
                    tag = _local(element.tag)
                    if tag == "cellXfs":
                        in_cell_xfs = event == "start"
                    elif event == "end" and tag == "numFmt":
                        code = element.get("numFmtId", "")
                        if code.isdigit():
                            formats[int(code)] = element.get("formatCode", "")
                    elif event == "end" and tag == "xf" and in_cell_xfs:
                        code = element.get("numFmtId", "0")
                        fmt = formats.get(int(code)) if code.isdigit() else None
                        if is_timedelta_format(fmt):
                            durations.add(index)
                        elif is_date_format(fmt):
                            dates.add(index)
                        index += 1
                    if event == "end" and tag != "cellXfs":
                        element.clear()
    except _DAMAGED:
        raise _bad_xlsx() from None
    return _DateStyles(frozenset(dates | durations), frozenset(durations), epoch)


def _xml_rows(
    archive: zipfile.ZipFile, parts: _Workbook, *, max_bytes: int | None = None
) -> Iterator[tuple[int, dict[int, str]]]:
    """The rows of the first sheet that hold a value, numbered, as {column from 0: text},
    streamed from the sheet's XML: memory holds one row (at most XLSX_LAST_COLUMN cells) and
    the shared strings read so far, and only cells that exist are read, whatever the sheet's
    <dimension> or its cells' addresses claim. A value beyond XLSX_MAX_COLUMNS is refused;
    with ``max_bytes``, so is a sheet whose rows wanted need more of its XML than that."""
    strings = _SharedStrings(archive, parts.shared_strings)
    styles = _date_styles(archive)
    try:
        with archive.open(parts.sheet) as opened:
            member = opened if max_bytes is None else _Capped(opened, max_bytes)
            row_number = 0
            column = -1
            count = 0
            cells: dict[int, str] = {}
            sheet_data = None
            for event, element in SafeET.iterparse(member, events=("start", "end")):
                tag = _local(element.tag)
                if event == "start":
                    if tag == "row":
                        ref = element.get("r") or ""
                        row_number = int(ref) if ref.isdigit() else row_number + 1
                        if row_number > XLSX_LAST_ROW:
                            raise _bad_xlsx()
                        column, count, cells = -1, 0, {}
                    elif tag == "sheetData":
                        sheet_data = element
                    continue
                if tag == "c":
                    letters = "".join(ch for ch in element.get("r", "") if ch.isalpha())
                    column = _column_number(letters) - 1 if letters else column + 1
                    count += 1
                    if count > XLSX_LAST_COLUMN:
                        raise _bad_xlsx()
                    text = _xml_cell_text(element, strings, styles)
                    if text:
                        if column >= XLSX_MAX_COLUMNS:
                            raise _column_beyond(
                                f"{letters or _column_letters(column)}{row_number}",
                                letters or _column_letters(column),
                            )
                        cells[column] = text
                    element.clear()  # the row keeps an empty shell of each cell till its end
                elif tag == "row":
                    if cells:
                        yield row_number, cells
                    element.clear()
                    if sheet_data is not None:
                        sheet_data.clear()  # drop the rows read so far, however many are empty
    except _DAMAGED:
        raise _bad_xlsx() from None
    finally:
        strings.close()


class _Capped:
    """A file that ends in an error after ``limit`` bytes (ValueError: a damaged file)."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw = raw
        self.left = limit

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise ValueError("read limit")
        data = self.raw.read(min(size, self.left) if size >= 0 else self.left)
        self.left -= len(data)
        return data


def _column_number(letters: str) -> int:
    """Column letters as a number from 1 (A); past Excel's last column, one more than it."""
    if len(letters) > 3:
        return XLSX_LAST_COLUMN + 1
    return min(_column_index(letters) + 1, XLSX_LAST_COLUMN + 1)


def _column_letters(index: int) -> str:
    """A column index from 0 as Excel's letters (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _xml_cell_text(cell: Any, strings: _SharedStrings, styles: _DateStyles | None = None) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        texts = []
        for holder in cell:
            if _local(holder.tag) != "is":
                continue
            for part in holder:
                name = _local(part.tag)
                if name == "t":
                    texts.append(part.text or "")
                elif name == "r":
                    texts.extend(t.text or "" for t in part if _local(t.tag) == "t")
        return "".join(texts)
    value = ""
    for child in cell:
        if _local(child.tag) == "v":
            value = child.text or ""
    if kind == "s":
        return strings.get(int(value)) if value.isdigit() else ""
    if kind == "b":
        return "TRUE" if value.strip() == "1" else "FALSE"
    if kind in ("str", "e", "d"):
        return value
    if not value:
        return ""
    style = cell.get("s", "0")
    if styles is not None and style.isdigit() and int(style) in styles.dates:
        return _serial_text(value, styles, int(style) in styles.durations)
    return _number_text(value)


def _serial_text(value: str, styles: _DateStyles, duration: bool) -> str:
    """A date-styled number as the date (or time, or duration) Excel shows for it."""
    from openpyxl.utils.datetime import from_excel

    try:
        return _xlsx_cell(from_excel(float(value), styles.epoch, timedelta=duration))
    except (ValueError, OverflowError):
        return _number_text(value)


def _number_text(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return _float_text(number)


def _float_text(number: float) -> str:
    """A number as Excel shows it in a General cell: 15 significant digits, no exponent and no
    ".0" (13900001111.0 -> "13900001111", 12.5 -> "12.5", a cached 0.1+0.2 -> "0.3")."""
    if number != number or number in (float("inf"), float("-inf")):
        return str(number)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    text = f"{number:.15g}"
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


def _xlsx_cell(value: Any) -> str:
    """A calamine cell as the text the user sees for it (see the module docstring)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        return _float_text(value)
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if kind is datetime.datetime:
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind is datetime.date:
        return value.isoformat()
    if kind is datetime.time:
        return value.strftime("%H:%M:%S")
    if kind is datetime.timedelta:
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return "" if value is None else str(value)


def _collect_errors(part: bytes, found: dict[tuple[int, int], str]) -> None:
    for match in _ERROR_CELL.finditer(part):
        ref = _CELL_REF.search(match.group(0))
        if ref:
            row = int(ref.group(2)) - 1
            column = _column_number(ref.group(1).decode("ascii")) - 1
            found[(row, column)] = match.group(1).decode("utf-8", "replace")


def _inflate(raw: IO[bytes], info: zipfile.ZipInfo) -> Iterator[bytes]:
    """A member's content, inflated from the archive's bytes a chunk at a time; refused as a
    zip bomb the moment it grows past the size its directory entry declares. A forged
    directory could otherwise pass ``_check_zip_sizes`` while a parser that trusts the stream
    expands gigabytes."""
    raw.seek(info.header_offset)
    header = raw.read(30)
    if len(header) < 30 or header[:4] != _ZIP_MAGIC:
        raise _bad_xlsx()
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    raw.seek(info.header_offset + 30 + name_length + extra_length)
    remaining = info.compress_size
    if info.compress_type == zipfile.ZIP_STORED:
        while remaining > 0:
            data = raw.read(min(CHUNK_BYTES, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data
        return
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise _bad_xlsx()
    inflater = zlib.decompressobj(-15)
    produced = 0
    while remaining > 0 and not inflater.eof:
        data = raw.read(min(CHUNK_BYTES, remaining))
        if not data:
            return
        remaining -= len(data)
        while data:
            try:
                out = inflater.decompress(data, CHUNK_BYTES)
            except zlib.error:
                raise _bad_xlsx() from None
            produced += len(out)
            if produced > info.file_size:
                raise _zip_bomb()
            if out:
                yield out
            data = inflater.unconsumed_tail
            if inflater.eof:
                break


# Excel's own bounds: a reference beyond them is not a workbook Excel wrote.
XLSX_LAST_ROW = 1_048_576
XLSX_LAST_COLUMN = 16_384
# A value further right than this is refused (an import reads at most CRM_IMPORT_MAX_COLUMNS
# headers, so it is never a column of ours); empty formatted cells out there are ignored.
XLSX_MAX_COLUMNS = 1_000
# calamine builds the sheet's whole grid, from row 1 to the last row and from the first to the
# last column, at about 32 bytes a cell whether the cell exists or not (a lone value at
# XFD1048576 asks for 550 GB and aborts the process). Above this many grid cells the streaming
# reader serves instead.
XLSX_CALAMINE_MAX_CELLS = 4_000_000
# ... and only when that grid is at most this many times the cells the sheet holds, unless it
# is this small anyway.
XLSX_CALAMINE_SPARSENESS = 8
XLSX_CALAMINE_SMALL_GRID = 262_144
# The longest stretch of sheet XML in which no cell starts (Excel's longest cell holds 32,767
# characters); a longer one is a damaged or hostile sheet.
XLSX_MAX_CELL_BYTES = 4 * 1024 * 1024

# A cell's start, with or without a namespace prefix ("<c " or "<x:c "), as plain bytes to count
# (whitespace as XML has it); the usual start, address first ('<c r="'); and the address's
# letters and row in that usual form.
_CELL_STARTS = tuple(
    prefix + b"c" + end
    for prefix in (b"<", b":")
    for end in (b" ", b"\t", b"\n", b"\r", b">", b"/")
)
_CELL_ADDRESSED = (b'<c r="', b':c r="')
_ADDRESS = re.compile(rb'<c r="([A-Z]+)(\d+)"')
_ADDRESS_LETTERS = re.compile(rb'c r="([A-Z]+)')
_ADDRESS_ROW = re.compile(rb'c r="[A-Z]+(\d+)')
# The same for any form (another attribute first, odd whitespace): slower, so only when needed.
_CELL_LETTERS = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]+)\d")
_CELL_ROW = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"[A-Z]+(\d+)\"")
_CELL_OPEN = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_OPEN_WITH_REF = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"[A-Z]")
_FAR_CELL = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]{2,})(\d+)\"[^>]*?(/?)>")


@dataclass
class _SheetExtent:
    """What a sheet really holds, from a scan of its XML as bytes (its <dimension> is only a
    claim): the last row and column a cell is in, whether every cell says where it is (r="B7";
    a cell without it goes after the one before, so only a parser can place it: the streamed
    reader then serves), and
    the error cells (#N/A, #DIV/0! ...) by zero-based (row, column), which calamine reads as
    empty and would let a broken lookup pass as a missing value."""

    last_row: int = 0
    last_column: int = 0  # 1-based; 0 for a sheet without cells
    cells: int = 0  # cells the XML holds (at least: text can look like a cell, and counts)
    _widest: bytes = b""  # the letters of the last column so far
    unplaced_cells: bool = False
    errors: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def grid_cells(self) -> int:
        return self.last_row * self.last_column

    @property
    def fits_calamine(self) -> bool:
        """Whether calamine's grid is small, and mostly cells the sheet holds (else reading
        it costs time for the empty ones: a value at B1048576 is a million empty rows)."""
        grid = self.grid_cells
        return not self.unplaced_cells and (
            grid <= XLSX_CALAMINE_SMALL_GRID
            or (grid <= XLSX_CALAMINE_MAX_CELLS and grid <= XLSX_CALAMINE_SPARSENESS * self.cells)
        )

    def scan(self, chunks: Iterable[bytes]) -> "_SheetExtent":
        pieces: list[bytes] = []
        held = 0
        for chunk in chunks:
            # Cut before the last cell that starts in the chunk: what comes before is whole
            # cells and tags; the rest waits. Pieces are joined once, so a long stretch costs
            # its length, not its length squared, and at most XLSX_MAX_CELL_BYTES of memory.
            cut = chunk.rfind(b"<c")
            prefixed = chunk.rfind(b":c")  # <x:c r="A1">
            if prefixed > cut:
                cut = max(cut, chunk.rfind(b"<", 0, prefixed))
            if cut < 0:
                pieces.append(chunk)
                held += len(chunk)
                if held > XLSX_MAX_CELL_BYTES:
                    raise _bad_xlsx()
                continue
            pieces.append(chunk[:cut])
            self._part(b"".join(pieces))
            pieces = [chunk[cut:]]
            held = len(chunk) - cut
        self._part(b"".join(pieces))
        return self

    def _part(self, part: bytes) -> None:
        addressed = part.count(b'<c r="')
        if addressed == part.count(b"<c") and b":c" not in part:
            # The usual form: every cell starts with its address and nothing else starts
            # with "<c". Then one search says whether any cell lies beyond the widest column
            # so far or below the part's last cell; only if one does are they all collected.
            self.cells += addressed
            last = _ADDRESS.match(part, max(part.rfind(b'<c r="'), 0))
            if last is None:  # no cell in this part
                pass
            elif self._widest and not _beyond(self._widest, last.group(2)).search(part):
                self.last_row = max(self.last_row, int(last.group(2)))
                self._errors(part)
                return
            letters = set(_ADDRESS_LETTERS.findall(part))
            rows = set(_ADDRESS_ROW.findall(part))
        else:
            cells = len(_CELL_OPEN.findall(part))
            if cells != len(_CELL_OPEN_WITH_REF.findall(part)):
                self.unplaced_cells = True
            letters = set(_CELL_LETTERS.findall(part))
            rows = set(_CELL_ROW.findall(part))
            self.cells += cells
        if letters:
            widest = max(letters, key=lambda text: (len(text), text))
            column = _column_number(widest.decode("ascii"))
            if column > XLSX_MAX_COLUMNS:
                self._refuse_far_values(part)
            if column > XLSX_LAST_COLUMN:
                raise _bad_xlsx()
            if column > self.last_column:
                self.last_column, self._widest = column, widest
        if rows:
            digits = max(rows, key=lambda text: (len(text), text))
            if len(digits) > 7 or int(digits) > XLSX_LAST_ROW:
                raise _bad_xlsx()
            self.last_row = max(self.last_row, int(digits))
        self._errors(part)

    def _errors(self, part: bytes) -> None:
        if b't="e"' in part:
            _collect_errors(part, self.errors)

    @staticmethod
    def _refuse_far_values(part: bytes) -> None:
        for match in _FAR_CELL.finditer(part):
            letters = match.group(1).decode("ascii")
            if _column_number(letters) > XLSX_MAX_COLUMNS and not match.group(3):
                raise _column_beyond(f"{letters[:10]}{match.group(2)[:10].decode()}", letters[:10])


@functools.lru_cache(maxsize=64)
def _beyond(letters: bytes, row: bytes) -> re.Pattern[bytes]:
    """A search for a cell address beyond column ``letters`` or below row ``row``."""
    return re.compile(
        b'c r="(?:' + _above(letters, b"A", b"Z") + rb"\d|[A-Z]+" + _above(row, b"0", b"9") + b'")'
    )


def _above(text: bytes, first: bytes, last: bytes) -> bytes:
    """A pattern for the strings over first..last that sort after ``text`` as numbers or
    column letters do: longer ones, and those as long that are greater."""
    span = b"[" + first + b"-" + last + b"]"
    alternatives = [span + b"{%d,}" % (len(text) + 1)]
    for index, code in enumerate(text):
        if code < last[0]:
            alternatives.append(
                text[:index]
                + b"["
                + bytes([code + 1])
                + b"-"
                + last
                + b"]"
                + span
                + b"{%d}" % (len(text) - index - 1)
            )
    return b"(?:" + b"|".join(alternatives) + b")"


def _column_beyond(cell: str, letters: str) -> ValidationError:
    return _refuse(
        _(
            "Cell %(cell)s holds a value in column %(column)s, beyond the %(limit)s columns an"
            " import reads. Delete what is in that column (or copy the table you want into a"
            " new workbook) and upload the file again."
        ),
        "column_beyond",
        cell=cell,
        column=letters,
        limit=f"{XLSX_MAX_COLUMNS:,}",
    )


def _xlsx_prepare(path: Path) -> tuple[_SheetExtent, int]:
    """Check the archive again (it is read now, perhaps long after inspect_table), inflate every
    member the reader will parse to prove its true size, and scan the sheet for its true extent
    and error cells. Also the sheet's uncompressed size; both decide the reader."""
    try:
        with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
            _check_zip_sizes(archive, path.stat().st_size)
            parts = _xlsx_parts(archive)
            names = set(archive.namelist())
            for name in ("xl/workbook.xml", "xl/styles.xml", parts.shared_strings):
                if name and name in names:
                    for _chunk in _inflate(raw, archive.getinfo(name)):
                        pass
            sheet = archive.getinfo(parts.sheet)
            return _SheetExtent().scan(_inflate(raw, sheet)), sheet.file_size
    except _DAMAGED:
        raise _bad_xlsx() from None


def _calamine_values(path: Path) -> Iterator[list[Any]]:
    """Rows of cell values from row 1 of the first sheet, each starting at column A."""
    from python_calamine import CalamineWorkbook

    workbook = None
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        # A Rust panic inside calamine arrives as pyo3's PanicException, a BaseException.
        if workbook is not None:
            workbook.close()
        raise _bad_xlsx() from None
    try:
        # python-calamine's iter_rows starts at the sheet's row 1 but at the first used
        # column, so rows are padded back to column A.
        lead = [""] * (sheet.start[1] if sheet.start else 0)
        for values in sheet.iter_rows():
            yield lead + values if lead else values
    finally:
        workbook.close()


def _streamed_values(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The rows of the first sheet that hold a value, numbered, as text from column A, read
    by ``_xml_rows``: memory and time follow the cells that exist (much slower than calamine,
    which serves unless the sheet is large or sparse; error cells come as their text)."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = _xlsx_parts(archive)
            for number, cells in _xml_rows(archive, parts):
                yield number, _dense(cells)
    except _DAMAGED:
        raise _bad_xlsx() from None


def _xlsx_all_rows(
    path: Path, info: TableInfo, *, reader: str | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Every row of the first sheet that holds a value, numbered, its cells as text. calamine
    (fast, but it builds the sheet's whole grid in memory) only when that grid is small: the
    extent comes from the cells the sheet holds, not from its <dimension>."""
    extent, sheet_size = _xlsx_prepare(path)
    if reader is None:
        small = sheet_size <= XLSX_CALAMINE_MAX_SHEET and extent.fits_calamine
        reader = "calamine" if small else "stream"
    if reader == "stream":
        yield from _streamed_values(path)
        return
    errors = extent.errors
    for index, values in enumerate(_calamine_values(path)):
        row = [_xlsx_cell(value) for value in values]
        if errors:
            for column in range(len(row)):
                text = errors.get((index, column))
                if text is not None:
                    row[column] = text
        yield index + 1, row


def _data_rows(
    rows: Iterable[tuple[int, list[str]]], width: int
) -> Iterator[tuple[int, list[str]]]:
    """The rows after the header row (wholly empty rows skipped), padded with "" to `width`;
    refused past CRM_IMPORT_MAX_ROWS. Shared by the CSV and XLSX readers."""
    max_rows = settings.CRM_IMPORT_MAX_ROWS
    header_seen = False
    data_rows = 0
    for number, row in rows:
        if not row or not (row[0].strip() or any(cell.strip() for cell in row)):
            continue
        if not header_seen:
            header_seen = True
            continue
        data_rows += 1
        if data_rows > max_rows:
            raise _too_many_rows(max_rows)
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        elif len(row) > width:
            _trim(row, width)
        yield number, row


def _csv_rows(path: Path, info: TableInfo) -> Iterator[tuple[int, list[str]]]:
    return _data_rows(_csv_all_rows(path, info), len(info.headers))


def _xlsx_rows(
    path: Path, info: TableInfo, *, reader: str | None = None
) -> Iterator[tuple[int, list[str]]]:
    return _data_rows(_xlsx_all_rows(path, info, reader=reader), len(info.headers))


def sample_rows(path: Path, info: TableInfo, n: int) -> list[list[str]]:
    """The first ``n`` data rows as ``iter_rows`` gives them, for the mapping page, reading no
    further than they go (an XLSX is streamed, never loaded whole; a CSV skips its whole-file
    checks), each row cut at the headers' width and each cell at SAMPLE_CELL_CHARS. The rows
    before a refusal still serve; a refusal before any row is raised (ValidationError)."""
    width = len(info.headers)
    rows: list[list[str]] = []
    if n <= 0:
        return rows
    try:
        if info.file_format == "xlsx":
            _xlsx_sample(path, width, n, rows)
        else:
            lines = _csv_all_rows(path, info, whole_file_checks=False)
            for _number, row in _data_rows(lines, width):
                rows.append([cell[:SAMPLE_CELL_CHARS] for cell in row[:width]])
                if len(rows) >= n:
                    break
    except ValidationError:
        if not rows:
            raise
    return rows


def _xlsx_sample(path: Path, width: int, n: int, rows: list[list[str]]) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            _check_zip_sizes(archive, path.stat().st_size)
            parts = _xlsx_parts(archive)
            streamed = (
                (number, _dense(cells))
                for number, cells in _xml_rows(archive, parts, max_bytes=XLSX_SAMPLE_BYTES)
            )
            for _number, row in _data_rows(streamed, width):
                rows.append([cell[:SAMPLE_CELL_CHARS] for cell in row[:width]])
                if len(rows) >= n:
                    return
    except _DAMAGED:
        raise _bad_xlsx() from None


def _dense(cells: dict[int, str]) -> list[str]:
    row = [""] * (max(cells) + 1)
    for column, text in cells.items():
        row[column] = text
    return row


def rows_at_most(path: Path, file_format: str, max_bytes: int) -> int | None:
    """An upper bound on the file's rows (header and blank rows included), counted, not
    estimated, when its data is at most ``max_bytes`` (an XLSX: its sheet's XML, which
    ``_inflate`` proves no larger than the zip directory says); None when it is larger or
    cannot be read. What decides whether work on a file may run inside a request."""
    try:
        if file_format == "xlsx":
            with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
                member = archive.getinfo(_xlsx_parts(archive).sheet)
                if member.file_size > max_bytes:
                    return None
                data = b"".join(_inflate(raw, member))
            return data.count(b"<row") + data.count(b":row")
        if path.stat().st_size > max_bytes:
            return None
        data = path.read_bytes()
    except (OSError, ValidationError, *_DAMAGED):
        return None
    return max(data.count(b"\n"), data.count(b"\r")) + 1


def iter_rows(path: Path, info: TableInfo) -> Iterator[tuple[int, list[str]]]:
    """The data rows after the header as (row number as the user sees it, cells as text padded
    with "" to the headers' length); wholly empty rows are skipped. A row with more non-empty
    cells than headers keeps them (the engine rejects it). CSV streams in constant memory;
    XLSX is verified (true member sizes) and then read with calamine."""
    if info.file_format == "xlsx":
        return _xlsx_rows(path, info)
    return _csv_rows(path, info)
