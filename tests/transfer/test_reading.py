"""Reading import files: saving uploads, recognising encodings, delimiters and workbooks,
refusing what must not be read (with a code and a plain message), and streaming rows with the
row numbers the user sees. Real files in tmp_path; no database."""

import datetime
import io
import os
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.transfer import exporting, reading
from crm.transfer.reading import TableInfo, inspect_table, iter_rows, save_upload
from crm.transfer.values import unescape_formula
from tests.transfer.files import (
    OLE2_MAGIC,
    forge_member_size,
    inline_row,
    shared_strings_xml,
    sheet_xml,
    write_csv,
    write_raw_xlsx,
    write_xlsx,
    zip_bomb_xlsx,
)

HEADERS = ["姓名", "手机", "邮箱", "生日"]
ROWS = [
    ["张三", "13900001111", "zhang@example.cn", "1985-03-05"],
    ["李四", "13900002222", "li@example.cn", "1990/1/2"],
    ["欧阳娜娜", "13900003333", "", "2001年12月31日"],
]


def _refusal(code: str, path: Path, filename: str | None = None) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        inspect_table(path, filename or path.name)
    assert caught.value.code == code, caught.value
    return caught.value


def _text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _rows(path: Path, filename: str | None = None) -> tuple[TableInfo, list[tuple[int, list[str]]]]:
    info = inspect_table(path, filename or path.name)
    return info, list(iter_rows(path, info))


# --- save_upload -------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["客户.csv", "orders.TXT", "list.tsv", "Book1.xlsx"])
def test_save_upload_keeps_the_extension_and_the_bytes(tmp_path, filename):
    data = "姓名,手机\n张三,139\n".encode() * 1000
    directory = tmp_path / "new" / "folder"
    saved = save_upload(SimpleUploadedFile(filename, data), filename, directory)
    assert saved.parent == directory
    assert saved.suffix == Path(filename).suffix.lower()
    assert saved.name != filename
    assert saved.read_bytes() == data


def test_save_upload_reads_a_plain_file_object_and_names_each_upload_apart(tmp_path):
    first = save_upload(io.BytesIO(b"a,b\n1,2\n"), "x.csv", tmp_path)
    second = save_upload(io.BytesIO(b"a,b\n3,4\n"), "x.csv", tmp_path)
    assert first != second
    assert first.read_bytes() == b"a,b\n1,2\n"
    assert second.read_bytes() == b"a,b\n3,4\n"


class _Endless(io.RawIOBase):
    """An upload that never ends; fails the test if read far past the limit."""

    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert self.sent < 50 * 1024 * 1024, "save_upload kept reading past the limit"
        chunk = b"x" * (size if size and size > 0 else 65536)
        self.sent += len(chunk)
        return chunk


def test_save_upload_stops_at_the_size_limit_and_leaves_nothing(tmp_path, settings):
    settings.CRM_IMPORT_MAX_BYTES = 3 * 1024 * 1024
    upload = _Endless()
    with pytest.raises(ValidationError) as caught:
        save_upload(upload, "big.csv", tmp_path)
    assert caught.value.code == "too_large"
    assert "3 MB" in _text(caught.value)
    assert upload.sent <= settings.CRM_IMPORT_MAX_BYTES + reading.CHUNK_BYTES
    assert list(tmp_path.iterdir()) == []


def test_save_upload_refuses_a_file_just_over_the_limit(tmp_path, settings):
    settings.CRM_IMPORT_MAX_BYTES = 100
    with pytest.raises(ValidationError) as caught:
        save_upload(SimpleUploadedFile("a.csv", b"a" * 101), "a.csv", tmp_path)
    assert caught.value.code == "too_large"
    assert list(tmp_path.iterdir()) == []
    # Exactly the limit is fine.
    assert save_upload(SimpleUploadedFile("a.csv", b"a" * 100), "a.csv", tmp_path).exists()


def test_save_upload_refuses_an_empty_file(tmp_path):
    with pytest.raises(ValidationError) as caught:
        save_upload(SimpleUploadedFile("a.csv", b""), "a.csv", tmp_path)
    assert caught.value.code == "empty"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("filename", "code"),
    [
        ("report.xls", "xls"),
        ("photo.png", "extension"),
        ("data.json", "extension"),
        ("noextension", "extension"),
        ("archive.csv.exe", "extension"),
    ],
)
def test_save_upload_refuses_other_extensions(tmp_path, filename, code):
    with pytest.raises(ValidationError) as caught:
        save_upload(SimpleUploadedFile(filename, b"a,b\n"), filename, tmp_path)
    assert caught.value.code == code
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


