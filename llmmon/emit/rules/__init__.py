"""Prometheus rules by concern; llmmon.emit.prometheus.build puts their groups in order."""
