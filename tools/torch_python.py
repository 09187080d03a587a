"""Finds the Python that has PyTorch 1.13 and numpy, for the tools that need them.

Debian's python3-torch is importable by /usr/bin/python3 only; a `python3` found first on PATH
(pyenv, a venv) usually lacks it. require_torch(), called before `import torch`:
  - returns if torch and numpy import here;
  - else, run as a script, re-executes it once under $GRADORACLE_TORCH_PYTHON (default
    /usr/bin/python3) with the same arguments;
  - else prints one line naming the interpreters tried and what is missing, and exits 2.
"""

import os
import sys

DEFAULT_TORCH_PYTHON = "/usr/bin/python3"
_REEXEC_MARK = "GRADORACLE_TORCH_REEXEC"  # set in the re-executed process: at most one re-exec


def _missing():
    """The first of torch, numpy that does not import here (None if both do)."""
    for module in ("torch", "numpy"):
        try:
            __import__(module)
        except ImportError:
            return module
    return None


def require_torch():
    missing = _missing()
    if missing is None:
        return
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    candidate = os.environ.get("GRADORACLE_TORCH_PYTHON", DEFAULT_TORCH_PYTHON)
    tried = [sys.executable]
    if os.path.isfile(script) and not os.environ.get(_REEXEC_MARK) and os.access(candidate, os.X_OK):
        os.environ[_REEXEC_MARK] = sys.executable
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(candidate, [candidate, script, *sys.argv[1:]])
    if os.environ.get(_REEXEC_MARK):
        tried.insert(0, os.environ[_REEXEC_MARK])
    elif candidate not in tried:
        tried.append(candidate + (" (not found)" if not os.access(candidate, os.X_OK) else ""))
    name = os.path.basename(script) if script else "this tool"
    print(f"{name}: needs PyTorch 1.13 and numpy (Debian: python3-torch python3-numpy, "
          f"`tools/install-deps.sh --test`); no module named '{missing}' under {', '.join(dict.fromkeys(tried))} "
          f"(set GRADORACLE_TORCH_PYTHON to a Python that has them)", file=sys.stderr)
    sys.exit(2)
