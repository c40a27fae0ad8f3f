"""MariaDB source: servers that cannot be captured and configs that are wrong fail with a clear message and
the documented exit code (1: runtime failure, 2: bad config) - and never print the password."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import my_params, mysql, run_cli

SVC_USER = "sluicesvc"


def config_file(tmp_path, **over):
    """A MariaDB connector config (for the shared server unless overridden) written to tmp_path."""
    p = my_params()
    cfg = {
        "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "database.hostname": p["host"], "database.port": str(p["port"]),
        "database.user": p["user"], "database.password": p["password"],
        "database.server.id": "7431", "topic.prefix": "my", "sink.type": "file",
        "sink.file.path": str(tmp_path / "events.jsonl"),
        "offset.storage.file.filename": str(tmp_path / "offsets.db"),
        "snapshot.mode": "no_data",
    }
    cfg.update(over)
    path = tmp_path / "connector.json"
    path.write_text(json.dumps({"name": "it-my-bad", "config": cfg}))
    return path


def run(path, timeout=60):
    r = run_cli("run", str(path), timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def free_port(start=33199, tries=100):
    for port in range(start, start + tries):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port near 33199")


def as_svc(*args, **kw):
    return subprocess.run(["runuser", "-u", SVC_USER, "--", *args], capture_output=True, text=True, **kw)


@pytest.fixture
def nobinlog_server():
    """A throwaway MariaDB started without --log-bin (as the service user, data in a temporary directory
    that user owns), with a password login for sluice made over the unix socket as root. Yields
    (port, user, password); shuts the server down afterwards."""
    if shutil.which("mariadb-install-db") is None or shutil.which("mariadbd") is None:
        pytest.skip("mariadb-install-db / mariadbd not installed")
    d = tempfile.mkdtemp(prefix="sluice-nobinlog-", dir="/tmp")
    shutil.chown(d, SVC_USER, SVC_USER)
    sock, port = os.path.join(d, "mariadb.sock"), free_port()
    proc = None
    try:
        r = as_svc("mariadb-install-db", "--no-defaults", f"--datadir={d}/data", "--skip-test-db",
                   "--auth-root-authentication-method=socket", timeout=120, cwd="/")
        assert r.returncode == 0, r.stdout + r.stderr
        proc = subprocess.Popen(["runuser", "-u", SVC_USER, "--", "mariadbd", "--no-defaults", f"--datadir={d}/data",
                                 f"--socket={sock}", f"--port={port}", "--bind-address=127.0.0.1",
                                 f"--pid-file={d}/mariadbd.pid", f"--log-error={d}/error.log",
                                 "--innodb-buffer-pool-size=16M", "--skip-name-resolve"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        sql = ("CREATE USER 'it_nobinlog'@'127.0.0.1' IDENTIFIED BY 'pw-it-nobinlog-3e9';"
               "GRANT ALL PRIVILEGES ON *.* TO 'it_nobinlog'@'127.0.0.1';")
        deadline = time.time() + 60
        while True:
            r = subprocess.run(["mariadb", "--no-defaults", "-S", sock, "-u", "root", "-e", sql],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            assert proc.poll() is None, open(f"{d}/error.log").read()[-2000:]
            assert time.time() < deadline, r.stderr
            time.sleep(0.2)
        yield port, "it_nobinlog", "pw-it-nobinlog-3e9"
    finally:
        if proc is not None:
            subprocess.run(["mariadb-admin", "--no-defaults", "-S", sock, "-u", "root", "shutdown"],
                           capture_output=True, timeout=60)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                try:
                    pid = int(open(f"{d}/mariadbd.pid").read())
                    os.kill(pid, 9)  # the server this fixture started
                except (OSError, ValueError):
                    pass
                proc.kill()
                proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def test_binlog_off_is_a_clear_error(tmp_path, nobinlog_server):
    port, user, password = nobinlog_server
    path = config_file(tmp_path, **{"database.port": str(port), "database.user": user, "database.password": password})
    rc, out = run(path)
    assert rc == 1, out
    assert "binary logging is off" in out and f"127.0.0.1:{port}" in out and "--log-bin" in out, out
    assert password not in out
    assert not (tmp_path / "events.jsonl").exists() or (tmp_path / "events.jsonl").read_bytes() == b""


def test_binlog_row_image_minimal_is_a_clear_error(tmp_path, my):
    mysql(my, "SET GLOBAL binlog_row_image = 'MINIMAL'")
    try:
        rc, out = run(config_file(tmp_path))
    finally:
        mysql(my, "SET GLOBAL binlog_row_image = 'FULL'")
    assert mysql(my, "SELECT @@global.binlog_row_image")[0][0] == "FULL"
    assert rc == 1, out
    assert "binlog_row_image is MINIMAL" in out and "needs FULL" in out, out


def test_wrong_password_names_the_connection_and_not_the_password(tmp_path):
    password = "Wr0ng-pw-it-8c1f"
    rc, out = run(config_file(tmp_path, **{"database.password": password}))
    assert rc == 1, out
    port = my_params()["port"]
    assert f"cannot connect to MySQL/MariaDB at 127.0.0.1:{port}" in out, out
    assert "Access denied" in out and "database.password" in out, out
    assert password not in out


def test_nothing_listening_is_a_connection_error(tmp_path):
    port = free_port(33299)
    rc, out = run(config_file(tmp_path, **{"database.port": str(port)}))
    assert rc == 1, out
    assert f"cannot connect to MySQL/MariaDB at 127.0.0.1:{port}" in out, out


def test_unknown_connector_class_is_a_config_error(tmp_path):
    path = config_file(tmp_path, **{"connector.class": "io.debezium.connector.mysql.NoSuchConnector"})
    rc, out = run(path)
    assert rc == 2, out
    assert "connector.class: 'io.debezium.connector.mysql.NoSuchConnector' is not a known connector" in out, out
    assert "mariadb" in out.split("allowed:")[1], out
    r = run_cli("validate", str(path))
    assert r.returncode == 2 and "connector.class" in r.stderr, r


def test_port_out_of_range_is_a_config_error(tmp_path):
    rc, out = run(config_file(tmp_path, **{"database.port": "99999"}))
    assert rc == 2, out
    assert "database.port: 99999 is out of range [1, 65535]" in out, out
    assert not (tmp_path / "events.jsonl").exists() and not (tmp_path / "offsets.db").exists()


@pytest.mark.parametrize("over,message", [
    ({"table.include.list": "sluice.(unclosed"},
     "table.include.list: 'sluice.(unclosed' is not a valid regular expression"),
    ({"table.include.list": "sluice.a", "table.exclude.list": "sluice.b"},
     "table.exclude.list: cannot be combined with table.include.list"),
    ({"snapshot.mode": "sometimes"}, "snapshot.mode"),
    ({"snapshot.locking.mode": "extended"}, "snapshot.locking.mode"),
    ({"snapshot.fetch.size": "0"}, "snapshot.fetch.size"),
    ({"skipped.operations": "c,x"}, "skipped.operations: 'x' is not allowed"),
    ({"decimal.handling.mode": "float"}, "decimal.handling.mode"),
    ({"database.server.id": "0"}, "database.server.id"),
])
def test_bad_source_keys_are_config_errors(tmp_path, over, message):
    password = "pw-it-config-77aa"
    rc, out = run(config_file(tmp_path, **{"database.password": password, **over}))
    assert rc == 2, out
    assert message in out, out
    assert password not in out


@pytest.mark.parametrize("key", ["database.user", "topic.prefix"])
def test_required_key_set_to_an_empty_string_is_a_config_error(tmp_path, key):
    r = run_cli("validate", str(config_file(tmp_path, **{key: ""})))  # validate: touches no database
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{key}: required, not set" in r.stderr, r.stderr
    rc, out = run(config_file(tmp_path, **{key: ""}))  # run refuses it the same way, before connecting
    assert rc == 2 and f"{key}: required, not set" in out, out
