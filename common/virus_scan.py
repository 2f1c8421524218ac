"""A small client of ClamAV's daemon (``clamd``): one file's bytes over INSTREAM.

The protocol (clamd(8)): send ``zINSTREAM\\0``, then the bytes in chunks, each prefixed with
its length as a 4-byte big-endian integer, then a zero length; clamd answers one
NUL-terminated line: ``stream: OK``, ``stream: <signature> FOUND`` or ``... ERROR``.

``address`` is ``unix:/run/clamav/clamd.ctl`` (a socket path) or ``tcp://host:3310``.
"""

import socket
import struct
from dataclasses import dataclass

# clamd's StreamMaxLength defaults to 25 MB; chunks well under its buffer.
CHUNK_BYTES = 64 * 1024
# The longest answer we read: a signature name is short; anything longer is not clamd.
ANSWER_MAX_BYTES = 4096


class ScannerUnavailable(Exception):
    """clamd could not be reached, or answered something that is not a verdict."""


@dataclass(frozen=True)
class Verdict:
    clean: bool
    signature: str = ""  # what clamd found, when not clean


def _connect(address: str, timeout: float) -> socket.socket:
    if address.startswith("unix:"):
        path = address.removeprefix("unix:").removeprefix("//")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: object = path
    elif address.startswith("tcp://"):
        host, _, port = address.removeprefix("tcp://").rstrip("/").rpartition(":")
        if not host or not port.isdigit():
            raise ScannerUnavailable(f"the scanner's address {address!r} names no host and port")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        target = (host.strip("[]"), int(port))
    else:
        raise ScannerUnavailable(f"the scanner's address {address!r} is neither unix: nor tcp://")
    sock.settimeout(timeout)
    try:
        sock.connect(target)
    except OSError as error:
        sock.close()
        raise ScannerUnavailable(f"cannot reach the virus scanner at {address}: {error}") from error
    return sock


def scan(content: bytes, *, address: str, timeout: float) -> Verdict:
    """Scan ``content`` with the clamd at ``address``; ``ScannerUnavailable`` if it cannot."""
    with _connect(address, timeout) as sock:
        try:
            sock.sendall(b"zINSTREAM\0")
            for start in range(0, len(content), CHUNK_BYTES):
                chunk = content[start : start + CHUNK_BYTES]
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            answer = _read_answer(sock)
        except OSError as error:
            raise ScannerUnavailable(f"the virus scanner did not answer: {error}") from error
    return _verdict(answer)


def _read_answer(sock: socket.socket) -> bytes:
    answer = b""
    while b"\0" not in answer and len(answer) < ANSWER_MAX_BYTES:
        chunk = sock.recv(1024)
        if not chunk:
            break
        answer += chunk
    return answer.split(b"\0", 1)[0].strip()


def _verdict(answer: bytes) -> Verdict:
    text = answer.decode("utf-8", "replace")
    _, _, result = text.partition(": ")
    if result == "OK":
        return Verdict(clean=True)
    if result.endswith(" FOUND"):
        return Verdict(clean=False, signature=result.removesuffix(" FOUND"))
    # "INSTREAM size limit exceeded. ERROR", or anything else: no verdict.
    raise ScannerUnavailable(f"the virus scanner gave no verdict: {text[:200]!r}")
