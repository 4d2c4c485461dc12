"""App layer (project payments-app): ECS Fargate blue/green services or an EC2 Auto Scaling group."""
