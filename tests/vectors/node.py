"""Running the independent JavaScript verifiers of this folder. The guomi suite's need
sm-crypto-v2 from npm (package.json, package-lock.json): installed here with 'npm ci' the first
time a test needs it, so that the test command works on a fresh machine."""

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent


def node(script: str, *args: str | Path, guomi: bool = False) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("node")
    assert executable is not None, "Node.js verifies the vectors in a second language; install it"
    if guomi and not (HERE / "node_modules" / "sm-crypto-v2").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "npm installs the JavaScript SM2/SM3/SM4 of the guomi vectors"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return subprocess.run(
        [executable, str(HERE / script), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
