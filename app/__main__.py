"""payments-app: ECS Fargate blue/green services or an EC2 Auto Scaling group running the payment application (program arrives with its issue)."""

from payments.core.stack import start

start("app")
