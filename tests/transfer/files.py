# ruff: noqa: E501  (the package XML below is kept on lines as Excel writes it)
"""Import files for tests, written for real to a directory: CSV in any encoding and delimiter,
XLSX through openpyxl (typed cells) or assembled by hand (for what openpyxl will not write:
cached formula values, error cells, a declared size, a zip bomb, a forged zip directory)."""

import csv
import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def csv_text(rows: Iterable[Sequence[Any]], *, delimiter: str = ",", newline: str = "\r\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def write_csv(
    path: Path,
    rows: Iterable[Sequence[Any]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    bom: bool = False,
    newline: str = "\r\n",
) -> Path:
    data = csv_text(rows, delimiter=delimiter, newline=newline).encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_xlsx(path: Path, rows: Iterable[Sequence[Any]], *, first_cell: str = "A1") -> Path:
    """A workbook whose first sheet holds ``rows`` from ``first_cell`` on; values keep their
    types (dates, numbers, booleans); a value starting with "=" is a formula (no cached value)."""
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    letters, first_row = coordinate_from_string(first_cell)
    first_column = column_index_from_string(letters)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for offset, row in enumerate(rows):
        for column, value in enumerate(row):
            if value is not None:
                sheet.cell(row=first_row + offset, column=first_column + column, value=value)
    book.save(str(path))
    return path


# The package parts every workbook needs.
_CONTENT_TYPES = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
</Types>"""
_ROOT_RELS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>"""
# Style 1 is a date (format 14, m/d/yyyy), style 2 a date and time (format 22).
_STYLES = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="1"><fill><patternFill patternType="none"/></fill></fills>
<borders count="1"><border/></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>
</styleSheet>"""
SHEET_START = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)


def sheet_xml(rows_xml: bytes, *, dimension: str | None = None) -> bytes:
    dim = f'<dimension ref="{dimension}"/>'.encode() if dimension else b""
    return SHEET_START + dim + b"<sheetData>" + rows_xml + b"</sheetData></worksheet>"


def shared_strings_xml(strings: Sequence[str]) -> bytes:
    from xml.sax.saxutils import escape

    items = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
        f' count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'
    ).encode()


def write_raw_xlsx(
    path: Path,
    sheet: bytes | Iterable[bytes],
    *,
    shared_strings: bytes | None = None,
    level: int = 6,
) -> Path:
    """An XLSX from the sheet's XML (bytes, or chunks streamed into the archive so a huge sheet
    never sits in memory)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        archive.writestr(
            "xl/sharedStrings.xml", shared_strings or shared_strings_xml([]), zipfile.ZIP_DEFLATED
        )
        if isinstance(sheet, bytes):
            archive.writestr("xl/worksheets/sheet1.xml", sheet)
        else:
            with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
                for chunk in sheet:
                    member.write(chunk)
    return path


def zip_bomb_xlsx(path: Path, *, megabytes: int = 64) -> Path:
    """A valid-looking workbook whose sheet is ``megabytes`` MB of identical rows, which deflate
    squeezes about a thousand times. No <dimension>, so only the expansion gives it away."""
    row = b'<row><c t="inlineStr"><is><t>aaaaaaaaaaaaaaaaaaaaaaaaaaaa</t></is></c></row>'
    block = row * (1024 * 1024 // len(row))

    def chunks() -> Iterable[bytes]:
        yield SHEET_START + b"<sheetData>"
        yield b'<row><c t="inlineStr"><is><t>name</t></is></c></row>'
        for _ in range(megabytes):
            yield block
        yield b"</sheetData></worksheet>"

    return write_raw_xlsx(path, chunks(), level=9)


def forge_member_size(path: Path, member: str, declared: int) -> None:
    """Rewrite the zip directory (and local header) so ``member`` claims to inflate to
    ``declared`` bytes, with the checksum of its first ``declared`` bytes: a bomb that lies
    about its size well enough that Python's zipfile reads that much without complaint."""
    with zipfile.ZipFile(path) as archive:
        crc = zlib.crc32(archive.read(member)[:declared])
    data = bytearray(path.read_bytes())
    name = member.encode()
    # Central directory entries: signature PK\x01\x02, uncompressed size at offset 24.
    position = 0
    while (position := data.find(b"PK\x01\x02", position)) >= 0:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == name:
            struct.pack_into("<I", data, position + 24, declared)
            struct.pack_into("<I", data, position + 16, crc)
        position += 4
    # Local headers: signature PK\x03\x04, uncompressed size at offset 22.
    position = 0
    while (position := data.find(b"PK\x03\x04", position)) >= 0:
        name_length = struct.unpack_from("<H", data, position + 26)[0]
        if data[position + 30 : position + 30 + name_length] == name:
            struct.pack_into("<I", data, position + 22, declared)
            struct.pack_into("<I", data, position + 14, crc)
        position += 4
    path.write_bytes(bytes(data))


def inline_row(number: int, values: Sequence[str]) -> bytes:
    from xml.sax.saxutils import escape

    cells = "".join(
        f'<c r="{chr(65 + column)}{number}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
        for column, value in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'.encode()
