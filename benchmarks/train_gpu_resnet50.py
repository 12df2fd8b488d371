"""Training throughput of ResNet-50 at 224x224 on synthetic data with AMP + channels_last (GPU).

Synthetic data (random images and labels, made once on the device) measures the GPU's
training step alone: forward, backward, SGD with Nesterov momentum, under autocast
(bf16 by default, fp16 with a GradScaler) in channels_last. Warm-up steps are run outside
the timed loop; the timed loop is bracketed by torch.cuda.synchronize(). Results, with the
GPU's name, go to benchmarks/results/<gpu>/train_resnet50_synthetic.{json,md}.

Without CUDA it prints why and exits 0 without writing anything: it has not been run on the
2-core CPU machine this project is developed on.

    python benchmarks/train_gpu_resnet50.py --batch 128 --amp bf16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import cuda_available, results_dir, write_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--amp", choices=["bf16", "fp16", "off"], default="bf16")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path, help="write the results here (default benchmarks/results/<gpu>/)")
    args = parser.parse_args()
    if not cuda_available():
        print("SKIPPED: no CUDA device (torch.cuda.is_available() is False); this benchmark measures GPU training "
              "throughput and records nothing on a CPU-only machine.")
        return 0
    import torch
    from torch import nn

    from resnet_deploy.models import build_model
    from resnet_deploy.train.loop import param_groups

    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    channels_last = not args.no_channels_last
    model = build_model("resnet50").to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.SGD(param_groups(model, 1e-4), lr=0.1, momentum=0.9, nesterov=True)
    scaler = torch.amp.GradScaler("cuda", enabled=args.amp == "fp16")
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    images = torch.randn(args.batch, 3, 224, 224, device=device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (args.batch,), device=device)
    dtype = torch.bfloat16 if args.amp == "bf16" else torch.float16

    def step() -> None:
        with torch.autocast("cuda", dtype=dtype, enabled=args.amp != "off"):
            loss = criterion(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    model.train()
    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    rate = args.batch * args.steps / seconds
    if args.out is not None:
        from resnet_deploy.bench.telemetry import capture_environment

        out_dir, env = args.out, capture_environment().to_dict()
        out_dir.mkdir(parents=True, exist_ok=True)
    else:
        out_dir, env = results_dir()
    data = {"benchmark": "train_resnet50_synthetic", "model": "resnet50", "input": [3, 224, 224],
            "batch": args.batch, "amp": args.amp, "channels_last": channels_last, "steps": args.steps,
            "warmup": args.warmup, "seconds": round(seconds, 3), "images_per_second": round(rate, 1),
            "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "gpu": torch.cuda.get_device_name(), "environment": env}
    write_json(out_dir / "train_resnet50_synthetic.json", data)
    md = ["# Training ResNet-50, 224x224, synthetic data", "",
          "| GPU | batch | AMP | channels_last | images/s | peak memory (GiB) |", "|---|---|---|---|---|---|",
          f"| {data['gpu']} | {args.batch} | {args.amp} | {channels_last} | {rate:.0f} | {data['max_memory_gib']} |", ""]
    (out_dir / "train_resnet50_synthetic.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
