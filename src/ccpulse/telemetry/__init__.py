"""Prometheus exposition: scrape-time collectors, self-metrics, the HTTP endpoint."""
