#!/usr/bin/env python3
"""scikit-learn's AgglomerativeClustering on the same synthetic embeddings.

Run by `cargo xtask bench cluster`. Prints one JSON object with seconds, cluster count,
peak memory (MiB) and the adjusted Rand index against face-sets' labels.
"""
import json
import resource
import sys
import time

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score


def main() -> int:
    data_path, ours_path = sys.argv[1], sys.argv[2]
    threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.55
    x = np.fromfile(data_path, dtype="<f4").reshape(-1, 512)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    start = time.perf_counter()
    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=threshold).fit_predict(x)
    secs = time.perf_counter() - start
    ours = np.loadtxt(ours_path, dtype=np.int64)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": secs, "clusters": int(labels.max()) + 1, "peak_mib": peak,
                      "ari_vs_ours": adjusted_rand_score(labels, ours)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
