//! A crop made from a photo decoded only as finely as the crop needs looks like the one
//! made from the full-size photo, and the decode really is smaller.

use fs_detect::crop::{crop_decode_side, crop_single_face};
use fs_detect::decode::{decode_photo, decode_photo_scaled};
use fs_fixtures::Framing;

fn camera_jpeg() -> Vec<u8> {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/images/f0009.jpg"
    );
    let source = image::open(fixture)
        .unwrap_or_else(|e| panic!("{fixture}: {e}"))
        .to_rgb8();
    fs_fixtures::jpeg(&fs_fixtures::camera_photo(&source, Framing::Fill, 7))
}

fn mean_difference(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    #[expect(clippy::cast_precision_loss, reason = "a few million samples")]
    let mean = total as f64 / a.as_raw().len() as f64;
    mean
}

#[test]
fn a_large_face_is_cropped_from_a_scaled_decode_as_from_the_full_photo() {
    let bytes = camera_jpeg();
    let full = decode_photo(None, &bytes).unwrap();
    let size = full.dimensions();
    // A face of about 1,400 px in a 12-MP portrait, and a neighbour to keep out.
    let half = |v: u32| f32::from(u16::try_from(v / 2).expect("a camera's side"));
    let (cx, cy) = (half(size.0), half(size.1));
    let bbox = [cx - 600.0, cy - 700.0, cx + 600.0, cy + 700.0];
    let others = [[20.0, 20.0, 400.0, 500.0]];
    let side = crop_decode_side(size, bbox, 512);
    assert!(side < size.0.max(size.1) / 2, "{side}");

    let scaled = decode_photo_scaled(None, &bytes, side).unwrap();
    assert!(
        scaled.image.width() <= size.0 / 2,
        "decoded at {}×{}",
        scaled.image.width(),
        scaled.image.height()
    );
    assert_eq!((scaled.full_width, scaled.full_height), size);
    let from_scaled = crop_single_face(
        &scaled.image,
        scaled.map_box(bbox),
        &others.map(|o| scaled.map_box(o)),
        0.5,
        512,
    );
    let from_full = crop_single_face(&full, bbox, &others, 0.5, 512);
    let difference = mean_difference(&from_scaled, &from_full);
    // The bound the README states.
    assert!(difference < 0.25, "mean difference {difference:.3} of 255");
}

#[test]
fn a_small_face_or_an_unknown_size_decodes_the_whole_photo() {
    let small = [100.0, 100.0, 180.0, 190.0];
    assert_eq!(crop_decode_side((4032, 3024), small, 512), 4032);
    assert_eq!(crop_decode_side((0, 0), small, 512), u32::MAX);
    // A face of 1,000 px: a crop of 512 needs a 1,200-px region at least, so 1,721 px
    // of the photo's 4,032 (well under half: a 1/2 decode serves it).
    let large = [0.0, 0.0, 1000.0, 900.0];
    assert_eq!(crop_decode_side((4032, 3024), large, 512), 1721);
}
