"""Observability: materialization metadata, progress logs, alerts, secret redaction."""
