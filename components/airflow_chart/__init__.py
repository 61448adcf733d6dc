"""Self-hosted Airflow with the official ``apache-airflow`` chart: values, Kubernetes Secrets, release."""
