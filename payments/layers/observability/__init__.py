"""The observability layer: alarm topic, alarms and the cutover gate, dashboards."""
