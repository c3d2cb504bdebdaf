"""Raw RFC 822 messages as relays post them: the encodings Chinese mail really uses."""

import base64
import quopri
import uuid
from email.header import Header


def message_id() -> str:
    return f"{uuid.uuid4().hex}@mail.example.cn"


def encoded_word(text: str, charset: str, encoding: str = "B") -> str:
    data = text.encode("gb18030" if charset.lower() in ("gb2312", "gbk") else charset)
    if encoding == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    return f"=?{charset}?Q?{quopri.encodestring(data, header=True).decode()}?="


def raw_mail(
    *,
    sender: str,
    subject: str = "Where is my parcel?",
    body: str = "It has not arrived.",
    charset: str = "utf-8",
    transfer: str = "base64",
    mid: str | None = None,
    extra_headers: dict[str, str] | None = None,
    attachments: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
    html: bool = False,
    sender_name: str = "",
) -> bytes:
    """A message with `subject` as an encoded word in `charset` (ASCII stays plain), a body
    in `charset` with `transfer` encoding, and base64 attachments (RFC 2231 names)."""
    codec = "gb18030" if charset.lower() in ("gb2312", "gbk") else charset
    boundary = uuid.uuid4().hex
    subject_header = subject if subject.isascii() else encoded_word(subject, charset)
    name_part = ""
    if sender_name:
        name_part = (
            sender_name if sender_name.isascii() else str(Header(sender_name, "utf-8").encode())
        ) + " "
    headers = {
        "From": f"{name_part}<{sender}>",
        "To": "support@acme.localhost",
        "Subject": subject_header,
        "Message-ID": f"<{mid or message_id()}>",
        "Date": "Sun, 06 Dec 2026 10:00:00 +0800",
        "MIME-Version": "1.0",
        **(extra_headers or {}),
    }
    data = body.encode(codec)
    payload = (
        base64.encodebytes(data).decode()
        if transfer == "base64"
        else quopri.encodestring(data).decode()
    )
    content_type = "text/html" if html else "text/plain"
    text_part = (
        f'Content-Type: {content_type}; charset="{charset}"\r\n'
        f"Content-Transfer-Encoding: {transfer}\r\n\r\n{payload}\r\n"
    )
    lines = [f"{k}: {v}" for k, v in headers.items()]
    if not attachments:
        return ("\r\n".join(lines) + "\r\n" + text_part).encode("ascii")
    parts = [f"--{boundary}\r\n{text_part}"]
    for name, content in attachments:
        quoted = "".join(f"%{b:02X}" for b in name.encode("utf-8"))
        parts.append(
            f"--{boundary}\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Disposition: attachment; filename*=UTF-8''{quoted}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            f"{base64.encodebytes(content).decode()}\r\n"
        )
    lines.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    return ("\r\n".join(lines) + "\r\n\r\n" + "".join(parts) + f"--{boundary}--\r\n").encode(
        "ascii"
    )
