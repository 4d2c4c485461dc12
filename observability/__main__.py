"""payments-observability: Alarm topic, alarms, the cutover gate and dashboards (program arrives with its issue)."""

from payments.core.stack import start

start("observability")
