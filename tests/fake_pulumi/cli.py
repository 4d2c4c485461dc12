"""A stand-in for the ``pulumi`` CLI, for tests and the benchmark (stdlib only).

It accepts exactly the flags the real CLI (v3) has for the subcommands the
tasks use — anything else fails like the real one, with ``unknown flag`` — and
keeps a small state in the file backend named by ``PULUMI_BACKEND_URL``
(``<dir>/.pulumi/stacks/<project>/<stack>.json``, the real layout).

Environment:
  FAKE_PULUMI_LOG      JSON-lines file; one line per call: argv, cwd, layer, command, selected env vars,
                       start/end times (time.time()), exit code
  FAKE_PULUMI_FAIL     comma-separated layers (``app``) or ``layer:command`` (``app:destroy``) that fail
  FAKE_PULUMI_SLEEP    per-layer seconds for up/preview/destroy: ``network=0.3,data=1.2``
  FAKE_PULUMI_OUTPUTS  JSON with each layer's outputs after ``up``: an ``invoke plan --out`` file
                       (``{"layers": [{"name": ..., "outputs": {...}}]}``) or ``{"network": {...}}``

Like AWS, it refuses to ``destroy`` a stack whose last ``up`` ran with a ``<project>:deletionProtection: true``
config (from ``--config-file`` when given, else ``Pulumi.<stack>.yaml``): the protection must be lifted first.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

VERSION = "v3.200.0-fake"
ORG = "organization"  # the only organization a self-managed backend knows

# Flags of the real CLI (pulumi/pulumi pkg/cmd/pulumi): name -> takes a value. "opt" = optional value (--refresh).
GLOBAL = {
    "--color": True, "-C": True, "--cwd": True, "--disable-integrity-checking": False, "-e": False, "--emoji": False,
    "-Q": False, "--fully-qualify-stack-names": False, "-h": False, "--help": False, "--logflow": False,
    "--logtostderr": False, "--memprofilerate": True, "--non-interactive": False, "--profiling": True,
    "--tracing": True, "-v": True, "--verbose": True, "--otel-traces": True,
}
FLAGS: dict[str, dict[str, bool | str]] = {
    "up": {
        "-d": False, "--debug": False, "--expect-no-changes": False, "-s": True, "--stack": True,
        "--config-file": True, "-c": True, "--config": True, "--config-path": False, "--secrets-provider": True,
        "-m": True, "--message": True, "-t": True, "--target": True, "--exclude": True, "--replace": True,
        "--target-replace": True, "--target-dependents": False, "--exclude-dependents": False,
        "--policy-pack": True, "--policy-pack-config": True, "--diff": False, "-j": False, "--json": False,
        "-p": True, "--parallel": True, "-r": "opt", "--refresh": "opt", "--show-config": False,
        "--show-policy-remediations": False, "--show-replacement-steps": False, "--show-sames": False,
        "--show-secrets": False, "--show-reads": False, "-f": False, "--skip-preview": False,
        "--suppress-outputs": False, "--suppress-progress": False, "--show-full-output": False,
        "--suppress-permalink": "opt", "-y": False, "--yes": False, "--continue-on-error": False,
        "--attach-debugger": False, "--suppress-copilot-summary": False, "--plan": True,
    },
    "preview": {
        "-d": False, "--debug": False, "--expect-no-changes": False, "-s": True, "--stack": True,
        "--config-file": True, "-c": True, "--config": True, "--config-path": False, "--save-plan": True,
        "--show-secrets": False, "--import-file": True, "-m": True, "--message": True, "-t": True, "--target": True,
        "--replace": True, "--target-replace": True, "--target-dependents": False, "--policy-pack": True,
        "--policy-pack-config": True, "--diff": False, "-j": False, "--json": False, "-p": True, "--parallel": True,
        "-r": "opt", "--refresh": "opt", "--show-config": False, "--show-policy-remediations": False,
        "--show-replacement-steps": False, "--show-sames": False, "--show-reads": False, "--suppress-outputs": False,
        "--suppress-progress": False, "--suppress-permalink": "opt", "--attach-debugger": False,
    },
    "destroy": {
        "--run-program": False, "-d": False, "--debug": False, "--remove": False, "-s": True, "--stack": True,
        "--config-file": True, "-m": True, "--message": True, "-t": True, "--target": True, "-x": True,
        "--exclude": True, "--target-dependents": False, "--exclude-protected": False, "--diff": False, "-j": False,
        "--json": False, "-p": True, "--parallel": True, "--preview-only": False, "-r": "opt", "--refresh": "opt",
        "--show-config": False, "--show-replacement-steps": False, "--show-sames": False, "-f": False,
        "--skip-preview": False, "--suppress-outputs": False, "--suppress-progress": False,
        "--suppress-permalink": "opt", "--continue-on-error": False, "-y": False, "--yes": False,
    },
    "stack select": {"-s": True, "--stack": True, "-c": False, "--create": False, "--secrets-provider": True},
    "stack init": {"-s": True, "--stack": True, "--secrets-provider": True, "--copy-config-from": True,
                   "--no-select": False, "--teams": True},
    "stack output": {"-j": False, "--json": False, "--shell": False, "-s": True, "--stack": True,
                     "--show-secrets": False},
    "version": {},
}
POSITIONAL = {"stack select": 1, "stack output": 1, "stack init": 1, "up": 1, "preview": 1, "version": 0,
              "destroy": 0}
LOGGED_ENV = ("PULUMI_BACKEND_URL", "PULUMI_SKIP_UPDATE_CHECK", "AWS_PROFILE", "AWS_REGION")
SECRET_ENV = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "AWS_ACCESS_KEY_ID",
              "AWS_SECRET_ACCESS_KEY")


class CliError(Exception):
    pass


def parse(argv: list[str]) -> tuple[str, dict[str, str | bool], list[str]]:
    words: list[str] = []
    i = 0
    while i < len(argv) and not argv[i].startswith("-") and len(words) < 2:
        words.append(argv[i])
        i += 1
    command = " ".join(words) if " ".join(words) in FLAGS else (words[0] if words else "")
    if command not in FLAGS:
        raise CliError(f'unknown command "{" ".join(words)}" for "pulumi"')
    allowed = {**GLOBAL, **FLAGS[command]}
    flags: dict[str, str | bool] = {}
    positional: list[str] = [w for w in words[len(command.split()):]]
    rest = argv[len(words):]
    j = 0
    while j < len(rest):
        token = rest[j]
        if not token.startswith("-") or token == "-":
            positional.append(token)
            j += 1
            continue
        name, eq, value = token.partition("=")
        if name not in allowed:
            raise CliError(f"unknown flag: {name}" if name.startswith("--") else f"unknown shorthand flag: {name}")
        kind = allowed[name]
        if kind is True and not eq:
            if j + 1 >= len(rest):
                raise CliError(f"flag needs an argument: {name}")
            value = rest[j + 1]
            j += 1
        elif kind is False and eq:
            value = value  # cobra accepts --flag=true for booleans
        flags[name] = value if (eq or kind is True) else True
        j += 1
    if len(positional) > POSITIONAL.get(command, 0):
        raise CliError(f"accepts at most {POSITIONAL.get(command, 0)} arg(s), received {len(positional)}")
    return command, flags, positional


def flag(flags: dict[str, str | bool], *names: str) -> str | bool | None:
    for name in names:
        if name in flags:
            return flags[name]
    return None


def project_of(cwd: Path) -> str:
    file = cwd / "Pulumi.yaml"
    if not file.is_file():
        raise CliError(f"no Pulumi.yaml project file found (searching upwards from {cwd})")
    match = re.search(r"^name:\s*(\S+)", file.read_text(), re.MULTILINE)
    if not match:
        raise CliError("Pulumi.yaml has no name")
    return match.group(1)


def state_dir() -> Path:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        raise CliError(f"fake pulumi supports file:// backends only, PULUMI_BACKEND_URL={url!r}")
    path = Path(url[len("file://"):])
    if not path.is_dir():
        raise CliError(f"read {path}: no such file or directory")
    return path


def stack_file(project: str, stack: str | bool | None) -> tuple[str, Path]:
    if not isinstance(stack, str) or not stack:
        raise CliError("no stack selected; pass --stack (non-interactive)")
    parts = stack.split("/")
    if len(parts) == 3:
        org, proj, name = parts
        if org != ORG:
            raise CliError(f"organization name must be '{ORG}' for self-managed backends, got '{org}'")
        if proj != project:
            raise CliError(f"provided project name \"{proj}\" doesn't match Pulumi.yaml")
    elif len(parts) == 1:
        name = parts[0]
    else:
        raise CliError(f"could not parse stack reference '{stack}'")
    return name, state_dir() / ".pulumi" / "stacks" / project / f"{name}.json"


def load(path: Path, stack: str) -> dict:
    if not path.is_file():
        raise CliError(f"no stack named '{stack}' found")
    return json.loads(path.read_text())


def save(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def need_passphrase(state: dict | None) -> None:
    provider = (state or {}).get("secretsProvider", "passphrase")
    if provider in ("passphrase", "default") and not (
            os.environ.get("PULUMI_CONFIG_PASSPHRASE") or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise CliError("passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE "
                       "environment variables")


def per_layer(var: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in os.environ.get(var, "").split(","))):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def fails(layer: str, command: str) -> bool:
    wanted = {p.strip() for p in os.environ.get("FAKE_PULUMI_FAIL", "").split(",") if p.strip()}
    return layer in wanted or f"{layer}:{command}" in wanted


def deletion_protection(cwd: Path, name: str, config_file: str | bool | None) -> bool:
    """Whether the config an ``up`` runs with turns deletion protection on (any layer key of that name)."""
    path = (cwd / config_file) if isinstance(config_file, str) else cwd / f"Pulumi.{name}.yaml"
    if not path.is_file():
        if isinstance(config_file, str):
            raise CliError(f"could not read config file {path}: open {path}: no such file or directory")
        return False
    found = re.findall(r"^\s*[\w-]+:deletionProtection:\s*(\S+)", path.read_text(), re.MULTILINE)
    return any(value.strip("'\"").lower() == "true" for value in found)


def outputs_for(layer: str, project: str) -> dict:
    source = os.environ.get("FAKE_PULUMI_OUTPUTS")
    if source and Path(source).is_file():
        data = json.loads(Path(source).read_text())
        if isinstance(data.get("layers"), list):
            data = {lp["name"]: lp.get("outputs", {}) for lp in data["layers"]}
        if layer in data:
            return data[layer]
    return {"project": project}


def run(argv: list[str], cwd: Path, note: dict) -> int:
    command, flags, positional = parse(argv)
    note["command"] = command
    if command == "version":
        print(VERSION)
        return 0
    where = flag(flags, "-C", "--cwd")
    if isinstance(where, str):
        cwd = (cwd / where).resolve()
    project = project_of(cwd)
    layer = project.split("-", 1)[1] if project.startswith("payments-") else project
    note["layer"] = layer
    interactive = "--non-interactive" not in flags and sys.stdin.isatty()
    stack_arg = flag(flags, "-s", "--stack") or (positional[0] if command == "stack select" and positional else None)
    name, path = stack_file(project, stack_arg)

    if command == "stack select":
        if path.is_file():
            return 0
        if not flag(flags, "-c", "--create"):
            raise CliError(f"no stack named '{stack_arg}' found")
        provider = flag(flags, "--secrets-provider") or "passphrase"
        need_passphrase({"secretsProvider": provider})
        save(path, {"project": project, "stack": name, "secretsProvider": provider, "outputs": {}, "resources": 0,
                    "updates": 0})
        config = cwd / f"Pulumi.{name}.yaml"
        if provider in ("passphrase", "default") and config.is_file() and "encryptionsalt:" not in config.read_text():
            with config.open("a") as fh:  # what the real CLI records for a passphrase-encrypted stack
                fh.write("encryptionsalt: v1:ZmFrZQ==:v1:ZmFrZXNhbHQ=:ZmFrZQ==\n")
        print(f"Created stack '{name}'")
        return 0

    state = load(path, str(stack_arg))
    need_passphrase(state)
    if command == "stack output":
        outputs = state.get("outputs", {})
        if positional:
            if positional[0] not in outputs:
                raise CliError(f"current stack does not have output property '{positional[0]}'")
            outputs = outputs[positional[0]]
        if flag(flags, "-j", "--json"):
            print(json.dumps(outputs, indent=4))
        else:
            for key, value in sorted(outputs.items()) if isinstance(outputs, dict) else [("", outputs)]:
                print(f"    {key}  {value}")
        return 0

    if command in ("up", "destroy") and not interactive and not (flag(flags, "-y", "--yes")
                                                                  or flag(flags, "-f", "--skip-preview")):
        raise CliError("--yes or --skip-preview must be passed in to proceed when running in non-interactive mode")
    delay = float(per_layer("FAKE_PULUMI_SLEEP").get(layer, "0") or 0)
    if delay:
        time.sleep(delay)
    if fails(layer, command):
        print(f"Updating ({name}):\n    pulumi:pulumi:Stack {project}-{name} **failed**")
        raise CliError(f"update failed (FAKE_PULUMI_FAIL={os.environ.get('FAKE_PULUMI_FAIL')})")
    if command == "preview":
        print(f"Previewing update ({name}):\n    pulumi:pulumi:Stack {project}-{name}\nResources:\n    + 1 to create")
        return 0
    if command == "up":
        protected = deletion_protection(cwd, name, flag(flags, "--config-file"))
        note["deletionProtection"] = protected
        state.update(outputs=outputs_for(layer, project), resources=state.get("resources", 0) or 1,
                     updates=state.get("updates", 0) + 1, deletionProtection=protected)
        save(path, state)
        print(f"Updating ({name}):\nOutputs:\n" + "\n".join(f"    {k}: {v!r}" for k, v in state["outputs"].items()))
        return 0
    if state.get("deletionProtection"):  # destroy: what AWS answers for a protected database or load balancer
        raise CliError(f"deleting {project}: resources have deletion protection enabled (InvalidParameterCombination: "
                       "Cannot delete protected DB Cluster, please disable deletion protection and try again)")
    state.update(outputs={}, resources=0)  # destroy
    save(path, state)
    print(f"Destroying ({name}):\nThe resources in the stack have been deleted")
    return 0


def main() -> int:
    argv = sys.argv[1:]
    cwd = Path.cwd()
    note: dict = {"argv": argv, "cwd": str(cwd), "start": time.time(),
                  "env": {k: os.environ.get(k) for k in LOGGED_ENV}
                  | {k: ("set" if os.environ.get(k) else None) for k in SECRET_ENV}}
    try:
        code = run(argv, cwd, note)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        note["error"] = str(exc)
        code = 255
    except BrokenPipeError:
        # The caller died after the state was saved (as the real CLI, whose last act is printing the summary):
        # the call is still recorded so tests can tell an orphaned update from one that never ran.
        note["error"] = "stdout closed: the caller went away"
        code = 0
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - interpreter shutdown flushes stdout again
    note["end"] = time.time()
    note["rc"] = code
    log = os.environ.get("FAKE_PULUMI_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps(note) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
