from ninja import Schema


class ErrorOut(Schema):
    """Every refusal: a code a program can test and a sentence for a person."""

    error: str
    detail: str


# The refusals any token-authenticated operation may give, for its `response=`.
COMMON_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut}
