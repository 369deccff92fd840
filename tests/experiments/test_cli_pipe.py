"""``populace ... | head``: a reader that goes away ends the command quietly, with status 0 and no crash log."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_closed_pipe_is_not_a_crash(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "POPULACE_CACHE": str(tmp_path / "c.sqlite")}
    code = "import sys; from experiments.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "experiment", "seed000", "--profile", "paper", "--plan"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()  # the reader is gone before the first line is printed (`| head -0`)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"internal error" not in err and b"Traceback" not in err
    assert not (tmp_path / ".cache" / "populace" / "crash").exists()
