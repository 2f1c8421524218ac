"""A stand-in for ClamAV's daemon on a Unix socket: it speaks INSTREAM (clamd(8)) and finds
the EICAR test string, as clamd does, so the scan's clean and infected paths run for real
over a socket."""

import socket
import struct
import threading
from pathlib import Path

# The anti-virus test file every scanner detects (eicar.org); harmless.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class FakeClamd:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.scanned: list[bytes] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(4)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"unix:{self.path}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        command = b""
        while not command.endswith(b"\0"):
            command += connection.recv(1)
        if command != b"zINSTREAM\0":
            connection.sendall(b"UNKNOWN COMMAND\0")
            return
        content = b""
        while True:
            (length,) = struct.unpack("!L", _exactly(connection, 4))
            if length == 0:
                break
            content += _exactly(connection, length)
        self.scanned.append(content)
        verdict = b"stream: Eicar-Signature FOUND" if EICAR in content else b"stream: OK"
        connection.sendall(verdict + b"\0")

    def close(self) -> None:
        self._server.close()


def _exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data
