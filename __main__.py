"""Airflow 3 platform: read typed settings, build the components, export the outputs."""

import pulumi

from components.settings.loader import load_secret_inputs, load_settings
from components.stack import build_platform

settings = load_settings()
secret_inputs = load_secret_inputs(settings)
for output_name, output_value in build_platform(settings, secret_inputs).items():
    pulumi.export(output_name, output_value)
