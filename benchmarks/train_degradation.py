"""The paper's degradation experiment (Figures 1/6) on `digits`, recorded.

Runs `resnet-deploy experiment degradation` (plain vs residual at depths 20 and 56, the
default recipe) in a temporary folder and copies degradation.json and degradation.png to
benchmarks/results/<device>/ with the machine. About 6-8 minutes on a quiet 2-core CPU.

    python benchmarks/train_degradation.py [--depths 20,56] [--epochs 15]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import results_dir, write_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", default="20,56")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    out_dir, env = results_dir()
    with tempfile.TemporaryDirectory(prefix="degradation_") as work:
        cmd = [sys.executable, "-m", "resnet_deploy", "experiment", "degradation", "--depths", args.depths,
               "--epochs", str(args.epochs), "--out", work, "--json"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        report = json.loads((Path(work) / "degradation.json").read_text())
        shutil.copyfile(Path(work) / "degradation.png", out_dir / "train_degradation.png")
    report["command"] = " ".join(["resnet-deploy", *cmd[3:-3]])
    report["wall_seconds"] = round(wall, 1)
    report["environment"] = env
    report["figure"] = "train_degradation.png"
    write_json(out_dir / "train_degradation.json", report)
    lines = [f"# {report['command']}", "", "| model | depth | residual | final train error | final val error | best val error | seconds |",
             "|---|---|---|---|---|---|---|"]
    for name, r in report["results"].items():
        lines.append(f"| {name} | {r['depth']} | {'yes' if r['residual'] else 'no'} | {100 * r['final_train_error']:.2f}% "
                     f"| {100 * r['final_val_error']:.2f}% | {100 * r['best_val_error']:.2f}% | {r['seconds']:.0f} |")
    lines += ["", "![training and validation error per epoch](train_degradation.png)", "",
              f"Machine: {env.get('cpu', {}).get('model', '?')}, {env.get('cpu', {}).get('logical_cores', '?')} cores; "
              f"total {wall:.0f} s.", ""]
    (out_dir / "train_degradation.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
