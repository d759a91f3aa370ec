"""llm_gpu_utilization_percent{model, gpu_id} read from NVML (nvidia-ml-py) at each scrape.

The preset selects the app's GPU gauge by `model` (with `gpu_exporter: none`), so the series carry the served
model as well as the GPU index. No nvidia-ml-py, no NVML library or no GPU: one log line and no series.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from llmmon import contract as c

log = logging.getLogger("llmmon.instrument")

Reader = Callable[[], dict[str, float]]  # gpu_id → utilisation percent


class GpuCollector(Collector):
    """Reads utilisation of every GPU when scraped."""

    def __init__(self, model: str, read: Reader) -> None:
        self.model, self.read = model, read

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(c.GPU_UTILIZATION, "GPU utilisation in percent, read from NVML.",
                                 labels=[c.MODEL_LABEL, c.GPU_LABEL])

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The family without samples: registering does not read the GPUs."""
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge family with a sample per GPU."""
        family = self._family()
        for gpu_id, percent in sorted(self.read().items()):
            family.add_metric([self.model, gpu_id], percent)
        yield family


def nvml_reader() -> tuple[Reader | None, str]:
    """A reader over this host's GPUs, or None and why not."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError as exc:
        return None, f"NVML is not available ({exc})"
    if not handles:
        return None, "NVML reports no GPU"

    def read() -> dict[str, float]:
        out = {}
        for index, handle in enumerate(handles):
            try:
                out[str(index)] = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except pynvml.NVMLError:  # a GPU that fell off the bus has no sample, the others keep theirs
                continue
        return out

    return read, ""


def register(registry: CollectorRegistry, model: str, reader: Reader | None = None) -> bool:
    """Add the GPU collector of `model` to `registry`; False (logged once) when there is nothing to read."""
    why = ""
    if reader is None:
        reader, why = nvml_reader()
    if reader is None:
        log.info("%s: %s is not exported", why, c.GPU_UTILIZATION)
        return False
    registry.register(GpuCollector(model, reader))
    return True
