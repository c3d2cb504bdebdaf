"""Refusing an oversized import upload while it streams in.

Django writes an upload to a temporary file before the view sees it, so a size check in the
view (or in reading.save_upload) comes after the whole body is on disk: a 250 MB upload wrote
430 MB to /tmp before being refused. ``UploadLimit``, put first among the request's upload
handlers by the view, stops storing the file the moment it passes the limit (at once when the
request's Content-Length already does); the rest of the body is read and dropped, so the user
gets the form back with a plain message instead of a reset connection."""

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

# Room in a request's body for the form's other fields and the multipart framing.
MULTIPART_SLACK = 64 * 1024


class UploadLimit(FileUploadHandler):
    """Passes each file's bytes on to the next handlers until ``limit`` of them arrived, then
    skips the file (the handlers after it drop what they held); ``refused`` tells the view."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.refused = False
        self.body_length = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        self.body_length = content_length
        return None  # parse as usual

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        if self.body_length > self.limit + MULTIPART_SLACK:
            self.refused = True
            raise SkipFile

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.limit:
            self.refused = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the file


def upload_limit_install(request: HttpRequest, limit: int) -> UploadLimit:
    """Put an UploadLimit first among the request's handlers (before its body is read)."""
    handler = UploadLimit(request, limit)
    request.upload_handlers.insert(0, handler)
    return handler