# --- CSV encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom", "expected"),
    [
        ("utf-8", False, "utf-8"),
        ("utf-8", True, "utf-8-sig"),
        ("gb18030", False, "gb18030"),
        ("gbk", False, "gb18030"),
        ("gb2312", False, "gb18030"),
    ],
)
def test_csv_encodings_are_detected_and_chinese_text_read(tmp_path, encoding, bom, expected):
    path = write_csv(tmp_path / "c.csv", [HEADERS, *ROWS], encoding=encoding, bom=bom)
    info, rows = _rows(path)
    assert info.file_format == "csv"
    assert info.encoding == expected
    assert info.delimiter == ","
    assert info.headers == HEADERS
    assert info.rows_estimate == 3
    assert rows == [(2, ROWS[0]), (3, ROWS[1]), (4, ROWS[2])]


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_encoding_is_decided_on_the_first_non_ascii_lines(tmp_path, encoding):
    """A file whose first 64 KiB are plain ASCII (English headers, pinyin names) and whose
    Chinese names come later is read in its real encoding, not refused as mixed."""
    rows = [["name", "phone"]] + [[f"Zhang San {i}", f"139{i:08d}"] for i in range(4000)]
    rows += [["张三", "13900000001"], ["欧阳娜娜", "13900000002"]]
    path = write_csv(tmp_path / "late.csv", rows, encoding=encoding)
    assert path.read_bytes()[: reading.SAMPLE_BYTES].isascii()
    info, got = _rows(path)
    assert info.encoding == ("gb18030" if encoding == "gbk" else "utf-8")
    assert got[-2:] == [(4002, ["张三", "13900000001"]), (4003, ["欧阳娜娜", "13900000002"])]


def test_gb18030_only_characters_are_read(tmp_path):
    # 𠀀 (U+20000) and € exist in GB18030 but not in GBK.
    path = write_csv(tmp_path / "c.csv", [["姓名", "备注"], ["𠀀", "€5"]], encoding="gb18030")
    info, rows = _rows(path)
    assert info.encoding == "gb18030"
    assert rows == [(2, ["𠀀", "€5"])]


def test_gbk_csv_as_saved_by_chinese_excel(tmp_path):
    """Excel (Chinese Windows) "CSV (comma delimited)": GBK, CRLF, no BOM, empty trailing
    columns written as separators, a cell with a comma quoted."""
    data = (
        "客户编号,姓名,手机,地址,,\r\n"
        'C001,王芳,13800138000,"北京市朝阳区建国路88号,3层",,\r\n'
        "C002,刘洋,13800138001,上海市,,\r\n"
        ",,,,,\r\n"
    ).encode("gbk")
    path = tmp_path / "excel.csv"
    path.write_bytes(data)
    info, rows = _rows(path)
    assert info.encoding == "gb18030"
    assert info.headers == ["客户编号", "姓名", "手机", "地址", "", ""]
    assert rows == [
        (2, ["C001", "王芳", "13800138000", "北京市朝阳区建国路88号,3层", "", ""]),
        (3, ["C002", "刘洋", "13800138001", "上海市", "", ""]),
    ]


def test_ascii_only_csv_is_utf8(tmp_path):
    info, _ = _rows(write_csv(tmp_path / "a.csv", [["name", "phone"], ["Ann", "1"]]))
    assert info.encoding == "utf-8"


def test_mixed_encodings_within_the_sample_are_refused_with_the_row(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "姓名,手机\r\n张三,139\r\n".encode() + "李四,138\r\n".encode("gbk") + b"Ann,137\r\n"
    )
    error = _refusal("mixed_encoding", path)
    assert "Row 3 " in _text(error)
    assert "UTF-8" in _text(error)


def test_a_utf8_row_in_a_gbk_file_is_refused_with_the_row(tmp_path):
    path = tmp_path / "mixed.csv"
    gbk = [f"客户{i},北京市海淀区{i}号\r\n".encode("gbk") for i in range(10)]
    path.write_bytes(
        "姓名,地址\r\n".encode("gbk")
        + b"".join(gbk[:4])
        + "王五,上海市浦东新区\r\n".encode()
        + b"".join(gbk[4:])
    )
    error = _refusal("mixed_encoding", path)
    assert "Row 6 " in _text(error)
    assert "GB18030" in _text(error)


