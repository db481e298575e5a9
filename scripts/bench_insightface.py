#!/usr/bin/env python3
"""Time Python InsightFace (the reference) on a directory of photos.

Run by `cargo xtask bench embed`; prints one JSON object:
{"images": N, "faces": F, "load_s": ..., "run_s": ...}.
Mirrors how the original tool embedded: cv2.imread, then
FaceAnalysis(allowed_modules=['detection', 'recognition']).get() per photo, det_size 640, CPU.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

EXTS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", required=True, type=Path)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--embeddings", type=Path,
                    help="also write one JSON line per photo: its path, size and faces (box, embedding)")
    args = ap.parse_args()
    out = open(args.embeddings, "w") if args.embeddings else None

    t0 = time.perf_counter()
    import cv2
    from insightface.app import FaceAnalysis

    root = Path(tempfile.mkdtemp())
    (root / "models").mkdir()
    os.symlink(args.models.resolve(), root / "models" / "pack")
    app = FaceAnalysis(name="pack", root=str(root), allowed_modules=["detection", "recognition"],
                       providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))
    load_s = time.perf_counter() - t0

    paths = sorted(p for p in args.dir.rglob("*") if p.is_file() and p.suffix.lower() in EXTS)
    t1 = time.perf_counter()
    faces = 0
    for p in paths:
        img = cv2.imread(str(p))
        if img is None:
            continue
        found = app.get(img)
        faces += len(found)
        if out:
            h, w = img.shape[:2]
            listed = [{"bbox": [float(v) for v in f.bbox],
                       "embedding": [float(v) for v in f.embedding]} for f in found]
            out.write(json.dumps({"path": str(p.resolve()), "width": w, "height": h,
                                  "faces": listed}) + "\n")
    run_s = time.perf_counter() - t1
    print(json.dumps({"images": len(paths), "faces": faces, "load_s": load_s, "run_s": run_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
