"""Install the Jupyter kernel `taizhang` into the virtual environment (sys.prefix), quiet about transport:
ipykernel warns on every start that its loopback TCP channel is unencrypted, which is noise on a single-user
machine and would clutter every `taizhang run`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ipykernel.kernelspec import install


def main() -> None:
    path = Path(install(kernel_name="taizhang", display_name="Python (taizhang)", prefix=sys.prefix))
    spec_file = path / "kernel.json"
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    spec["argv"] = [arg for arg in spec["argv"] if not arg.startswith("--IPKernelApp.log_level")]
    spec["argv"].append("--IPKernelApp.log_level=ERROR")
    spec_file.write_text(json.dumps(spec, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"Jupyter 内核 taizhang 已安装：{path}")


if __name__ == "__main__":
    main()