def test_a_gbk_line_that_happens_to_be_valid_utf8_is_not_mixed(tmp_path):
    """郑谢 in GBK is the bytes D6 A3 D0 BB, valid UTF-8 (֣л): no evidence of UTF-8."""
    assert "郑谢".encode("gbk").decode("utf-8")
    rows = [["姓名", "手机"], ["郑谢", "139"], ["张三", "138"], ["李四", "137"]]
    info, got = _rows(write_csv(tmp_path / "gbk.csv", rows, encoding="gbk"))
    assert info.encoding == "gb18030"
    assert [row for _n, row in got] == rows[1:]


def test_mixed_encodings_after_the_sample_stop_iteration_at_the_row(tmp_path):
    lines = ["姓名,手机\r\n"] + [f"张三{i},139{i:08d}\r\n" for i in range(4000)]
    head = "".join(lines).encode()
    assert len(head) > reading.SAMPLE_BYTES
    path = tmp_path / "mixed.csv"
    path.write_bytes(head + "李四,138\r\n".encode("gbk") + "王五,137\r\n".encode())
    info = inspect_table(path, "mixed.csv")
    assert info.encoding == "utf-8"
    seen = []
    with pytest.raises(ValidationError) as caught:
        for number, _row in iter_rows(path, info):
            seen.append(number)
    assert caught.value.code == "mixed_encoding"
    assert "Row 4,002 " in _text(caught.value)
    assert seen == list(range(2, 4002))


@pytest.mark.parametrize("utf8_row", ["王五,上海市浦东新区", "王五,1", '王五,"多\n行"'])
def test_a_utf8_row_deep_in_a_gbk_file_is_named(tmp_path, utf8_row):
    """UTF-8 bytes decode as GB18030 without an error (into other characters): the row is
    found by its bytes, after the sample, with its number right after quoted line breaks."""
    gbk = "".join(f'客户{i},"北京市\n海淀区{i}号"\r\n' for i in range(3000)).encode("gbk")
    assert len(gbk) > reading.SAMPLE_BYTES
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "姓名,地址\r\n".encode("gbk")
        + gbk
        + (utf8_row + "\r\n").encode()
        + "张三,1\r\n".encode("gbk")
    )
    info = inspect_table(path, "mixed.csv")
    assert info.encoding == "gb18030"
    seen = []
    with pytest.raises(ValidationError) as caught:
        for number, _row in iter_rows(path, info):
            seen.append(number)
    assert caught.value.code == "mixed_encoding"
    assert "Row 3,002 " in _text(caught.value)
    assert "GB18030" in _text(caught.value)
    assert seen == list(range(2, 3002))


def test_a_long_gbk_file_of_chinese_is_not_mixed(tmp_path):
    """Common and rare characters in GBK, line after line: no line is taken for UTF-8."""
    chars = "".join(chr(c) for c in range(0x4E00, 0x9FA6) if _gbk(chr(c)))
    rows = [[chars[i % len(chars) : i % len(chars) + 7], str(i)] for i in range(0, 60000, 3)]
    path = write_csv(tmp_path / "gbk.csv", [["名称", "编号"], *rows], encoding="gbk")
    info = inspect_table(path, "gbk.csv")
    assert info.encoding == "gb18030"
    assert sum(1 for _ in iter_rows(path, info)) == len(rows)


def _gbk(ch: str) -> bool:
    try:
        ch.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def test_two_files_read_at_once_keep_their_own_encoding_errors(tmp_path):
    """Undecodable bytes are counted process-wide; a clean file read alongside a bad one
    still yields every row, and the bad one still names its row."""
    lines = "".join(f"张三{i},139{i:08d}\r\n" for i in range(3000)).encode()
    bad = tmp_path / "bad.csv"
    bad.write_bytes("姓名,手机\r\n".encode() + lines + "李四,1\r\n".encode("gbk") + lines)
    good = write_csv(tmp_path / "good.csv", [HEADERS] + [ROWS[0]] * 5000)
    bad_rows = iter_rows(bad, inspect_table(bad, "bad.csv"))
    good_rows = iter_rows(good, inspect_table(good, "good.csv"))
    got = 0
    with pytest.raises(ValidationError) as caught:
        for _ in range(5000):
            next(good_rows)
            got += 1
            next(bad_rows)
    assert "Row 3,002 " in _text(caught.value)
    assert sum(1 for _ in good_rows) + got == 5000


