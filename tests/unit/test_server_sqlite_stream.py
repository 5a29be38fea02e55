"""A streamed SQLite backup compressed by zstd on the way (when the client asks, the server has zstd and the data
compresses): the client's reader turns the chunks back into exactly the bytes the server kept."""
import json
import os
import random
import shutil
import sqlite3
import threading

import pytest

from deploytasks import openssh
from deploytasks.server.engines.sqlite_stream import compresses

from .test_server_sqlite import Stream, engine

needs_zstd = pytest.mark.skipif(shutil.which("zstd") is None, reason="no zstd on this machine")


def text_database(path, rows=20000):
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT)")
    connection.execute("CREATE TABLE article (id INTEGER PRIMARY KEY, title TEXT, body TEXT, doc TEXT)")
    words = "deploy release schema backup restore migration server laptop request worker".split()
    generator = random.Random(7)
    connection.executemany("INSERT INTO article (title, body, doc) VALUES (?, ?, ?)", [
        (f"Article {i}", " ".join(generator.choice(words) for _ in range(60)),
         json.dumps({"id": i, "tags": [generator.choice(words)], "score": i % 97})) for i in range(rows)])
    connection.commit()
    connection.close()


def random_database(path, rows=300):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE blob (data BLOB)")
    connection.executemany("INSERT INTO blob VALUES (?)", [(os.urandom(20000),) for _ in range(rows)])
    connection.commit()
    connection.close()


def streamed_backup(tmp_path, live, params):
    """Run the engine's streamed backup into a pipe and the client's reader on the other end: (header, the
    manifest, the bytes the client wrote, the sha256 it computed)."""
    read_fd, write_fd = os.pipe()
    stream = Stream(write_fd)
    received = tmp_path / "received"
    outcome = {}

    def client():
        with open(received, "wb") as handle:
            outcome["sha256"], outcome["sent"] = openssh._receive_chunks(read_fd, handle.fileno(), lambda done: None,
                                                        outcome["header"].get("compression"))

    backup = {}
    server = threading.Thread(target=lambda: backup.update(engine(live).backup(str(tmp_path / "b"), params, {},
                                                                               stream=stream)))
    server.start()
    while not stream.getvalue():
        server.join(0.01)
    outcome["header"] = json.loads(stream.getvalue().decode().split("@@", 2)[2])
    if outcome["header"].get("chunked"):
        client()
        server.join()
        os.close(write_fd)
    else:
        def raw():
            with open(received, "wb") as handle:
                while block := os.read(read_fd, 1 << 16):
                    handle.write(block)
        reader = threading.Thread(target=raw)
        reader.start()
        server.join()
        os.close(write_fd)
        reader.join()
        outcome["sha256"] = None
    os.close(read_fd)
    return outcome["header"], backup, received.read_bytes(), outcome["sha256"], outcome.get("sent")


@needs_zstd
def test_text_goes_down_compressed_and_comes_out_byte_for_byte(tmp_path):
    live = tmp_path / "db.sqlite3"
    text_database(live)
    header, manifest, received, sha256, sent = streamed_backup(tmp_path, live, {"stream_compression": "zstd"})
    assert header["compression"] == "zstd" and header["size"] == manifest["size"]
    assert received == open(manifest["path"], "rb").read()
    assert sha256 == manifest["sha256"]
    assert len(received) > 3 * sent


@needs_zstd
def test_random_bytes_go_down_as_they_are(tmp_path):
    live = tmp_path / "db.sqlite3"
    random_database(live)
    header, manifest, received, _, _ = streamed_backup(tmp_path, live, {"stream_compression": "zstd"})
    assert "compression" not in header
    assert received == open(manifest["path"], "rb").read()


def test_a_client_that_does_not_ask_gets_the_bytes_as_they_are(tmp_path):
    live = tmp_path / "db.sqlite3"
    text_database(live, rows=2000)
    header, manifest, received, _, _ = streamed_backup(tmp_path, live, {})
    assert "compression" not in header
    assert received == open(manifest["path"], "rb").read()


def test_compresses_tells_text_from_random_bytes(tmp_path):
    text, noise = tmp_path / "text.sqlite3", tmp_path / "noise.sqlite3"
    text_database(text)
    random_database(noise)
    for path, expected in ((text, True), (noise, False)):
        fd = os.open(path, os.O_RDONLY)
        try:
            assert compresses(fd, os.fstat(fd).st_size) is expected
        finally:
            os.close(fd)


def test_a_codec_the_client_does_not_know_is_a_clear_error():
    with pytest.raises(OSError, match="compressed with 'brotli'"):
        openssh._decompressor("brotli")
