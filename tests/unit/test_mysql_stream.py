"""mysql_stream's scanner and read-back on dump text: the same answer whatever the block sizes, MySQL's and
MariaDB's ways of writing django_migrations rows, damaged and cut-short files told apart."""
import gzip
import shutil
import subprocess
import zlib

import pytest

from deploytasks.server.engines.mysql_stream import GZIP, DumpScanner, ReadBack, read_file, scan_file

MARIADB = b"""/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: shop
LOCK TABLES `django_migrations` WRITE;
INSERT INTO `django_migrations` VALUES
(1,'contenttypes','0001_initial','2026-01-01 00:00:00.000000'),
(2,'accounts','0001_initial','2026-01-01 00:00:00.000000'),
(3,'accounts','0002_it\\'s','2026-01-01 00:00:00.000000');
UNLOCK TABLES;
INSERT INTO `accounts_plan` VALUES (1,'INSERT INTO `django_migrations` VALUES (9,\\'x\\',\\'y\\',\\'z\\')');
-- Dump completed on 2026-12-07 07:00:00

"""
MYSQL = (b"-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n--\n"
         b"INSERT INTO `django_migrations` VALUES (1,'contenttypes','0001_initial','2026-01-01 00:00:00.000000'),"
         b"(2,'accounts','0001_initial','2026-01-01 00:00:00.000000');\n-- Dump completed on 2026-12-07 07:00:00\n")


def scanned(text, size):
    scanner = DumpScanner()
    for start in range(0, len(text), size):
        scanner.feed(text[start:start + size])
    scanner.finish()
    return scanner.problem(), scanner.migrations()


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1 << 20])
def test_mariadb_rows_a_line_each_are_read_whatever_the_block_size(size):
    assert scanned(MARIADB, size) == (None, {"contenttypes": ["0001_initial"], "accounts": ["0001_initial", "0002_it's"]})


@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_mysql_rows_on_the_insert_line_are_read(size):
    assert scanned(MYSQL, size) == (None, {"contenttypes": ["0001_initial"], "accounts": ["0001_initial"]})


def test_a_dump_without_its_completion_line_is_incomplete():
    problem, _ = scanned(MARIADB[:MARIADB.index(b"-- Dump completed")], 3)
    assert "'Dump completed' line is missing" in problem


def test_text_that_is_no_dump_is_said_so():
    assert scanned(b"hello\nworld\n-- Dump completed\n", 4)[0] == "it does not start like a mysqldump file"


def test_the_gzip_read_back_hands_on_what_it_decompresses_and_finds_damage():
    deflater = zlib.compressobj(6, zlib.DEFLATED, GZIP)
    packed = deflater.compress(MARIADB) + deflater.flush()
    assert gzip.decompress(packed) == MARIADB
    seen = []
    whole = ReadBack(None, [seen.append])
    for start in range(0, len(packed), 10):
        whole.write(packed[start:start + 10])
    assert whole.finish() is None and b"".join(seen) == MARIADB

    cut = ReadBack(None, [lambda block: None])
    cut.write(packed[:-12])
    assert "ends early" in cut.finish()


@pytest.mark.skipif(not shutil.which("zstd"), reason="needs zstd")
def test_files_read_whole_through_zstd_or_gzip_and_a_cut_one_is_damaged(tmp_path):
    packed = subprocess.run(["zstd", "-c", "-q"], input=MARIADB, capture_output=True, check=True).stdout
    (tmp_path / "whole.sql.zst").write_bytes(packed)
    (tmp_path / "cut.sql.zst").write_bytes(packed[: len(packed) // 2])
    (tmp_path / "whole.sql.gz").write_bytes(gzip.compress(MARIADB))
    assert scan_file(str(tmp_path / "whole.sql.zst")) == scan_file(str(tmp_path / "whole.sql.gz"))
    assert scan_file(str(tmp_path / "whole.sql.zst"))[0] is None
    assert "zstd stream is damaged" in read_file(str(tmp_path / "cut.sql.zst"), lambda block: None)
