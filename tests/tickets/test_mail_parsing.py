"""support.mail_parsing: what mail from Chinese and international clients decodes to."""

import pytest

from support.mail_parsing import html_to_text, mail_parse
from tests.tickets.mail_samples import raw_mail


@pytest.mark.parametrize(
    ("charset", "transfer", "text"),
    [
        # Labelled GB2312 but holding GBK characters (镕, 啰), as real clients send.
        ("gb2312", "quoted-printable", "您好，朱镕基 啰嗦 我的包裹还没到"),
        ("gbk", "base64", "退货退款 请尽快处理"),
        ("big5", "base64", "請問我的訂單何時出貨"),
        ("utf-8", "quoted-printable", "包裹 Ünïcødé ✓"),
    ],
)
def test_subject_and_body_decode_in_every_charset(charset, transfer, text):
    mail = mail_parse(
        raw_mail(
            sender="Wang.Fang@Example.CN",
            subject=text,
            body=text,
            charset=charset,
            transfer=transfer,
        )
    )
    assert mail.subject == text
    assert mail.body == text
    assert mail.sender_email == "wang.fang@example.cn"
    assert mail.auto_reason == ""


def test_attachments_keep_their_cjk_names_and_bytes():
    mail = mail_parse(
        raw_mail(sender="a@example.cn", attachments=[("发票 2026.pdf", b"%PDF-1.4 \x00\xff")])
    )
    assert [(p.filename, p.data) for p in mail.attachments] == [
        ("发票 2026.pdf", b"%PDF-1.4 \x00\xff")
    ]


def test_an_html_only_body_becomes_text():
    html = (
        "<html><head><style>p{}</style><script>x()</script></head>"
        "<body><p>您好 &amp; hello</p><div>第二行</div></body></html>"
    )
    mail = mail_parse(raw_mail(sender="a@example.cn", body=html, html=True))
    assert mail.body == "您好 & hello\n\n第二行"
    assert html_to_text("<b>a</b><br>b") == "a\nb"


def test_raw_8bit_headers_and_unknown_charsets_do_not_break_parsing():
    raw = (
        b"From: =?unknown?B?eA==?= <x@example.cn>\r\nSubject: "
        + "原始的UTF-8主题".encode()
        + b"\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\n"
        + "正文".encode("gb18030")
    )
    mail = mail_parse(raw)
    assert mail.subject == "原始的UTF-8主题"
    assert mail.body == "正文"
    assert mail.message_id.startswith("sha256-")


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"Auto-Submitted": "auto-replied"}, "a@example.cn"),
        ({"X-Autoreply": "yes"}, "a@example.cn"),
        ({"Precedence": "bulk"}, "a@example.cn"),
        ({"Precedence": "junk"}, "a@example.cn"),
        ({"Precedence": "list"}, "a@example.cn"),
        ({"X-Auto-Response-Suppress": "All"}, "a@example.cn"),
        ({"List-Id": "<news.example.cn>"}, "a@example.cn"),
        ({"Return-Path": "<>"}, "a@example.cn"),
        ({}, "MAILER-DAEMON@example.cn"),
        ({}, "postmaster@example.cn"),
    ],
)
def test_automatic_mail_is_recognised(headers, sender):
    assert mail_parse(raw_mail(sender=sender, extra_headers=headers)).auto_reason


def test_an_automatic_subject_is_recognised_and_a_persons_mail_is_not():
    assert mail_parse(raw_mail(sender="a@example.cn", subject="自动回复: 休假中")).auto_reason
    assert (
        mail_parse(
            raw_mail(sender="a@example.cn", extra_headers={"Auto-Submitted": "no"})
        ).auto_reason
        == ""
    )
