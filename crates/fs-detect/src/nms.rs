//! Greedy non-maximum suppression as InsightFace's `RetinaFace.nms` does it.

/// Returns the indices of the boxes to keep, best first.
///
/// Boxes are `[x1, y1, x2, y2]`. Areas and overlaps use InsightFace's "+1" pixel
/// convention (`(x2 - x1 + 1) * (y2 - y1 + 1)`), so results match its detector. A box is
/// dropped when its IoU with a kept, higher-scoring box exceeds `iou_threshold`. Equal
/// scores keep the earlier box first, so the result is deterministic.
pub fn nms(boxes: &[[f32; 4]], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "one score per box");
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (rank, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let a = &boxes[i];
        for &j in &order[rank + 1..] {
            if suppressed[j] {
                continue;
            }
            if iou(a, &boxes[j]) > iou_threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes, with the "+1" pixel
/// convention of [`nms`].
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |b: &[f32; 4]| (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
    let w = (a[2].min(b[2]) - a[0].max(b[0]) + 1.0).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1]) + 1.0).max(0.0);
    let inter = w * h;
    inter / (area(a) + area(b) - inter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overlapping_lower_score_is_dropped() {
        let boxes = [
            [0.0, 0.0, 99.0, 99.0],
            [5.0, 5.0, 104.0, 104.0],
            [200.0, 0.0, 299.0, 99.0],
        ];
        let scores = [0.8, 0.9, 0.7];
        assert_eq!(nms(&boxes, &scores, 0.4), vec![1, 2]);
    }

    #[test]
    fn threshold_is_exclusive_with_plus_one_areas() {
        // Two 10x10 (in +1 convention) boxes overlapping by 5 columns: IoU = 50 / 150.
        let boxes = [[0.0, 0.0, 9.0, 9.0], [5.0, 0.0, 14.0, 9.0]];
        let scores = [0.9, 0.8];
        assert_eq!(nms(&boxes, &scores, 1.0 / 3.0), vec![0, 1]);
        assert_eq!(nms(&boxes, &scores, 0.33), vec![0]);
    }

    #[test]
    fn ties_keep_the_earlier_box() {
        let boxes = [[0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 9.0, 9.0]];
        assert_eq!(nms(&boxes, &[0.5, 0.5], 0.4), vec![0]);
    }

    proptest! {
        #[test]
        fn kept_boxes_never_overlap_beyond_threshold(
            raw in prop::collection::vec((0f32..500.0, 0f32..500.0, 1f32..200.0, 1f32..200.0, 0f32..1.0), 0..40),
            thr in 0.1f32..0.9,
        ) {
            let boxes: Vec<[f32; 4]> = raw.iter().map(|&(x, y, w, h, _)| [x, y, x + w, y + h]).collect();
            let scores: Vec<f32> = raw.iter().map(|r| r.4).collect();
            let keep = nms(&boxes, &scores, thr);
            let area = |b: &[f32; 4]| (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
            for (n, &i) in keep.iter().enumerate() {
                for &j in &keep[n + 1..] {
                    let (a, b) = (&boxes[i], &boxes[j]);
                    let w = (a[2].min(b[2]) - a[0].max(b[0]) + 1.0).max(0.0);
                    let h = (a[3].min(b[3]) - a[1].max(b[1]) + 1.0).max(0.0);
                    let iou = w * h / (area(a) + area(b) - w * h);
                    prop_assert!(iou <= thr + 1e-6);
                    prop_assert!(scores[i] >= scores[j]);
                }
            }
            // Every dropped box overlaps some kept, better box.
            for i in 0..boxes.len() {
                if !keep.contains(&i) {
                    let covered = keep.iter().any(|&k| {
                        let (a, b) = (&boxes[k], &boxes[i]);
                        let w = (a[2].min(b[2]) - a[0].max(b[0]) + 1.0).max(0.0);
                        let h = (a[3].min(b[3]) - a[1].max(b[1]) + 1.0).max(0.0);
                        w * h / (area(a) + area(b) - w * h) > thr
                    });
                    prop_assert!(covered, "box {} dropped without a kept neighbour", i);
                }
            }
        }
    }
}
