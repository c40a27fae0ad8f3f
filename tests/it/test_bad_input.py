"""Bad configs and bad environments: exact exit code, a one-line error naming the cause, nothing left
behind in the database, and no password in the output."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg2
import pytest

from conftest import Sluice, pg_params, publication_exists, run_cli, slot_row, sql

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "Zq9-wrong-pw-4711-sluice"


def run(s, timeout=60, write=True):
    """sluice run on s's config in the foreground; returns (exit code, stdout + stderr)."""
    if write:
        s.write_config()
    r = run_cli("run", str(s.cfg_path), timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def error_line(out, *parts):
    """The one line of output that carries every part (case-insensitive), or fail."""
    for line in out.splitlines():
        if all(p.lower() in line.lower() for p in parts):
            return line
    raise AssertionError(f"no line with {parts!r} in:\n{out}")


def nothing_left(pg, s):
    assert slot_row(pg, s.slot) is None, f"slot {s.slot} left behind"
    assert not publication_exists(pg, s.publication), f"publication {s.publication} left behind"


def test_malformed_json(pg, cfg):
    s = cfg()
    s.cfg_path.write_text(json.dumps({"name": s.name, "config": s.config})[:-7] + ', "x": }')
    rc, out = run(s, timeout=30, write=False)
    assert rc == 2, out
    line = error_line(out, str(s.cfg_path), "malformed JSON")
    assert "line 1" in line
    nothing_left(pg, s)


def test_unknown_connector_class(pg, cfg):
    s = cfg(**{"connector.class": "com.example.NoSuchConnector"})
    rc, out = run(s)
    assert rc == 2, out
    line = error_line(out, "connector.class", "com.example.NoSuchConnector", "allowed")
    assert "postgres" in line.split("allowed", 1)[1]
    nothing_left(pg, s)


def test_wrong_password(pg, cfg):
    s = cfg(**{"database.password": SECRET})
    rc, out = run(s)
    assert rc == 1, out
    error_line(out, "password authentication failed")
    assert SECRET not in out
    nothing_left(pg, s)


def test_missing_table_in_include_list(pg, cfg):
    sql(pg, "DROP TABLE IF EXISTS it_bad_nosuch")
    s = cfg(table_include_list="public.it_bad_nosuch")
    rc, out = run(s)
    assert rc == 1, out
    error_line(out, "table.include.list", "public.it_bad_nosuch")
    nothing_left(pg, s)


def test_missing_table_among_existing_ones(pg, cfg):
    """The message names the entry that matches nothing, not its neighbour; nothing is created even
    though the other entry exists (and the publication mode would create it)."""
    sql(pg, "DROP TABLE IF EXISTS it_bad_exists; CREATE TABLE it_bad_exists (id int PRIMARY KEY)")
    try:
        s = cfg(table_include_list="public.it_bad_exists, public.it_bad_typo")
        rc, out = run(s)
        assert rc == 1, out
        line = error_line(out, "table.include.list", "public.it_bad_typo")
        assert "'public.it_bad_exists'" not in line
        nothing_left(pg, s)
    finally:
        sql(pg, "DROP TABLE IF EXISTS it_bad_exists")


def test_plugin_decoderbufs(pg, cfg):
    s = cfg(plugin_name="decoderbufs")
    rc, out = run(s)
    assert rc == 2, out
    line = error_line(out, "plugin.name", "decoderbufs", "allowed")
    assert "pgoutput" in line.split("allowed", 1)[1]
    nothing_left(pg, s)


def test_snapshot_mode_bogus(pg, cfg):
    s = cfg(snapshot_mode="bogus")
    rc, out = run(s)
    assert rc == 2, out
    line = error_line(out, "snapshot.mode", "bogus", "allowed")
    allowed = line.split("allowed", 1)[1]
    for mode in ("initial", "initial_only", "no_data", "never", "when_needed", "always"):
        assert mode in allowed, line
    nothing_left(pg, s)


def free_port(preferred=54339):
    for port in [preferred] + list(range(54340, 54400)):
        with socket.socket() as so:
            try:
                so.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


@pytest.fixture
def replica_pg():
    """A throwaway PostgreSQL 15 with wal_level=replica, run as the unprivileged user sluicesvc."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("initdb (PostgreSQL 15) is not installed")
    as_svc = ["runuser", "-u", "sluicesvc", "--"]
    base = Path(tempfile.mkdtemp(prefix="sluice-walrep-", dir="/tmp"))
    os.chmod(base, 0o777)
    data = base / "data"
    port = free_port()
    try:
        subprocess.run(as_svc + [str(PG_BIN / "initdb"), "-D", str(data), "-U", "sluice", "-A", "trust",
                                 "--encoding=UTF8", "--locale=C"], check=True, capture_output=True, timeout=120)
        conf = (f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{base}'\n"
                "wal_level = replica\nfsync = off\nshared_buffers = 16MB\nmax_connections = 20\n")
        subprocess.run(as_svc + ["sh", "-c", f"cat >> '{data}/postgresql.conf'"], input=conf.encode(), check=True)
        subprocess.run(as_svc + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "pg.log"), "-w", "-t",
                                 "60", "start"], check=True, capture_output=True, timeout=90)
        yield port
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(as_svc + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_wal_level_not_logical(replica_pg, cfg):
    s = cfg(**{"database.port": str(replica_pg), "database.dbname": "postgres", "database.user": "sluice",
               "database.password": "unused"})
    rc, out = run(s)
    assert rc == 1, out
    error_line(out, "wal_level", "logical")
    conn = psycopg2.connect(**pg_params(port=replica_pg, dbname="postgres", password="unused"))
    conn.autocommit = True
    try:
        (level,), = sql(conn, "SHOW wal_level")
        assert level == "replica"  # the throwaway server is what the test thinks it is
        assert sql(conn, "SELECT slot_name FROM pg_replication_slots") == []
        assert sql(conn, "SELECT pubname FROM pg_publication") == []
    finally:
        conn.close()


def test_validate_good_config(pg, cfg):
    s = cfg()
    s.write_config()
    r = run_cli("validate", str(s.cfg_path))
    assert r.returncode == 0, r.stderr
    assert f"ok (connector {s.name})" in r.stdout
    nothing_left(pg, s)  # validate never touches the database


def test_validate_reports_every_problem(pg, cfg):
    s = cfg(snapshot_mode="bogus", plugin_name="decoderbufs", **{"database.port": "not-a-port",
                                                                 "database.password": SECRET})
    s.write_config()
    r = run_cli("validate", str(s.cfg_path))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 3, r.stderr
    keys = ["database.port", "plugin.name", "snapshot.mode"]
    for key in keys:
        assert sum(key in l for l in lines) == 1, (key, r.stderr)
    assert all(l.startswith(str(s.cfg_path)) for l in lines), r.stderr
    assert "ok" not in r.stdout
    assert SECRET not in r.stdout + r.stderr
    nothing_left(pg, s)


@pytest.mark.parametrize("level", ["debug", "trace"])
def test_password_never_printed(pg, cfg, level):
    """A distinctive wrong password at the chattiest log levels: it must not appear anywhere in the output."""
    s = cfg(log_level=level, **{"database.password": SECRET})
    rc, out = run(s)
    assert rc == 1, out
    error_line(out, "password authentication failed")
    assert SECRET not in out
    assert SECRET[:8] not in out
    nothing_left(pg, s)


def test_password_not_printed_when_start_fails_later(pg, cfg):
    """Right password, failure after connecting (missing table); the password is not echoed."""
    sql(pg, "DROP TABLE IF EXISTS it_bad_nosuch2")
    s = cfg(log_level="trace", table_include_list="public.it_bad_nosuch2")
    rc, out = run(s)
    assert rc == 1, out
    pw = os.environ["SLUICE_PG_PASSWORD"]
    # The harness password ("sluice") is also a word in every log line, so look for it only as a value.
    for pattern in (f"password={pw}", f"password '{pw}'", f'"password":"{pw}"', f"password: {pw}"):
        assert pattern not in out, out
    nothing_left(pg, s)


def test_failed_start_is_not_reported_as_clean_stop(pg, cfg):
    s = cfg(**{"database.password": SECRET})
    rc, out = run(s)
    assert rc == 1, out
    error_line(out, "failed to start")
    assert "stopped cleanly" not in out, out


# ---- config files and values that are not what they seem ----

def test_duplicate_key_is_refused(pg, cfg):
    """A key given twice: a JSON parser keeps one of them without a word (the REST API refuses such a body);
    validate and run name the key and stop before the database."""
    s = cfg()
    body = json.dumps({"name": s.name, "config": s.config})
    s.cfg_path.write_text(body[:-2] + ', "database.password": "the-other-one"}}')
    for cmd in ("validate", "run"):
        r = run_cli(cmd, str(s.cfg_path), timeout=30)
        assert r.returncode == 2, (cmd, r.stdout + r.stderr)
        error_line(r.stderr, str(s.cfg_path), 'duplicate key "database.password"')
        assert "ok (connector" not in r.stdout
    nothing_left(pg, s)


def test_unterminated_env_reference(pg, cfg):
    """'${env:X' without its '}' went to the database as a literal password; now it is an error naming the key."""
    s = cfg(**{"database.password": "${env:SLUICE_IT_PW"})
    for cmd in ("validate", "run"):
        r = run_cli(cmd, str(s.cfg_path), timeout=30)
        assert r.returncode == 2, (cmd, r.stdout + r.stderr)
        error_line(r.stderr, str(s.cfg_path), "database.password", "unterminated reference '${env:SLUICE_IT_PW'")
    nothing_left(pg, s)


@pytest.mark.parametrize("ref,what", [("${file:}", "no path given"),
                                      ("${file:/nonexistent/sluice-it-pw}", "No such file")])
def test_file_reference_error_names_the_key_and_the_config(pg, cfg, ref, what):
    s = cfg(**{"database.password": ref})
    r = run_cli("validate", str(s.cfg_path), timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    line = error_line(r.stderr, "database.password", what)
    assert line.startswith(f"{s.cfg_path}: database.password: "), line
    nothing_left(pg, s)


@pytest.mark.parametrize("content,kind", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00", "a binary file (a NUL byte at offset 7)"),
    (b"name=caf\xe9\n", "not UTF-8 text"),
    (b'[{"name": "a", "config": {"connector.class": "postgres"}}]', "this is a JSON array"),
    (b'"connector.json"\n', "this is a JSON string"),
    (b"[connector]\nname=a\n", "an INI file?"),
])
def test_not_a_config_file(pg, tmp_path, content, kind):
    """Given a binary file or JSON that is no object, validate and run said 'line 1: expected key=value' (it was
    read as .properties): now they say what the file is and what a config is."""
    path = tmp_path / "connector.conf"
    path.write_bytes(content)
    for cmd in ("validate", "run"):
        r = run_cli(cmd, str(path), timeout=30)
        assert r.returncode == 2, (cmd, r.stdout + r.stderr)
        line = error_line(r.stderr, str(path), kind, 'expected a JSON object {"name": ..., "config": {...}}')
        assert "expected key=value" not in r.stderr and ".properties file" in line


# ---- two keys naming one file ----

def test_sink_file_is_the_offset_store(pg, cfg):
    """sink.file.path naming the offset store (through a symlinked directory) put the events into the SQLite
    file and lost the snapshot; validate said ok. Both keys are named, nothing is touched."""
    s = cfg()
    (s.dir / "via-link").symlink_to(s.dir)
    s.config["sink.file.path"] = str(s.dir / "via-link" / "offsets.db")
    s.write_config()
    for cmd in ("validate", "run"):
        r = run_cli(cmd, str(s.cfg_path), timeout=30)
        assert r.returncode == 2, (cmd, r.stdout + r.stderr)
        line = error_line(r.stderr, str(s.cfg_path), "offset.storage.file.filename", "sink.file.path",
                          "name the same file")
        assert str((s.dir / "offsets.db").resolve()) in line
        assert "ok (connector" not in r.stdout
    assert not (s.dir / "offsets.db").exists()
    nothing_left(pg, s)


def test_two_connectors_one_sink_file(pg, cfg):
    """Two configs validated or run together may share an offset store (its rows are keyed by connector),
    never a sink file: the second config's line names the first connector."""
    a = cfg()
    b = cfg(**{"sink.file.path": str(a.out)})
    for cmd in ("validate", "run"):
        r = run_cli(cmd, str(a.cfg_path), str(b.cfg_path), timeout=30)
        assert r.returncode == 2, (cmd, r.stdout + r.stderr)
        error_line(r.stderr, str(b.cfg_path), "sink.file.path", f"connector {a.name} ({a.cfg_path})",
                   "name the same file")
        assert "ok (connector" not in r.stdout  # neither is ok
    c = cfg(**{"offset.storage.file.filename": a.config["offset.storage.file.filename"]})
    r = run_cli("validate", str(a.cfg_path), str(c.cfg_path), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"ok (connector {a.name})" in r.stdout and f"ok (connector {c.name})" in r.stdout
    for s in (a, b, c):
        nothing_left(pg, s)


@pytest.mark.parametrize("key,value,parts", [
    ("signal.enabled.channels", "source,jmx", ("signal.enabled.channels", "jmx", "allowed: source, file, kafka")),
    ("signal.enabled.channels", "smoke", ("signal.enabled.channels", "smoke", "allowed: source, file, kafka")),
    ("snapshot.new.tables", "parallel", ("snapshot.new.tables", "parallel", "off", "incremental")),
    ("incremental.snapshot.chunk.size", "0", ("incremental.snapshot.chunk.size",)),
])
def test_bad_signal_and_incremental_keys(pg, cfg, key, value, parts):
    s = cfg(snapshot_mode="no_data")
    s.config[key] = value
    rc, out = run(s)
    assert rc == 2, out
    error_line(out, *parts)
    nothing_left(pg, s)


def test_signals_on_a_source_that_takes_none(tmp_path):
    """Signals are a PostgreSQL source's: a Kafka-source (sink connector) config with a signal table is refused
    at start, naming the key, instead of never acting on its signals."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "nosig", "config": {
        "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "topics": "t",
        "connection.uri": "mongodb://127.0.0.1:1", "database": "d", "bootstrap.servers": "127.0.0.1:1",
        "signal.data.collection": "public.debezium_signal",
        "offset.storage.file.filename": str(tmp_path / "o.db")}}))
    r = run_cli("run", str(path))
    assert r.returncode == 2, r.stdout + r.stderr
    error_line(r.stdout + r.stderr, "signal.data.collection", "kafka source takes no signals")
