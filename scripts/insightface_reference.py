#!/usr/bin/env python3
"""Write the reference detections and embeddings of Python InsightFace for the fixtures.

The Rust parity test (crates/fs-embed/tests/parity.rs) compares against the JSON this
writes, so it runs without Python. Regenerate after changing fixtures or models:

    python3 -m pip install insightface onnxruntime==1.31.1
    python3 scripts/insightface_reference.py --models ~/.local/share/face-sets/models/buffalo_s \
        --out fixtures/reference/insightface_buffalo_s.json

Uses FaceAnalysis(allowed_modules=['detection', 'recognition']) with det_size 640 on
CPU, exactly as the original tool embedded photos.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, type=Path, help="directory holding the buffalo_s .onnx files")
    ap.add_argument("--images", type=Path, default=Path(__file__).resolve().parent.parent / "fixtures" / "images")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()

    import cv2
    import insightface
    import onnxruntime
    from insightface.app import FaceAnalysis

    # FaceAnalysis looks for <root>/models/<name>/*.onnx; point it at the pack without copying.
    root = Path(tempfile.mkdtemp())
    (root / "models").mkdir()
    os.symlink(args.models.resolve(), root / "models" / "buffalo_s")
    app = FaceAnalysis(name="buffalo_s", root=str(root), allowed_modules=["detection", "recognition"],
                       providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))

    images = []
    for path in sorted(args.images.iterdir()):
        img = cv2.imread(str(path))
        faces = app.get(img) if img is not None else []
        images.append({
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "faces": [{
                "bbox": [round(float(v), 3) for v in f.bbox],
                "kps": [[round(float(x), 3), round(float(y), 3)] for x, y in f.kps],
                "det_score": round(float(f.det_score), 5),
                "embedding": [round(float(v), 6) for v in f.normed_embedding],
            } for f in faces],
        })
    doc = {
        "generator": "scripts/insightface_reference.py",
        "insightface": insightface.__version__,
        "onnxruntime": onnxruntime.__version__,
        "models": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(args.models.glob("*.onnx"))},
        "det_size": 640,
        "images": images,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}: {sum(len(i['faces']) for i in images)} faces in {len(images)} images", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
