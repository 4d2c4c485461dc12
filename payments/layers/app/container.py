"""The application container, described once: ECS container definitions (Fargate) and a `docker run` (EC2).

Secrets and settings reach the container by reference only: Secrets Manager
JSON keys of the data layer's managed secret, and Parameter Store parameters
under the data layer's path. No secret value is ever in code, config, state or
the rendered documents.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from typing import Any

from payments.layers.app.settings import AppSettings

CONTAINER_NAME = "app"
#: Writable scratch space; the root filesystem is read-only.
SCRATCH_VOLUME, SCRATCH_PATH = "tmp", "/tmp"
#: Fields of the managed master-user secret (JSON) -> environment variable.
SECRET_KEYS = {"DB_USERNAME": "username", "DB_PASSWORD": "password"}

_ECR = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repo>[a-z0-9._/-]+)[:@]")


@dataclasses.dataclass(frozen=True)
class Image:
    reference: str

    @property
    def ecr(self) -> re.Match[str] | None:
        return _ECR.match(self.reference)

    @property
    def registry(self) -> str | None:
        return self.reference.split("/", 1)[0] if self.ecr else None

    def repository_arn(self) -> str | None:
        """The ECR repository ARN (what image pulls need), or None for another registry."""
        m = self.ecr
        return f"arn:aws:ecr:{m['region']}:{m['account']}:repository/{m['repo']}" if m else None


def parameter_arn(region: str, account_id: str, path: str, name: str) -> str:
    """ARN of the parameter `name` under `path` (a path starts with '/', the ARN has one after 'parameter')."""
    return f"arn:aws:ssm:{region}:{account_id}:parameter/{path.strip('/')}/{name}"


def health_command(cfg: AppSettings) -> str:
    return (
        cfg.health_check_command or f"curl -fsS http://localhost:{cfg.container_port}{cfg.health_check_path} || exit 1"
    )


def container_definitions(
    cfg: AppSettings,
    *,
    env_name: str,
    region: str,
    account_id: str,
    log_group: str,
    secret_arn: str,
    parameter_path: str,
) -> list[dict[str, Any]]:
    """The task's container definitions (plain values: call inside an apply)."""
    secrets = [{"name": var, "valueFrom": f"{secret_arn}:{key}::"} for var, key in SECRET_KEYS.items()]
    secrets += [
        {"name": var, "valueFrom": parameter_arn(region, account_id, parameter_path, name)}
        for var, name in sorted(cfg.parameters().items())
    ]
    return [
        {
            "name": CONTAINER_NAME,
            "image": cfg.image,
            "essential": True,
            "user": cfg.container_user,
            "readonlyRootFilesystem": True,
            "privileged": False,
            "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
            "portMappings": [
                {
                    "name": "http",
                    "containerPort": cfg.container_port,
                    "hostPort": cfg.container_port,
                    "protocol": "tcp",
                    "appProtocol": "http",
                }
            ],
            "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": SCRATCH_PATH, "readOnly": False}],
            # Only non-sensitive facts; everything else comes through `secrets` by reference.
            "environment": [
                {"name": "APP_ENV", "value": env_name},
                {"name": "APP_PORT", "value": str(cfg.container_port)},
            ],
            "secrets": secrets,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": CONTAINER_NAME,
                },
            },
            "healthCheck": {
                "command": ["CMD-SHELL", health_command(cfg)],
                "interval": 30,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 60,
            },
            "stopTimeout": 30,
            "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
        }
    ]


def user_data(container: dict[str, Any], *, region: str) -> str:
    """Boot script for EC2 mode: run `container` (one ECS container definition) under Docker, equally hardened.

    Secrets are fetched at boot with the instance role into a root-only file on tmpfs, never written to the
    launch template.
    """
    image = Image(container["image"])
    port = container["portMappings"][0]["containerPort"]
    logs = container["logConfiguration"]["options"]
    lines = [
        "#!/bin/bash",
        "set -euo pipefail",
        "dnf install -y docker jq",
        "systemctl enable --now docker",
        "umask 077",
        "ENV_FILE=/run/app.env",
    ]
    for item in container["environment"]:
        lines.append(f"printf '%s\\n' {shlex.quote(item['name'] + '=' + item['value'])} >> \"$ENV_FILE\"")
    for item in container["secrets"]:
        name, ref = item["name"], item["valueFrom"]
        if ref.startswith("arn:aws:secretsmanager:"):
            parts = ref.split(":")  # arn:aws:secretsmanager:<region>:<account>:secret:<name>:<json key>::
            secret_arn, key = ":".join(parts[:7]), parts[7]
            fetch = (
                f"aws secretsmanager get-secret-value --region {region} --secret-id {shlex.quote(secret_arn)} "
                f"--query SecretString --output text | jq -r {shlex.quote('.' + key)}"
            )
        else:
            fetch = (
                f"aws ssm get-parameter --region {region} --with-decryption --name {shlex.quote(ref)} "
                "--query Parameter.Value --output text"
            )
        # An assignment, not `echo "$(...)"`: with `set -e` a failed fetch stops the boot instead of starting
        # the application with an empty value.
        lines.append(f'value="$({fetch})"')
        lines.append(f'printf \'%s=%s\\n\' {name} "$value" >> "$ENV_FILE"')
    if image.registry:
        login = f"docker login --username AWS --password-stdin {image.registry}"
        lines.append(f"aws ecr get-login-password --region {region} | {login}")
    run = [
        "docker run -d --name app --restart unless-stopped",
        f"--user {shlex.quote(container['user'])}",
        "--read-only",
        f"--tmpfs {SCRATCH_PATH}:rw,noexec,nosuid,size=64m",
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        "--init",
        f"-p {port}:{port}",
        '--env-file "$ENV_FILE"',
        "--log-driver awslogs",
        f"--log-opt awslogs-group={shlex.quote(logs['awslogs-group'])}",
        f"--log-opt awslogs-region={logs['awslogs-region']}",
        f"--health-cmd {shlex.quote(container['healthCheck']['command'][1])}",
        shlex.quote(container["image"]),
    ]
    lines.append(" \\\n  ".join(run))
    lines.append('rm -f "$ENV_FILE"')
    return "\n".join(lines) + "\n"
