"""Probe run inside a pinned Airflow environment: does Celery reach the broker as our rendered config sets it up?

Usage: ``python celery_probe.py <request.json> <report.json>``. The request holds cases, each a broker URL
and the CA file standing in for the image's system trust store (``SSL_CERT_FILE``, which OpenSSL reads each
time a default context is made). For each case the probe builds the Celery configuration exactly as Airflow's
Celery executor does (``get_default_celery_config(conf)`` from the celery provider, ``airflow.cfg`` from
``AIRFLOW_HOME`` and ``AIRFLOW__CELERY__BROKER_URL`` as the chart sets it from our Secret), connects with a new
Celery app, and sends and receives one message through a queue. It also imports the ``CeleryExecutor`` the
scheduler loads, which fails when the environment's Celery is one the provider cannot run with.
"""

from __future__ import annotations

import json
import os
import sys
import uuid


def main(request_path: str, report_path: str) -> None:
    with open(request_path) as source:
        request = json.load(source)
    from airflow.configuration import conf
    from airflow.providers.celery.executors.default_celery import get_default_celery_config
    from celery import Celery

    report: dict = {"cases": {}}
    for case in request["cases"]:
        os.environ["AIRFLOW__CELERY__BROKER_URL"] = case["broker_url"]
        os.environ["SSL_CERT_FILE"] = case["ca_file"]
        config = get_default_celery_config(conf)
        result: dict = {
            "broker_url_is_ours": config["broker_url"] == case["broker_url"],
            "broker_use_ssl": repr(config.get("broker_use_ssl")),
        }
        app = Celery(f"probe-{case['name']}", config_source=config)
        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=0)
                queue = connection.SimpleQueue(f"probe-{uuid.uuid4().hex}")
                queue.put({"hello": case["name"]})
                message = queue.get(timeout=10)
                message.ack()
                queue.close()
                result |= {"ok": True, "received": message.payload, "transport": connection.transport_cls}
        except Exception as error:
            result |= {"ok": False, "error": f"{type(error).__name__}: {error}"}
        report["cases"][case["name"]] = result
    try:  # what the scheduler imports for executor = CeleryExecutor
        from airflow.executors.base_executor import BaseExecutor
        from airflow.providers.celery.executors.celery_executor import CeleryExecutor

        report["executor"] = {"ok": issubclass(CeleryExecutor, BaseExecutor)}
    except Exception as error:
        report["executor"] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    with open(report_path, "w") as out:
        json.dump(report, out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
