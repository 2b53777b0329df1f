"""Input files read safely, and URLs checked before a client misreads them.

``read_bounded`` reads a regular file of bounded size, never blocking on a FIFO or reading a
device without end; ``url_problem`` says what a client would misread in a URL (CR/LF, a port
out of range); ``url_parts_to_encode`` says where in a URL a spliced ``${VAR}`` value must be
percent-encoded.  The YAML reader (``yamlfile.py``) uses all three.
"""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

#: Largest input file read (an inventory of hundreds of targets is a few hundred KiB).
MAX_FILE_BYTES = 4 * 1024 * 1024


def read_bounded(path: Path, display: str, *, what: str, missing: str, directory: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or a ``UsageError`` saying why not.

    A FIFO would block ``open`` until a writer comes and ``/dev/zero`` never ends: the file is
    opened non-blocking and checked with ``fstat`` (the same file that is then read, so a swap
    in between changes nothing), and at most ``limit + 1`` bytes are ever read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise pytest.UsageError(f"{display}: {missing}") from None
    except IsADirectoryError:
        raise pytest.UsageError(f"{display}: {directory}") from None
    except OSError as exc:
        raise pytest.UsageError(f"{display}: cannot be read ({exc.strerror or exc}); make the {what} readable by this user") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise pytest.UsageError(f"{display}: {directory}")
        if not stat.S_ISREG(info.st_mode):
            raise pytest.UsageError(f"{display}: is {_file_type(info.st_mode)}, not a regular file; give the {what} as a YAML file")
        if info.st_size > limit:
            raise pytest.UsageError(f"{display}: {info.st_size:,} bytes is larger than the {limit:,} bytes a {what} may have; "
                                    "is this the right file?")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            except OSError as exc:
                raise pytest.UsageError(f"{display}: cannot be read ({exc.strerror or exc}); check the file") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while being read
            raise pytest.UsageError(f"{display}: larger than the {limit:,} bytes a {what} may have; is this the right file?")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _file_type(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


_URL_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def url_problem(url: str) -> str | None:
    """What is wrong with a URL (written or interpolated) that a client would misread, or None:
    control characters or spaces (CR/LF would split a request line), a port outside 1-65535."""
    bad_char = _URL_CONTROL.search(url)
    if bad_char is not None:
        name = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\t": "a tab", " ": "a space"}.get(
            bad_char.group(), f"control character {ord(bad_char.group()):#04x}")
        return (f"the URL holds {name} at position {bad_char.start()}; a URL has none (percent-encode it, "
                "or check the environment variable it comes from)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"the URL's port is not a number in 1-65535 ({exc}); fix the URL"
    if port is not None and not 0 < port < 65536:
        return f"port {port} is out of range 1-65535; fix the URL"
    return None


def url_parts_to_encode(template: str) -> Any:
    """For a string written as a URL (``scheme://`` spelled out in the file): whether a variable
    at a position of the template sits in the user information (``scheme://${USER}:${PASS}@host``)
    or is a query value (``?password=${PW}``), where its value must be percent-encoded.  Host,
    port and path stay as given (``https://${HOST}:8443/${PREFIX}`` may hold ``:`` and ``/``)."""
    scheme = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", template)
    if scheme is None:
        return lambda position: False
    start = scheme.end()
    authority_end = len(template)
    for i in range(start, len(template)):
        if template[i] in "/?#" and not _inside_variable(template, i):
            authority_end = i
            break
    userinfo_end = template.rfind("@", start, authority_end)
    query = template.find("?", start)

    def encode(position: int) -> bool:
        if start <= position < userinfo_end:
            return True
        return query != -1 and position > query and template[position - 1] == "="

    return encode


def _inside_variable(template: str, index: int) -> bool:
    opened = template.rfind("${", 0, index)
    return opened != -1 and template.find("}", opened) > index
