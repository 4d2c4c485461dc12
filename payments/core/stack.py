"""What a layer's ``__main__.py`` starts from: :func:`start` returns a :class:`Layer`.

It reads the environment settings for the running stack, validates the layer's
config, builds the one AWS provider every resource uses (region and default
tags ``Environment``/``CostCenter``/``MigrationPhase``), and gives typed access
to upstream outputs and to exports, both checked against the contract.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypeVar

import pulumi
import pulumi_aws as aws
from pulumi.runtime import config as runtime_config

from payments.core import config, contract, stackfiles
from payments.core.environment import Environment, load_environment
from payments.core.errors import ConfigError, UserError
from payments.core.graph import LAYERS, check_layer, project_name
from payments.core.naming import Namer

T = TypeVar("T")

#: (reader, upstream, output) for every upstream output read in this process;
#: the offline planner clears and inspects it to prove the contract.
READS: list[tuple[str, str, str]] = []


def all_config(namespace: str) -> dict[str, Any]:
    """Every config value of `namespace` (without the prefix), as the engine passed it.

    The SDK exposes single lookups only; listing keys lets us reject typos.
    """
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{namespace}:"
    return {key[len(prefix) :]: value for key, value in merged.items() if key.startswith(prefix)}


class Upstream:
    """Typed, contract-checked reader of one upstream layer's outputs."""

    def __init__(self, reader: str, upstream: str, env: Environment, opts: pulumi.ResourceOptions | None = None):
        contract.check_upstream(reader, upstream)
        self.reader = reader
        self.upstream = upstream
        self._ref = pulumi.StackReference(
            f"{upstream}-{env.name}", stack_name=env.stack_ref(project_name(upstream)), opts=opts
        )

    def get(self, name: str) -> pulumi.Output[Any]:
        """The output `name`; fails at deploy time if the upstream stack lacks it."""
        contract.check_read(self.reader, self.upstream, name)
        READS.append((self.reader, self.upstream, name))
        return self._ref.require_output(name)

    def optional(self, name: str) -> pulumi.Output[Any]:
        """An output the contract marks optional (e.g. ECS names, absent in EC2 mode): None when not exported.

        Not recorded in READS, which lists what an upstream must export.
        """
        if not contract.check_read(self.reader, self.upstream, name).optional:
            raise UserError(
                f"layer '{self.reader}' reads '{self.upstream}.{name}' as optional, but the contract requires it. "
                "Fix: read it with upstream[name]"
            )
        return self._ref.get_output(name)

    def __getitem__(self, name: str) -> pulumi.Output[Any]:
        return self.get(name)


@dataclasses.dataclass
class Layer:
    name: str
    env: Environment
    provider: aws.Provider
    _upstreams: dict[str, Upstream] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def namer(self) -> Namer:
        return Namer(self.env.suffix)

    @property
    def project(self) -> str:
        return project_name(self.name)

    @property
    def opts(self) -> pulumi.ResourceOptions:
        """Options for top-level components: the tagged provider, nothing else."""
        return pulumi.ResourceOptions(provider=self.provider)

    @property
    def invoke_opts(self) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(provider=self.provider)

    def config(self, cls: type[T]) -> T:
        """This layer's validated settings from ``Pulumi.<env>.yaml``, ARNs checked against the environment."""
        return config.load(cls, all_config(self.project), where=self.project, region=self.env.region,
                           account=self.env.settings.account_id)

    def upstream(self, layer: str) -> Upstream:
        """The reader for `layer` (one StackReference per upstream)."""
        if layer not in self._upstreams:
            self._upstreams[layer] = Upstream(self.name, layer, self.env)
        return self._upstreams[layer]

    def export(self, name: str, value: Any) -> None:
        out = contract.check_export(self.name, name)
        pulumi.export(name, pulumi.Output.secret(value) if out.secret else value)

    @functools.cached_property
    def account_id(self) -> str:
        return aws.get_caller_identity(opts=self.invoke_opts).account_id

    def availability_zones(self, count: int) -> list[str]:
        """The first `count` available AZs of the region, as the provider reports them."""
        zones = aws.get_availability_zones(
            state="available",
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=self.invoke_opts,
        ).names
        if len(zones) < count:
            raise ConfigError(
                f"{self.project}:azCount",
                f"{count} zones asked, {self.env.region} offers {len(zones)}",
                f"use at most {len(zones)}",
            )
        return list(zones[:count])


def start(layer: str) -> Layer:
    """Begin a layer program: environment, provider with default tags, contract checks."""
    check_layer(layer)
    running = pulumi.get_project()
    if running != project_name(layer):
        raise ConfigError(
            "Pulumi.yaml:name", f"project '{running}' runs the '{layer}' program", f"name it {project_name(layer)}"
        )
    env = load_environment(pulumi.get_stack())
    # `pulumi up` in a layer folder reads no stack file through us: the keys the engine hands over are checked here.
    given = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    stackfiles.check_keys(layer, env.name, given, f"{layer}/Pulumi.{env.name}.yaml", guard_required=False)
    provider = aws.Provider(
        f"aws-{env.name}",
        region=env.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=env.tags),
    )
    assert layer in LAYERS
    return Layer(name=layer, env=env, provider=provider)
