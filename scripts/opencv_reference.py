#!/usr/bin/env python3
"""Write OpenCV's own YuNet detections and SFace embeddings for the fixtures.

The Rust parity test (crates/fs-embed/tests/parity_yunet_sface.rs) compares against the
JSON this writes, so it runs without Python. Regenerate after changing fixtures or models:

    python3 -m pip install opencv-python-headless==5.0.0.93
    python3 scripts/opencv_reference.py --models ~/.local/share/face-sets/models/yunet_sface \
        --out fixtures/reference/opencv_yunet_sface.json

Each photo is shrunk (or grown) to fit 640x640 keeping its aspect ratio, exactly as
face-sets shapes the detector's input, and given to cv2.FaceDetectorYN at that size
(score 0.9, NMS 0.3: OpenCV's defaults); boxes and keypoints are mapped back to the
photo's pixels. cv2.FaceRecognizerSF.alignCrop then cuts each face from the full photo
and .feature embeds it.
"""
import argparse
import hashlib
import json
import sys
from pathlib import Path

DET_SIZE = 640


def fit(width: int, height: int) -> tuple[int, int]:
    """The letterbox arithmetic of fs-detect (float64, truncation)."""
    im_ratio = height / width
    if im_ratio > 1.0:
        return max(int(DET_SIZE / im_ratio), 1), DET_SIZE
    return DET_SIZE, max(int(DET_SIZE * im_ratio), 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, type=Path, help="directory holding the yunet_sface .onnx files")
    ap.add_argument("--images", type=Path, default=Path(__file__).resolve().parent.parent / "fixtures" / "images")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()

    import cv2
    import numpy as np

    detector_file = next(args.models.glob("face_detection_yunet_*.onnx"))
    recognizer_file = next(args.models.glob("face_recognition_sface_*.onnx"))
    detector = cv2.FaceDetectorYN.create(str(detector_file), "", (DET_SIZE, DET_SIZE), 0.9, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(str(recognizer_file), "")

    images = []
    for path in sorted(args.images.iterdir()):
        img = cv2.imread(str(path))
        faces_out = []
        if img is not None:
            h, w = img.shape[:2]
            new_w, new_h = fit(w, h)
            scale = new_h / h
            resized = cv2.resize(img, (new_w, new_h))
            detector.setInputSize((new_w, new_h))
            _, faces = detector.detect(resized)
            for f in faces if faces is not None else []:
                f = f.copy()
                f[:14] /= scale
                feature = recognizer.feature(recognizer.alignCrop(img, f)).flatten()
                feature /= np.linalg.norm(feature)
                x, y, fw, fh = (float(v) for v in f[:4])
                faces_out.append({
                    "bbox": [round(x, 3), round(y, 3), round(x + fw, 3), round(y + fh, 3)],
                    "kps": [[round(float(f[4 + 2 * k]), 3), round(float(f[5 + 2 * k]), 3)] for k in range(5)],
                    "det_score": round(float(f[14]), 5),
                    "embedding": [round(float(v), 6) for v in feature],
                })
        images.append({
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "faces": faces_out,
        })
    doc = {
        "generator": "scripts/opencv_reference.py",
        "opencv": cv2.__version__,
        "models": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (detector_file, recognizer_file)},
        "det_size": DET_SIZE,
        "images": images,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}: {sum(len(i['faces']) for i in images)} faces in {len(images)} images", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
