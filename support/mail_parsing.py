"""Reading a raw RFC 822 message as Chinese and international mail really arrives: encoded
headers (RFC 2047, RFC 2231 file names, raw 8-bit UTF-8 or GBK), bodies in GB2312, GBK,
GB18030, Big5 or UTF-8, quoted-printable or base64, HTML-only bodies, attachments. Imports no
model: support.mail_inbound decides what the message means for tickets.

GB2312 and GBK are decoded as GB18030, their superset: mail labelled GB2312 routinely holds
GBK characters (a "gb2312" decoder fails on 镕 or 啰), and Big5 as Big5-HKSCS for the same
reason."""

import codecs
import email
import email.errors
import email.header
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parseaddr
from html.parser import HTMLParser

CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
}
# Tried in turn on text that names no charset, or a wrong one.
FALLBACKS = ("utf-8", "gb18030", "big5hkscs")

AUTO_SUBJECT_PREFIXES = (
    "auto:",
    "automatic reply",
    "auto reply",
    "autoreply",
    "out of office",
    "自动回复",
    "自動回覆",
    "undeliverable",
    "delivery status notification",
    "mail delivery failed",
    "退信",
    "系统退信",
)
DAEMON_LOCALPARTS = frozenset(
    {"mailer-daemon", "postmaster", "no-reply", "noreply", "donotreply", "do-not-reply"}
)
REFERENCE = re.compile(r"\bT-(\d{6,18})\b", re.IGNORECASE)
MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")


def codec_for(charset: str | None) -> str | None:
    """A Python codec for a MIME charset label (None when unknown)."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    label = CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def bytes_decode(data: bytes, charset: str | None) -> str:
    """Text from `data` in `charset`, else the first fallback that reads it cleanly, else the
    labelled (or UTF-8) decoder replacing what it cannot read."""
    codec = codec_for(charset)
    for name in ([codec] if codec else []) + [c for c in FALLBACKS if c != codec]:
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            continue
    return data.decode(codec or "utf-8", errors="replace")


def header_text(raw: object) -> str:
    """A header's text: RFC 2047 encoded words decoded with the aliases above, raw 8-bit
    bytes (kept by the parser as surrogates) decoded as UTF-8 or GB18030; one line."""
    if raw is None:
        return ""
    source: object = raw
    if not isinstance(raw, email.header.Header):
        text = str(raw)
        if any("\udc80" <= ch <= "\udcff" for ch in text):
            text = bytes_decode(text.encode("ascii", "surrogateescape"), None)
        source = text
    # A Header (what the parser makes of raw 8-bit bytes) gives its bytes back here, labelled
    # unknown-8bit, and bytes_decode finds what they are.
    pieces = []
    try:
        parts = email.header.decode_header(source)  # type: ignore[arg-type]
    except (ValueError, email.errors.HeaderParseError):
        parts = [(str(source), None)]
    for value, charset in parts:
        if isinstance(value, bytes):
            pieces.append(bytes_decode(value, charset))
        else:
            pieces.append(value)
    return " ".join("".join(pieces).split())


class _TextFromHtml(HTMLParser):
    BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
    )
    SKIPPED = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: tags, scripts and styles dropped, blocks on lines."""
    parser = _TextFromHtml()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _clean_text(text: str) -> str:
    # Postgres text holds no NUL; other control characters (but tab and line breaks) go too.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or ch >= " " or ch == "\x7f").strip()


@dataclass
class MailPart:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    message_id: str
    sender_name: str
    sender_email: str
    subject: str
    body: str
    in_reply_to: list[str]
    references: list[str]
    attachments: list[MailPart] = field(default_factory=list)
    auto_reason: str = ""  # why it is an automatic message, "" for a person's
    headers: dict[str, str] = field(default_factory=dict)

    def thread_ids(self) -> list[str]:
        """The Message-IDs this answers, nearest first."""
        seen: list[str] = []
        for value in self.in_reply_to + list(reversed(self.references)):
            if value not in seen:
                seen.append(value)
        return seen

    def subject_numbers(self) -> list[int]:
        return [int(n) for n in REFERENCE.findall(self.subject)]


def _ids(raw: object) -> list[str]:
    return MESSAGE_ID.findall(header_text(raw))


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return bytes_decode(data, part.get_content_charset())


def _filename(part: Message) -> str:
    name = part.get_filename()
    if not name:
        return ""
    return header_text(name)


def _auto_reason(message: Message, sender_email: str, subject: str) -> str:
    auto = header_text(message.get("Auto-Submitted")).lower()
    if auto and auto != "no":
        return "auto-submitted"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-AutoReply-From"):
        if message.get(name) is not None:
            return name.lower()
    suppress = header_text(message.get("X-Auto-Response-Suppress")).lower()
    if any(word in suppress for word in ("all", "oof", "autoreply")):
        return "x-auto-response-suppress"
    precedence = header_text(message.get("Precedence")).lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"precedence {precedence}"
    if message.get("List-Id") is not None:
        return "list-id"
    if message.get_content_type() == "multipart/report":
        return "delivery report"
    if header_text(message.get("Return-Path")).strip() == "<>":
        return "null sender"
    if sender_email.split("@", 1)[0] in DAEMON_LOCALPARTS:
        return "daemon sender"
    lowered = subject.lower()
    if any(lowered.startswith(prefix) for prefix in AUTO_SUBJECT_PREFIXES):
        return "automatic subject"
    return ""


def mail_parse(raw: bytes) -> ParsedMail:
    """Everything support needs of a raw message. Never raises on odd encodings: what cannot
    be read is replaced, and a message without a Message-ID gets one from its bytes (so a
    relay's retry of it is still recognised)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    sender_name, sender_email = parseaddr(header_text(message.get("From")))
    sender_email = sender_email.strip().lower()
    subject = header_text(message.get("Subject"))
    ids = _ids(message.get("Message-ID"))
    message_id = ids[0] if ids else f"sha256-{hashlib.sha256(raw).hexdigest()}@inbound.invalid"
    plain: str | None = None
    html: str | None = None
    attachments: list[MailPart] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = _filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        content_type = part.get_content_type()
        if filename or disposition == "attachment":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                attachments.append(MailPart(filename or "attachment", content_type, data))
            continue
        if content_type == "text/plain" and plain is None:
            plain = _part_text(part)
        elif content_type == "text/html" and html is None:
            html = _part_text(part)
    body = plain if plain and plain.strip() else html_to_text(html) if html else ""
    headers = {
        name: header_text(message.get(name))
        for name in ("X-CRM-Mailer", "X-CRM-Ticket")
        if message.get(name) is not None
    }
    return ParsedMail(
        message_id=message_id,
        sender_name=" ".join(sender_name.split())[:150],
        sender_email=sender_email,
        subject=_clean_text(subject),
        body=_clean_text(body),
        in_reply_to=_ids(message.get("In-Reply-To")),
        references=_ids(message.get("References")),
        attachments=attachments,
        auto_reason=_auto_reason(message, sender_email, subject),
        headers=headers,
    )