def test_a_utf8_line_in_a_gb18030_file_at_the_end_is_named(tmp_path):
    """Invalid GB18030 bytes (a lone 0x80) in a GB18030 file: the row is named."""
    lines = "".join(f"张三{i},139{i:08d}\r\n" for i in range(5000)).encode("gb18030")
    path = tmp_path / "mixed.csv"
    path.write_bytes("姓名,手机\r\n".encode("gb18030") + lines + b"\x80\x80,1\r\n")
    info = inspect_table(path, "mixed.csv")
    assert info.encoding == "gb18030"
    with pytest.raises(ValidationError) as caught:
        list(iter_rows(path, info))
    assert caught.value.code == "mixed_encoding"
    assert "Row 5,002 " in _text(caught.value)
    assert "GB18030" in _text(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        "Name,City\r\nJosé,Málaga\r\nRené,Besançon\r\n".encode("cp1252"),
        "名前,都市\r\nｱｲｳ,ﾄｳｷｮｳ\r\n".encode("shift_jis") + b"\xff\xfe\xfd\r\n",
    ],
    ids=["windows-1252", "shift-jis"],
)
def test_other_encodings_are_refused(tmp_path, data):
    path = tmp_path / "other.csv"
    path.write_bytes(data)
    error = _refusal("encoding", path)
    assert "CSV UTF-8" in _text(error)


