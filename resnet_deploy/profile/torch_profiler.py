"""Per-module times of a PyTorch model, from torch.profiler.

Every leaf module (Conv2d, BatchNorm2d, ReLU, Linear, pooling) is wrapped in a
`record_function` range named after it by forward hooks, and each iteration in one more; the
profiler's events then give each module's time in each iteration (CPU time; on CUDA the device
time of the kernels inside the range). PyTorch runs the modules as written, unfused, so the
layers are modules, not ONNX nodes: two torch profiles line up by module name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resnet_deploy.backends.registry import get_backend, open_runner
from resnet_deploy.profile.record import LayerTime, ProfileResult, per_iteration, precision_name
from resnet_deploy.profile.settings import ProfileSettings, median_ms, random_feeds

ITERATION = "resnet_deploy.iteration"
_PREFIX = "module:"


def _hooks(model: Any, torch: Any, dtypes: dict[str, str]) -> list[Any]:
    """record_function ranges around every leaf module; the output dtype of each is noted."""
    handles = []
    for name, module in model.named_modules():
        if not name or any(True for _ in module.children()):
            continue

        def enter(module: Any, inputs: Any, name: str = name) -> None:
            module._rd_range = torch.profiler.record_function(_PREFIX + name)
            module._rd_range.__enter__()

        def leave(module: Any, inputs: Any, output: Any, name: str = name) -> None:
            module._rd_range.__exit__(None, None, None)
            if hasattr(output, "dtype"):
                dtypes.setdefault(name, str(output.dtype).replace("torch.", ""))
        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    return handles


def layers_from_events(events: list[Any], types: dict[str, str], dtypes: dict[str, str], *, device: bool,
                       keep: int) -> tuple[list[LayerTime], list[float]]:
    """(layers, the time of each iteration) from the profiler's events, over the last `keep`
    iterations (the earlier ones are warm-up)."""
    def duration(event: Any) -> float:
        total = getattr(event, "device_time_total", 0.0) if device else event.cpu_time_total
        return float(total) / 1000.0

    iterations = sorted((e for e in events if e.name == ITERATION), key=lambda e: e.time_range.start)[-keep:]
    samples: list[list[tuple[str, float]]] = [[] for _ in iterations]
    for event in events:
        if not event.name.startswith(_PREFIX):
            continue
        start = event.time_range.start
        for index, iteration in enumerate(iterations):
            if iteration.time_range.start <= start <= iteration.time_range.end:
                samples[index].append((event.name[len(_PREFIX):], duration(event)))
                break
    layers = [LayerTime(name, (), types.get(name, ""), precision_name(dtypes.get(name)), values, order)
              for order, (name, values) in enumerate(per_iteration(samples).items())]
    return layers, [(e.time_range.end - e.time_range.start) / 1000.0 for e in iterations]  # wall time of each


def profile_torch(model: str | Path, backend: str, settings: ProfileSettings) -> ProfileResult:
    import torch

    runner = open_runner(backend, model, settings.run_options(get_backend(backend)))
    with runner:
        module = getattr(runner, "module")  # noqa: B009 - the torch runner's nn.Module
        types = {name: type(m).__name__ for name, m in module.named_modules()}
        feeds = random_feeds(runner, settings)
        dtypes: dict[str, str] = {}
        handles = _hooks(module, torch, dtypes)
        on_cuda = runner.device == "cuda"
        activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if on_cuda else [])
        try:
            with torch.profiler.profile(activities=activities) as prof:
                # Warm-up inside the profiler too: its first iterations pay for its own set-up.
                for _ in range(settings.warmup + settings.iterations):
                    with torch.profiler.record_function(ITERATION):
                        runner.infer(feeds)
        finally:
            for handle in handles:
                handle.remove()
        description = runner.describe()
    layers, iteration_ms = layers_from_events(list(prof.events()), types, dtypes, device=on_cuda,
                                                  keep=settings.iterations)
    batch = int(next(iter(feeds.values())).shape[0])
    return ProfileResult(str(model), backend, batch, settings.iterations, settings.warmup, layers,
                         median_ms(iteration_ms), model_precision=settings.precision or "fp32",
                         method="torch.profiler, one record_function range per leaf module", runner=description,
                         notes=["end-to-end: the whole runner call inside the profiler (input conversion included)"])
