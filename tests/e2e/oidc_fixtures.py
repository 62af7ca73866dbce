"""A real OpenID provider (npm ``oidc-provider``, installed by ``make oidc``) on a loopback
port, for the sign-in tests. Accounts: ``alice`` (groups eng, ragserve-admins) and ``bob``
(group hr); its login form takes any password."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "fixtures" / "oidc_provider.mjs"
MODULE = ROOT / ".tools" / "oidc" / "node_modules" / "oidc-provider" / "lib" / "index.js"
CLIENT_ID = "ragserve"
ADMIN_GROUP = "ragserve-admins"


@contextmanager
def running_provider(port: int, redirect_uris: list[str], logout_uri: str) -> Iterator[str]:
    """Start the provider; yields its issuer URL and stops it after."""
    if not MODULE.exists():
        raise RuntimeError(f"{MODULE} is missing: run `make oidc`")
    env = {**os.environ, "OIDC_PROVIDER_MODULE": str(MODULE)}
    proc = subprocess.Popen(
        ["node", str(SCRIPT), str(port), ",".join(redirect_uris), logout_uri],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its development-mode warnings
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ready "):
                break
        else:
            raise RuntimeError(f"the OpenID provider exited with {proc.wait()}")
        yield line.split(" ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
