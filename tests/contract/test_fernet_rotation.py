"""Fernet key rotation against Airflow itself: the rotated key list still decrypts what the old key wrote."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import render, render_config, stack_file
from tests.contract.probes import probe_support
from tests.support.stacks import with_values
from tools.render import mask
from tools.stackfile import load_stack

PROBE = Path(__file__).parent / "probes" / "aws_probe.py"


def fernet_secret(rendered) -> str:
    (values,) = rendered.helm_values(show_secrets=True)
    (secret,) = [r for r in rendered.by_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == values["fernetKeySecretName"]]
    return mask(secret.inputs["stringData"], True)["fernet-key"]


def test_should_decrypt_with_the_rotated_key_list_what_the_previous_key_encrypted(airflow_env, tmp_path: Path):
    from cryptography.fernet import Fernet

    old_key = fernet_secret(render(stack_file("payments-prod")))
    rotated = fernet_secret(render_config(with_values(load_stack(stack_file("payments-prod")), fernetKeyGeneration=2)))
    assert rotated.endswith(f",{old_key}")
    token = Fernet(old_key.encode()).encrypt(b"written before the rotation").decode()
    env = {**probe_support.base_env(tmp_path), "AIRFLOW__CORE__FERNET_KEY": rotated}
    report = probe_support.run_probe(
        PROBE,
        ["fernet"],
        {"plaintext": "after", "decrypt": token},
        workdir=tmp_path,
        env=env,
        timeout=120,
        stem="fernet",
        python=airflow_env.python,
    )
    assert report["is_encrypted"] is True
    assert report["decrypted"] == "written before the rotation", "Airflow must read the comma-separated list as several keys"
    new_key = rotated.split(",")[0]
    assert Fernet(new_key.encode()).decrypt(report["token"].encode()).decode() == "after", "new data is written with the new key"
