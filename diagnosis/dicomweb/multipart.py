"""multipart/related bodies (RFC 2387) for DICOMweb: the STOW-RS request, copied to a temporary file and read
part by part (never held in memory whole), and the WADO-RS responses, streamed part by part."""

import mmap
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

CHUNK = 1024 * 1024
CRLF = b"\r\n"


class MalformedBody(ValueError):
    """The body is not the multipart/related it says it is (a person-readable message)."""


class BodyTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Part:
    content_type: str  # lower case, without parameters; "" when the part has none
    content: bytes


def content_type(header: str) -> Message:
    """A Content-Type (or Accept item) header parsed the way email parses them: get_content_type(), get_param()."""
    message = Message()
    message["Content-Type"] = header
    return message


def spool(stream, *, length: int | None, limit: int):
    """Copy the request body to a temporary file, refusing more than `limit` bytes, whatever Content-Length
    says. The caller closes it."""
    if length is not None and length > limit:
        raise BodyTooLarge
    body = tempfile.TemporaryFile()
    size = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limit:
            body.close()
            raise BodyTooLarge
        body.write(chunk)
    body.flush()
    return body


def parts(body, boundary: str) -> Iterator[Part]:
    """The parts of a multipart body (a file with a fileno), one at a time, read through a memory map so that
    only the current part is copied into memory. Raises MalformedBody."""
    body.seek(0, 2)
    if body.tell() == 0:
        raise MalformedBody("The request body is empty.")
    with mmap.mmap(body.fileno(), 0, access=mmap.ACCESS_READ) as view:
        yield from _split(view, boundary.encode("ascii", "replace"))


def _split(view: mmap.mmap, boundary: bytes) -> Iterator[Part]:
    delimiter = b"--" + boundary
    if view[: len(delimiter)] == delimiter:
        position = len(delimiter)
    elif (start := view.find(CRLF + delimiter)) >= 0:  # after a preamble
        position = start + 2 + len(delimiter)
    else:
        raise MalformedBody("The body holds no part: its boundary does not occur in it.")
    while True:
        if view[position : position + 2] == b"--":
            return  # the close delimiter
        line_end = view.find(CRLF, position)
        if line_end < 0 or view[position:line_end].strip(b" \t"):
            raise MalformedBody("A boundary line of the body is malformed.")
        part_start = line_end + 2
        part_end = view.find(CRLF + delimiter, part_start)
        if part_end < 0:
            raise MalformedBody("The body ends inside a part: its closing boundary is missing.")
        yield _part(view[part_start:part_end])
        position = part_end + 2 + len(delimiter)


def _part(raw: bytes) -> Part:
    if raw.startswith(CRLF):  # no headers
        return Part("", raw[2:])
    head_end = raw.find(CRLF + CRLF)
    if head_end < 0:
        raise MalformedBody("A part of the body has no blank line after its headers.")
    headers = BytesHeaderParser().parsebytes(raw[: head_end + 4])
    kind = headers.get("Content-Type", "")
    return Part(content_type(kind).get_content_type() if kind else "", raw[head_end + 4 :])


def new_boundary() -> str:
    return f"medsite-{secrets.token_hex(16)}"


def stream(pieces: Iterable[Iterable[bytes]], *, boundary: str, part_type: str) -> Iterator[bytes]:
    """A multipart/related body: each piece (an iterable of byte chunks) one part of type `part_type`."""
    for piece in pieces:
        yield f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
        yield from piece
        yield CRLF
    yield f"--{boundary}--\r\n".encode()