def test_utf16_text_is_refused_with_advice(tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_bytes("姓名\t手机\r\n张三\t139\r\n".encode("utf-16"))
    error = _refusal("utf16", path)
    assert "CSV UTF-8" in _text(error)


# --- CSV delimiters and rows -------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_are_sniffed(tmp_path, delimiter):
    rows = [["name", "amount", "note"], ["Ann", "12,5", "a;b"], ["Bob", "3", "tab"]]
    if delimiter == "\t":
        rows[2][2] = "x,y;z"
    path = write_csv(tmp_path / "d.csv", rows, delimiter=delimiter)
    info, got = _rows(path)
    assert info.delimiter == delimiter
    assert info.headers == ["name", "amount", "note"]
    assert [row for _n, row in got] == rows[1:]


@pytest.mark.parametrize(("filename", "delimiter"), [("list.tsv", "\t"), ("list.txt", ",")])
def test_a_tie_goes_to_the_tab_only_in_a_tsv_file(tmp_path, filename, delimiter):
    """Both split every line in two: the extension decides."""
    path = tmp_path / filename
    path.write_text("name\taddress, city\nAnn\tBeijing, China\n")
    assert inspect_table(path, filename).delimiter == delimiter


def test_semicolon_file_with_decimal_commas_is_semicolon(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("Name;Betrag;Datum\nAnna;12,50;05.03.2024\nBen;3,20;06.03.2024\n")
    info, rows = _rows(path)
    assert info.delimiter == ";"
    assert rows[0] == (2, ["Anna", "12,50", "05.03.2024"])


def test_single_column_csv(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("phone\n13900001111\n13900002222\n")
    info, rows = _rows(path)
    assert info.headers == ["phone"]
    assert rows == [(2, ["13900001111"]), (3, ["13900002222"])]


def test_quoted_newlines_and_blank_lines_keep_row_numbers_right(tmp_path):
    """Numbers as Excel shows them: a quoted cell over several lines is one row, blank rows
    count, and the header is wherever the first non-empty row is."""
    path = tmp_path / "q.csv"
    path.write_text(
        "\n"  # row 1: blank
        "name,note\n"  # row 2: header
        'Ann,"line one\nline two\nline three"\n'  # row 3
        "\n"  # row 4: blank
        "Bob,plain\n"  # row 5
        " , \n"  # row 6: only spaces
        'Cat,"a ""quoted"" word"\n',  # row 7
        encoding="utf-8",
    )
    info, rows = _rows(path)
    assert info.headers == ["name", "note"]
    assert rows == [
        (3, ["Ann", "line one\nline two\nline three"]),
        (5, ["Bob", "plain"]),
        (7, ["Cat", 'a "quoted" word']),
    ]


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_endings(tmp_path, newline):
    path = write_csv(tmp_path / "n.csv", [HEADERS, *ROWS], newline=newline)
    _info, rows = _rows(path)
    assert [number for number, _ in rows] == [2, 3, 4]


def test_short_rows_are_padded_and_extra_cells_kept(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b,c\n1\n1,2,3,,\n1,2,3,4\n")
    _info, rows = _rows(path)
    assert rows == [(2, ["1", "", ""]), (3, ["1", "2", "3"]), (4, ["1", "2", "3", "4"])]


def test_header_cells_are_stripped_and_empty_ones_kept(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(" name , ,phone \nAnn,x,1\n")
    info, rows = _rows(path)
    assert info.headers == ["name", "", "phone"]
    assert rows == [(2, ["Ann", "x", "1"])]


def test_header_only_has_no_rows(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("name,phone\r\n")
    info, rows = _rows(path)
    assert info.headers == ["name", "phone"]
    assert info.rows_estimate == 0
    assert rows == []


@pytest.mark.parametrize(
    "data", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n", b",,,\r\n,,\r\n"]
)
def test_empty_csv_is_refused(tmp_path, data):
    path = tmp_path / "empty.csv"
    path.write_bytes(data)
    with pytest.raises(ValidationError) as caught:
        inspect_table(path, "empty.csv")
    assert caught.value.code in ("empty", "no_header")


def test_duplicate_headers_are_named(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["姓名", "手机", "Phone", "姓名", "phone", ""], []])
    error = _refusal("duplicate_headers", path)
    assert "“姓名”" in _text(error)
    assert "“Phone”" in _text(error)
    assert "手机" not in _text(error)


def test_several_empty_headers_are_not_duplicates(tmp_path):
    info, _ = _rows(write_csv(tmp_path / "e.csv", [["a", "", "b", ""], ["1", "2", "3", "4"]]))
    assert info.headers == ["a", "", "b", ""]


def test_too_many_columns(tmp_path, settings):
    settings.CRM_IMPORT_MAX_COLUMNS = 5
    path = write_csv(tmp_path / "w.csv", [[f"c{i}" for i in range(6)]])
    error = _refusal("too_many_columns", path)
    assert "6 columns" in _text(error)
    write_csv(path, [[f"c{i}" for i in range(5)]])
    assert len(inspect_table(path, "w.csv").headers) == 5


def test_a_header_longer_than_the_sample_is_not_given_a_made_up_count(tmp_path):
    """A 1,000,000-column header: the sample holds only its first ~10,000 names, so the message
    says "more than" that instead of claiming the file has exactly that many columns."""
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n", encoding="utf-8")
    text = _text(_refusal("too_many_columns", path))
    assert "has more than" in text and "we import at most" in text


def test_too_many_rows_stop_iteration(tmp_path, settings):
    settings.CRM_IMPORT_MAX_ROWS = 3
    path = write_csv(tmp_path / "r.csv", [["a"], ["1"], ["2"], [""], ["3"], ["4"]])
    info = inspect_table(path, "r.csv")
    numbers = []
    with pytest.raises(ValidationError) as caught:
        for number, _row in iter_rows(path, info):
            numbers.append(number)
    assert caught.value.code == "too_many_rows"
    assert numbers == [2, 3, 5]


def test_an_unclosed_quote_names_the_row(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text('name,note\nAnn,ok\nBob,"never closed\n' + "more text\n" * 20000)
    info = inspect_table(path, "u.csv")
    with pytest.raises(ValidationError) as caught:
        list(iter_rows(path, info))
    assert caught.value.code == "bad_csv"
    assert "Row 3 " in _text(caught.value)


def test_rows_estimate_of_a_large_csv_is_close(tmp_path):
    rows = [HEADERS] + [[f"张{i}", f"139{i:08d}", f"u{i}@x.cn", "2000-01-01"] for i in range(20000)]
    path = write_csv(tmp_path / "big.csv", rows)
    info = inspect_table(path, "big.csv")
    assert info.rows_estimate is not None
    assert 18000 <= info.rows_estimate <= 22000
    assert sum(1 for _ in iter_rows(path, info)) == 20000


# --- Not CSV at all ----------------------------------------------------------------------------


def test_binary_renamed_csv_is_refused(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10)
    error = _refusal("binary", path)
    assert "CSV UTF-8" in _text(error)


def test_control_characters_without_nul_are_binary(tmp_path):
    path = tmp_path / "blob.csv"
    path.write_bytes(bytes(range(1, 32)) * 200)
    _refusal("binary", path)


@pytest.mark.parametrize("filename", ["old.csv", "old.xlsx", "old.txt"])
def test_old_excel_file_renamed_is_refused(tmp_path, filename):
    path = tmp_path / filename
    path.write_bytes(OLE2_MAGIC + b"\x00" * 4000)
    error = _refusal("xls", path)
    assert ".xlsx" in _text(error)


def test_other_zip_renamed_xlsx_is_refused(tmp_path):
    path = tmp_path / "fake.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    _refusal("not_xlsx", path)


def test_text_named_xlsx_is_refused(tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_text("name,phone\nAnn,1\n")
    _refusal("not_xlsx", path)


def test_truncated_xlsx_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "t.xlsx", [HEADERS, *ROWS])
    path.write_bytes(path.read_bytes()[:600])
    _refusal("bad_xlsx", path)


def test_xlsx_with_xml_entities_is_refused(tmp_path):
    """A "billion laughs" sheet: defusedxml refuses entity declarations."""
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&c;</t></is></c></row>'
        b"</sheetData></worksheet>"
    )
    _refusal("bad_xlsx", write_raw_xlsx(tmp_path / "laughs.xlsx", laughs))


def test_xlsx_with_an_encrypted_member_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "enc.xlsx", [HEADERS, *ROWS])
    data = bytearray(path.read_bytes())
    # Set the "encrypted" flag of every entry in the central directory.
    position = 0
    while (position := data.find(b"PK\x01\x02", position)) >= 0:
        data[position + 8] |= 1
        position += 4
    path.write_bytes(bytes(data))
    _refusal("bad_xlsx", path)


def test_xlsx_renamed_csv_is_read_as_a_workbook(tmp_path):
    path = write_xlsx(tmp_path / "book.xlsx", [HEADERS, *ROWS])
    renamed = path.rename(tmp_path / "book.csv")
    info, rows = _rows(renamed)
    assert info.file_format == "xlsx"
    assert rows[0] == (2, ROWS[0])


# --- XLSX ----------------------------------------------------------------------------------------


def test_xlsx_headers_rows_and_estimate(tmp_path):
    path = write_xlsx(tmp_path / "b.xlsx", [HEADERS, *ROWS])
    info, rows = _rows(path)
    assert info == TableInfo(
        file_format="xlsx", encoding="", delimiter="", headers=HEADERS, rows_estimate=3
    )
    assert rows == [(2, ROWS[0]), (3, ROWS[1]), (4, ROWS[2])]


@pytest.mark.parametrize("reader", ["calamine", "stream"])
def test_xlsx_cell_types(tmp_path, reader):
    values = [
        ("text", "张三"),
        ("long phone", 13900001111),
        ("float phone", 13900001111.0),
        ("decimal", 12.5),
        ("negative", -3),
        ("computed", 0.1 + 0.2),
        ("huge", 1e20),
        ("date", datetime.date(2024, 3, 5)),
        ("datetime", datetime.datetime(2024, 3, 5, 10, 30)),
        ("midnight", datetime.datetime(2024, 3, 5)),
        ("time", datetime.time(10, 30)),
        ("yes", True),
        ("no", False),
        ("spaces", "  kept  "),
    ]
    path = write_xlsx(
        tmp_path / "types.xlsx", [[name for name, _ in values], [v for _, v in values]]
    )
    info = inspect_table(path, "types.xlsx")
    rows = list(reading._xlsx_rows(path, info, reader=reader))
    assert rows == [
        (
            2,
            [
                "张三",
                "13900001111",
                "13900001111",
                "12.5",
                "-3",
                "0.3",
                "100000000000000000000",
                "2024-03-05",
                "2024-03-05 10:30:00",
                "2024-03-05",
                "10:30:00",
                "TRUE",
                "FALSE",
                "  kept  ",
            ],
        )
    ]


@pytest.mark.parametrize("reader", ["calamine", "stream"])
def test_xlsx_formulas_errors_shared_strings_and_styles(tmp_path, reader):
    """What Excel writes: shared strings, formulas with cached values (numbers and text),
    error cells, numbers styled as dates, rich text."""
    strings = ["name", "total", "label", "lookup", "when", "at", "张三"]
    rows = (
        b'<row r="1">'
        + b"".join(f'<c r="{chr(65 + i)}1" t="s"><v>{i}</v></c>'.encode() for i in range(6))
        + b"</row>"
        b'<row r="2"><c r="A2" t="s"><v>6</v></c>'
        b'<c r="B2"><f>SUM(1,2)</f><v>3</v></c>'
        b'<c r="C2" t="str"><f>UPPER("abc")</f><v>ABC</v></c>'
        b'<c r="D2" t="e"><f>VLOOKUP(1,X:Y,2,0)</f><v>#N/A</v></c>'
        b'<c r="E2" s="1"><v>45356</v></c>'
        b'<c r="F2" s="2"><v>45356.4375</v></c></row>'
        b'<row r="3"><c r="A3" t="inlineStr"><is>'
        b'<r><t xml:space="preserve">rich </t></r><r><t>text</t></r></is></c>'
        b'<c r="B3" t="e"><v>#DIV/0!</v></c><c r="C3" t="e"/><c r="D3"><v>7</v></c></row>'
    )
    path = write_raw_xlsx(
        tmp_path / "excel.xlsx",
        sheet_xml(rows, dimension="A1:F3"),
        shared_strings=shared_strings_xml(strings),
    )
    info = inspect_table(path, "excel.xlsx")
    assert info.headers == strings[:6]
    assert info.rows_estimate == 2
    assert list(reading._xlsx_rows(path, info, reader=reader)) == [
        (2, ["张三", "3", "ABC", "#N/A", "2024-03-05", "2024-03-05 10:30:00"]),
        (3, ["rich text", "#DIV/0!", "", "7", "", ""]),
    ]


@pytest.mark.parametrize("reader", ["calamine", "stream"])
def test_xlsx_table_not_at_a1_keeps_columns_and_row_numbers(tmp_path, reader):
    path = write_xlsx(
        tmp_path / "offset.xlsx",
        [["name", "phone"], ["Ann", "1"], [], ["Bob", "2"]],
        first_cell="C3",
    )
    info = inspect_table(path, "offset.xlsx")
    assert info.headers == ["", "", "name", "phone"]
    assert list(reading._xlsx_rows(path, info, reader=reader)) == [
        (4, ["", "", "Ann", "1"]),
        (6, ["", "", "Bob", "2"]),
    ]


def test_xlsx_reads_only_the_first_sheet(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    first = book.active
    first.title = "客户"
    first.append(["name"])
    first.append(["Ann"])
    other = book.create_sheet("Other")
    other.append(["ignored"])
    other.append(["x"])
    path = tmp_path / "two.xlsx"
    book.save(str(path))
    info, rows = _rows(path)
    assert info.headers == ["name"]
    assert rows == [(2, ["Ann"])]


def test_xlsx_duplicate_headers(tmp_path):
    path = write_xlsx(tmp_path / "d.xlsx", [["手机", "Email", "手机 "], ["1", "a", "2"]])
    error = _refusal("duplicate_headers", path)
    assert "“手机”" in _text(error)


def test_xlsx_without_header_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "empty.xlsx", [])
    _refusal("no_header", path)


def test_xlsx_too_many_columns(tmp_path, settings):
    settings.CRM_IMPORT_MAX_COLUMNS = 3
    _refusal("too_many_columns", write_xlsx(tmp_path / "w.xlsx", [["a", "b", "c", "d"]]))


def test_xlsx_declaring_a_million_rows_is_a_claim_not_a_fact(tmp_path, settings):
    """Two real rows, a <dimension> of 1,048,576 that a 300-byte sheet cannot hold: neither
    refused nor estimated from the declaration; its two rows are read."""
    settings.CRM_IMPORT_MAX_ROWS = 1_000_000
    rows = inline_row(1, ["name", "phone"]) + inline_row(2, ["Ann", "1"])
    path = write_raw_xlsx(tmp_path / "huge.xlsx", sheet_xml(rows, dimension="A1:B1048576"))
    info = inspect_table(path, "huge.xlsx")
    assert info.rows_estimate == 1
    assert list(iter_rows(path, info)) == [(2, ["Ann", "1"])]


def test_xlsx_with_more_rows_than_allowed_stops_iteration(tmp_path, settings):
    settings.CRM_IMPORT_MAX_ROWS = 2
    path = write_xlsx(tmp_path / "r.xlsx", [["a"], ["1"], ["2"], ["3"]])
    _refusal("too_many_rows", path)  # openpyxl writes <dimension ref="A1:A4">
    rows = inline_row(1, ["a"]) + inline_row(2, ["1"]) + inline_row(3, ["2"]) + inline_row(4, ["3"])
    path = write_raw_xlsx(tmp_path / "nodim.xlsx", sheet_xml(rows))
    info = inspect_table(path, "nodim.xlsx")
    with pytest.raises(ValidationError) as caught:
        list(iter_rows(path, info))
    assert caught.value.code == "too_many_rows"


def test_xlsx_zip_bomb_is_refused(tmp_path):
    path = zip_bomb_xlsx(tmp_path / "bomb.xlsx", megabytes=64)
    assert path.stat().st_size < 64 * 1024 * 1024 / 200
    error = _refusal("zip_bomb", path)
    assert "CSV UTF-8" in _text(error)


def test_xlsx_zip_bomb_is_refused_by_iter_rows_too(tmp_path):
    """iter_rows checks again: the file may have been swapped since it was inspected."""
    path = zip_bomb_xlsx(tmp_path / "bomb.xlsx", megabytes=32)
    info = TableInfo(
        file_format="xlsx", encoding="", delimiter="", headers=["name"], rows_estimate=1
    )
    with pytest.raises(ValidationError) as caught:
        list(iter_rows(path, info))
    assert caught.value.code == "zip_bomb"


def test_xlsx_declaring_over_a_gigabyte_unpacked_is_refused(tmp_path):
    """Not a bomb by its ratio (a 16 MB file with incompressible pictures), but more than we
    unpack from one workbook."""
    path = write_xlsx(tmp_path / "big.xlsx", [HEADERS, *ROWS])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("xl/media/image1.png", os.urandom(16 * 1024 * 1024))
    forge_member_size(path, "xl/worksheets/sheet1.xml", 1100 * 1024 * 1024)
    error = _refusal("too_large", path)
    assert "1 GB" in _text(error)


def test_xlsx_lying_about_its_size_is_refused_before_parsing(tmp_path):
    """A zip directory that understates the sheet's size passes the directory checks and the
    header (the first bytes); inflating the member for real gives it away."""
    rows = inline_row(1, ["name", "phone"]) + b"".join(
        inline_row(n, [f"name {n}", f"{n}"]) for n in range(2, 20000)
    )
    sheet = sheet_xml(rows)
    path = write_raw_xlsx(tmp_path / "liar.xlsx", sheet)
    forge_member_size(path, "xl/worksheets/sheet1.xml", 4096)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 4096
    info = inspect_table(path, "liar.xlsx")
    assert info.headers == ["name", "phone"]
    with pytest.raises(ValidationError) as caught:
        list(iter_rows(path, info))
    assert caught.value.code == "zip_bomb"


def test_xlsx_calamine_and_openpyxl_agree_on_a_larger_sheet(tmp_path):
    rows: list[list[object]] = [list(HEADERS)]
    rows += [
        [f"张{i}", 13900000000 + i, f"u{i}@x.cn", datetime.date(2000, 1, 1 + i % 28)]
        for i in range(300)
    ]
    rows[100] = [None, None, None, None]
    path = write_xlsx(tmp_path / "agree.xlsx", rows)
    info = inspect_table(path, "agree.xlsx")
    calamine = list(reading._xlsx_rows(path, info, reader="calamine"))
    assert calamine == list(reading._xlsx_rows(path, info, reader="openpyxl"))
    assert len(calamine) == 299
    assert calamine[0] == (2, ["张0", "13900000000", "u0@x.cn", "2000-01-01"])
    assert calamine[99] == (102, ["张100", "13900000100", "u100@x.cn", "2000-01-17"])


# --- Our own exports read back ---------------------------------------------------------------

EXPORTED = [
    ["张三", '=HYPERLINK("http://x")', "-12.50", "'quoted", "+86 139 0000 1111"],
    ["O'Brien, Pat", "line one\nline two", "", "@home", "13900001111"],
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_our_exports_read_back_unchanged(tmp_path, fmt):
    """What exporting writes (BOM CSV, write-only XLSX, formula-escaped cells), reading gives
    back cell for cell once unescape_formula undoes the escaping."""
    headers = ["姓名", "备注", "金额", "引用", "手机"]
    path = tmp_path / f"export.{fmt}"
    writer = exporting.write_csv if fmt == "csv" else exporting.write_xlsx
    writer(path, headers, EXPORTED)
    info, rows = _rows(path)
    assert info.file_format == fmt
    if fmt == "csv":
        assert info.encoding == "utf-8-sig"
    assert info.headers == headers
    assert [number for number, _ in rows] == [2, 3]
    assert [[unescape_formula(cell) for cell in row] for _n, row in rows] == EXPORTED


@pytest.mark.parametrize("reader", ["calamine", "stream"])
def test_xlsx_with_prefixed_namespace(tmp_path, reader):
    """Some writers (the .NET Open XML SDK) prefix every element: <x:row>, <x:c>."""
    ns = b'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8"?><x:worksheet ' + ns + b">"
        b'<x:dimension ref="A1:B2"/><x:sheetData>'
        b'<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>name</x:t></x:is></x:c>'
        b'<x:c r="B1" t="inlineStr"><x:is><x:t>phone</x:t></x:is></x:c></x:row>'
        b'<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>Ann</x:t></x:is></x:c>'
        b'<x:c r="B2" t="e"><x:v>#N/A</x:v></x:c></x:row>'
        b"</x:sheetData></x:worksheet>"
    )
    path = write_raw_xlsx(tmp_path / "sdk.xlsx", sheet)
    info = inspect_table(path, "sdk.xlsx")
    assert info.headers == ["name", "phone"]
    assert info.rows_estimate == 1
    assert list(reading._xlsx_rows(path, info, reader=reader)) == [(2, ["Ann", "#N/A"])]
