"""Remote Execution with Astronomer's agent chart: agent values and release."""
