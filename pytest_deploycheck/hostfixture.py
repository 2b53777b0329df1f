"""The ``host`` fixture: an inventory host reached through pytest-testinfra.

Registered by ``pytest_configure`` only when an inventory is given, after every entry-point
plugin, so it deliberately replaces testinfra's own ``host`` fixture for that run (testinfra's
``--hosts`` then has no effect on catalog checks).  Without an inventory, testinfra's ``host``
works as usual for a project's own tests.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from pytest_deploycheck.inventory import Target
from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets import Reachability, TargetHandle


class HostTarget(TargetHandle):
    """A testinfra ``Host`` with the inventory record beside it.

    Attribute access falls through to testinfra (``host.file(...)``, ``host.service(...)``);
    ``run`` goes through the reachability guard: an SSH transport failure (exit 255) marks the
    host unreachable, so its other checks end at once.
    """

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._host: Any = None

    @property
    def testinfra(self) -> Any:
        if self._host is None:
            import testinfra

            self._host = testinfra.get_host(str(self.target.spec["backend"]), **testinfra_kwargs(self.target))
        return self._host

    def run(self, command: str, *args: Any) -> Any:
        self.reach.raise_if_failed(self.target)
        with self.reach.guard(self.target):
            result = self.testinfra.run(command, *args)
        if result.rc == 255 and self.target.spec["backend"].startswith(("ssh://", "safe-ssh://")):
            message = (result.stderr or "ssh failed").strip().splitlines()[-1] if result.stderr else "ssh exited 255"
            self.reach.mark(self.target, f"ssh: {message}")
            raise TargetError(f"{self.target.label}: ssh: {message}")
        return result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self.reach.raise_if_failed(self.target)
        return getattr(self.testinfra, name)


def testinfra_kwargs(target: Target) -> dict[str, Any]:
    """testinfra backend options from the inventory; no secret ever goes on a command line."""
    spec = target.spec
    kwargs: dict[str, Any] = {}
    for key in ("ssh_identity_file", "ssh_config", "sudo", "sudo_user"):
        if spec.get(key) is not None:
            kwargs[key] = spec[key]
    backend = str(spec["backend"])
    if backend.startswith(("ssh://", "safe-ssh://")):
        extra = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(round(target.timeout)))}"]
        if spec.get("ssh_known_hosts"):
            extra += ["-o", f"UserKnownHostsFile={spec['ssh_known_hosts']}", "-o", "StrictHostKeyChecking=yes"]
        elif spec.get("ssh_host_key_checking") is False:
            extra += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        else:
            extra += ["-o", "StrictHostKeyChecking=yes"]
        kwargs["ssh_extra_args"] = " ".join(shlex.quote(a) for a in extra)
        kwargs["timeout"] = max(1, int(round(target.timeout)))
    elif backend.startswith("paramiko://"):
        kwargs["timeout"] = max(1, int(round(target.timeout)))
    return kwargs


@pytest.fixture
def host(request: pytest.FixtureRequest) -> HostTarget:
    """An inventory host (testinfra): ``host.file("/etc/ssh/sshd_config").mode``,
    ``host.run("sshd -T")``, ``host.label`` for messages.  Parametrized over every ``hosts`` target."""
    from pytest_deploycheck.plugin import STATE_KEY, resolve_target

    state = request.config.stash[STATE_KEY]
    return state.pool.handle("host", resolve_target(request), HostTarget)  # type: ignore[no-any-return]
