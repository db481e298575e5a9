#!/usr/bin/env python3
"""Time OpenCV's own YuNet + SFace on a directory of photos.

Run by `cargo xtask bench embed --models yunet_sface`; prints one JSON object:
{"images": N, "faces": F, "load_s": ..., "run_s": ...}.
Mirrors scripts/opencv_reference.py: cv2.imread, the photo fitted into 640x640,
cv2.FaceDetectorYN (score 0.9, NMS 0.3), then FaceRecognizerSF.alignCrop + feature
for every face, on the CPU.
"""
import argparse
import json
import sys
import time
from pathlib import Path

EXTS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp"}
DET_SIZE = 640


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

    detector = cv2.FaceDetectorYN.create(str(next(args.models.glob("face_detection_yunet_*.onnx"))), "",
                                         (DET_SIZE, DET_SIZE), 0.9, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(str(next(args.models.glob("face_recognition_sface_*.onnx"))), "")
    load_s = time.perf_counter() - t0

    paths = sorted(p for p in args.dir.rglob("*") if p.is_file() and p.suffix.lower() in EXTS)
    t1 = time.perf_counter()
    faces = 0
    for p in paths:
        img = cv2.imread(str(p))
        if img is None:
            continue
        h, w = img.shape[:2]
        if h > w:
            new_w, new_h = max(int(DET_SIZE * w / h), 1), DET_SIZE
        else:
            new_w, new_h = DET_SIZE, max(int(DET_SIZE * h / w), 1)
        scale = new_h / h
        detector.setInputSize((new_w, new_h))
        _, found = detector.detect(cv2.resize(img, (new_w, new_h)))
        listed = []
        for f in found if found is not None else []:
            f = f.copy()
            f[:14] /= scale
            feature = recognizer.feature(recognizer.alignCrop(img, f))
            faces += 1
            if out:
                x, y, bw, bh = (float(v) for v in f[:4])
                listed.append({"bbox": [x, y, x + bw, y + bh],
                               "embedding": [float(v) for v in feature.ravel()]})
        if out:
            out.write(json.dumps({"path": str(p.resolve()), "width": w, "height": h,
                                  "faces": listed}) + "\n")
    run_s = time.perf_counter() - t1
    print(json.dumps({"images": len(paths), "faces": faces, "load_s": load_s, "run_s": run_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
