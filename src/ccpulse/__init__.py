"""ccpulse: streaming contact-center KPIs from Apache Kafka to Prometheus."""

__version__ = "0.1.0"
