#!/usr/bin/env python3
"""Write InsightFace's mean 68-point 3D face shape as JSON for the 1k3d68 pose.

InsightFace computes head pose from 1k3d68's landmarks by fitting an affine camera to
this mean shape (model_zoo/landmark.py with data/objects/meanshape_68.pkl). The shape
ships with the `insightface` package on PyPI, whose library code and data are MIT
licensed. Regenerate with:

    python3 -m pip install insightface
    python3 scripts/insightface_meanshape.py crates/fs-embed/data/meanshape_68.json
"""
import json
import os
import pickle
import sys


def main() -> int:
    import insightface

    path = os.path.join(os.path.dirname(insightface.__file__), "data", "objects", "meanshape_68.pkl")
    with open(path, "rb") as f:
        shape = pickle.load(f)
    doc = {
        "source": f"insightface {insightface.__version__} data/objects/meanshape_68.pkl (MIT licence)",
        "generator": "scripts/insightface_meanshape.py",
        "points": [[round(float(v), 7) for v in row] for row in shape],
    }
    with open(sys.argv[1], "w") as f:
        json.dump(doc, f, indent=0)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
