"""The Celery broker URL of a managed Redis, as kombu and redis-py read it (verified TLS, AUTH password).

``rediss://:<password>@<host>:<port>/0?ssl_cert_reqs=required``: the ``rediss`` scheme makes kombu's Redis
transport open a redis-py ``SSLConnection``, whose context (``ssl.create_default_context``) loads the system
trust store and checks the host name; ``ssl_cert_reqs=required`` states the verification explicitly (Celery
refuses a ``rediss://`` result backend without it). Airflow's ``[celery] ssl_active`` is left off: it would
build ``broker_use_ssl`` from ``ssl_key``/``ssl_cert``/``ssl_cacert`` (client certificates). The password is
percent-encoded; kombu decodes it. Proof: ``tests/contract/test_celery_broker.py`` against a real
``redis-server``.
"""

from __future__ import annotations

from urllib.parse import quote

BROKER_DB = 0


def managed_redis_url(*, host: str, port: int, password: str) -> str:
    """Broker URL of a managed Redis over verified TLS (a secret: it holds the password)."""
    if not host or "/" in host or "@" in host:
        raise ValueError(f"host must be a host name, got {host!r}")
    return f"rediss://:{quote(password, safe='')}@{host}:{int(port)}/{BROKER_DB}?ssl_cert_reqs=required"
