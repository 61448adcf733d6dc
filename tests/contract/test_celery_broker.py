"""Contract: Celery in the pinned Airflow reaches the managed Redis over verified TLS with the URL from our Secret.

A real ``redis-server`` stands in for ElastiCache / Azure Cache for Redis: TLS only (no plaintext port), a
certificate issued by a test CA for ``localhost``, and ``requirepass`` set to the credential the program put in
the broker-URL Secret of the CeleryExecutor variant of each cloud's prod example (the Azure access key has
``+``, ``/`` and ``=``, which the URL percent-encodes). The probe runs in the pinned Airflow environments with
the ``airflow.cfg`` of the real chart render and ``AIRFLOW__CELERY__BROKER_URL`` set to the Secret's URL with only
the host and port rewritten; the test CA plays the image's system trust store (``SSL_CERT_FILE``), as the
Amazon and DigiCert roots do in a pod. Celery then connects and passes a message; it is refused with another
CA, with a wrong password, and with a host name that is not in the certificate.
"""

from __future__ import annotations

import importlib.util
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest
from pulumi.runtime import rpc

from tests.conftest import missing_tool, render_config, require_binary
from tests.contract.probes import probe_support
from tests.contract.test_pgbouncer import _free_port
from tests.contract.test_pgbouncer_tls import _issue
from tests.support.broker import celery_stack
from tools.chart import render_chart

PROBE = Path(__file__).parent / "probes" / "celery_probe.py"
PROBE_TIMEOUT_SECONDS = 240
START_TIMEOUT_S = 20.0


@pytest.fixture(scope="module", params=["aws", "azure"])
def rendered(request) -> dict[str, Any]:
    """The broker URL of our Secret and the rendered ``airflow.cfg`` of one cloud's Celery variant."""
    if importlib.util.find_spec("helm_python") is None:
        missing_tool("python package helm_python (scripts/bootstrap.sh --dev)")
    stack = render_config(celery_stack(request.param))
    secret = stack.one("kubernetes:core/v1:Secret", "airflow-secrets-broker-url").inputs["stringData"]
    (values,) = stack.helm_values(show_secrets=False)
    release = stack.by_type("kubernetes:helm.sh/v3:Release")[0].inputs
    manifests = render_chart(values, release_name=release["name"], namespace=release["namespace"])
    (config,) = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == f"{release['name']}-config"]
    return {"cloud": request.param, "broker_url": rpc.unwrap_rpc_secret(secret)["connection"], "airflow_cfg": config["data"]["airflow.cfg"]}


@pytest.fixture(scope="module")
def server(rendered, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """redis-server with TLS only and our credential; a second CA that did not sign its certificate."""
    binary = require_binary("redis-server", "/usr/bin/redis-server")
    run_dir = tmp_path_factory.mktemp(f"redis-{rendered['cloud']}")
    (run_dir / "ca").mkdir()
    (run_dir / "other").mkdir()
    ca, crt, key = _issue(run_dir / "ca")
    other_ca, _, _ = _issue(run_dir / "other")
    port = _free_port()
    password = unquote(urlsplit(rendered["broker_url"]).password)
    conf = run_dir / "redis.conf"
    conf.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                "port 0",
                f"tls-port {port}",
                f"tls-cert-file {crt}",
                f"tls-key-file {key}",
                f"tls-ca-cert-file {ca}",
                "tls-auth-clients no",
                f'requirepass "{password}"',
                'save ""',
                "appendonly no",
                f"dir {run_dir}",
                f"logfile {run_dir / 'redis.log'}",
            ]
        )
        + "\n"
    )
    conf.chmod(0o600)
    proc = subprocess.Popen([binary, str(conf)], stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port, ca, password):
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}: {(run_dir / 'redis.log').read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("redis-server not ready")
            time.sleep(0.1)
        yield {"port": port, "ca": ca, "other_ca": other_ca, "dir": run_dir}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(port: int, ca: Path, password: str) -> bool:
    """redis-server answers AUTH and PING over TLS (RESP written by hand: no Redis client in the test venv)."""
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection(("localhost", port), timeout=2) as raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
            args = [b"AUTH", password.encode()]
            tls.sendall(b"*2\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args) + b"PING\r\n")
            answer = b""
            while b"PONG" not in answer and len(answer) < 200:
                chunk = tls.recv(64)
                if not chunk:
                    break
                answer += chunk
            return answer.startswith(b"+OK") and b"+PONG" in answer
    except OSError:
        return False


def _at(url: str, host: str, port: int, password: str | None = None) -> str:
    """``url`` with only the host and port (and, when given, the password) replaced."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rsplit("@", 1)[0] if password is None else f":{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}:{port}"))


@pytest.fixture(scope="module")
def report(rendered, server, airflow_env, tmp_path_factory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp(f"celery-{rendered['cloud']}")
    (home / "airflow.cfg").write_text(rendered["airflow_cfg"])
    url, port = rendered["broker_url"], server["port"]
    cases = [
        {"name": "ours", "broker_url": _at(url, "localhost", port), "ca_file": str(server["ca"])},
        {"name": "other-ca", "broker_url": _at(url, "localhost", port), "ca_file": str(server["other_ca"])},
        {"name": "wrong-password", "broker_url": _at(url, "localhost", port, "not-the-token"), "ca_file": str(server["ca"])},
        {"name": "host-not-in-certificate", "broker_url": _at(url, "127.0.0.1", port), "ca_file": str(server["ca"])},
    ]
    return probe_support.run_probe(
        PROBE,
        [],
        {"cases": cases},
        workdir=home,
        env=probe_support.base_env(home),
        timeout=PROBE_TIMEOUT_SECONDS,
        stem="celery",
        python=airflow_env.python,
    )


def test_should_import_the_celery_executor_the_scheduler_runs(report):
    assert report["executor"]["ok"], report["executor"]


def test_should_rewrite_only_the_host_and_port_of_our_url(rendered):
    ours, rewritten = urlsplit(rendered["broker_url"]), urlsplit(_at(rendered["broker_url"], "localhost", 1))
    assert (ours.scheme, ours.password, ours.path, ours.query) == (rewritten.scheme, rewritten.password, rewritten.path, rewritten.query)
    assert ours.scheme == "rediss" and ours.query == "ssl_cert_reqs=required"


def test_should_pass_a_message_through_the_broker_over_verified_tls(rendered, report):
    assert "CeleryExecutor" in rendered["airflow_cfg"]
    ours = report["cases"]["ours"]
    assert ours["ok"], ours
    assert ours["broker_url_is_ours"] and ours["received"] == {"hello": "ours"}
    assert ours["broker_use_ssl"] == "None", "TLS comes from the rediss:// URL, not [celery] ssl_active"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("other-ca", "CERTIFICATE_VERIFY_FAILED"),
        ("wrong-password", "invalid username-password pair"),
        ("host-not-in-certificate", "IP address mismatch"),
    ],
)
def test_should_be_refused_without_the_right_ca_password_or_host(report, case, expected):
    result = report["cases"][case]
    assert not result["ok"], result
    assert expected in result["error"], result["error"]
