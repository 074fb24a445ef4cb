"""Time genlab's Fréchet distance against the scipy `sqrtm` reference on 10,000 x 2,048 features.

    python experiments/frechet_benchmark.py [--n 10000] [--d 2048]

Both start from the same two float64 feature sets; the timed part is everything after the features
exist (means, covariances, the square-root trace). Prints both times, their ratio and the relative
difference of the two distances.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg

from genlab.metrics import frechet_distance


def scipy_reference(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--d", type=int, default=2048)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, args.d))
    y = rng.normal(size=(args.n, args.d)) @ rng.normal(scale=1 / np.sqrt(args.d), size=(args.d, args.d)) + 0.1
    start = time.perf_counter()
    ours = frechet_distance(x, y)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    ref = scipy_reference(x, y)
    t_ref = time.perf_counter() - start
    print(f"{args.n} x {args.d}: genlab {t_ours:.2f} s, scipy sqrtm {t_ref:.2f} s, "
          f"speed-up {t_ref / t_ours:.1f}x, relative difference {abs(ours - ref) / abs(ref):.1e}")


if __name__ == "__main__":
    main()
