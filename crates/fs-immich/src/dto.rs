//! Request and response shapes of the Immich endpoints used, following the official
//! SDK's types (`@immich/sdk`, `build/fetch-client.d.ts`): `MetadataSearchDto`,
//! `SearchResponseDto`, `AssetResponseDto`, `AssetFaceResponseDto`,
//! `ServerPingResponse`, `ServerVersionResponseDto`. Only the fields this crate reads
//! are declared; unknown fields are ignored, so newer servers parse too.

use serde::{Deserialize, Serialize};

/// `POST /api/search/metadata` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataSearchDto {
    /// Page number (1-based) for page paging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Cursor for cursor paging (servers that return `nextCursor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Asset type filter (`IMAGE`, `VIDEO`); none for every type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    /// Include EXIF (for original sizes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_exif: Option<bool>,
}

/// `SearchResponseDto`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResponseDto {
    /// Matching assets.
    pub assets: SearchAssetResponseDto,
}

/// `SearchAssetResponseDto`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchAssetResponseDto {
    /// Assets in this page.
    pub count: u64,
    /// The assets.
    pub items: Vec<AssetResponseDto>,
    /// Next page token (page paging), `null` at the end.
    #[serde(default)]
    pub next_page: Option<String>,
    /// Next cursor (cursor paging), `null` or absent at the end.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// Total matches.
    #[serde(default)]
    pub total: u64,
}

/// `AssetResponseDto` (the fields read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetResponseDto {
    /// Asset id.
    pub id: String,
    /// Path of the original on the server.
    pub original_path: String,
    /// File name of the original.
    pub original_file_name: String,
    /// `IMAGE`, `VIDEO`, …
    #[serde(rename = "type")]
    pub asset_type: String,
    /// Owner.
    #[serde(default)]
    pub owner_id: String,
    /// Base64 SHA-1 of the original.
    #[serde(default)]
    pub checksum: String,
    /// Original width in pixels, when known.
    #[serde(default)]
    pub width: Option<u32>,
    /// Original height in pixels, when known.
    #[serde(default)]
    pub height: Option<u32>,
    /// EXIF, with `withExif`.
    #[serde(default)]
    pub exif_info: Option<ExifResponseDto>,
}

/// `ExifResponseDto` (sizes only).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExifResponseDto {
    /// Width from EXIF.
    #[serde(default)]
    pub exif_image_width: Option<u32>,
    /// Height from EXIF.
    #[serde(default)]
    pub exif_image_height: Option<u32>,
}

impl AssetResponseDto {
    /// The original's size: the asset's own fields, else EXIF's.
    pub fn original_size(&self) -> Option<(u32, u32)> {
        let exif = self.exif_info.as_ref();
        let w = self
            .width
            .or_else(|| exif.and_then(|e| e.exif_image_width))?;
        let h = self
            .height
            .or_else(|| exif.and_then(|e| e.exif_image_height))?;
        (w > 0 && h > 0).then_some((w, h))
    }
}

/// `AssetFaceResponseDto`: a box in the coordinates of `imageWidth` × `imageHeight`
/// (the preview Immich analysed), not of the original.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetFaceResponseDto {
    /// Face id.
    pub id: String,
    /// Box left.
    pub bounding_box_x1: f64,
    /// Box right.
    pub bounding_box_x2: f64,
    /// Box top.
    pub bounding_box_y1: f64,
    /// Box bottom.
    pub bounding_box_y2: f64,
    /// Width of the image the box refers to.
    pub image_width: f64,
    /// Height of the image the box refers to.
    pub image_height: f64,
    /// The person, if recognised.
    #[serde(default)]
    pub person: Option<PersonResponseDto>,
}

impl AssetFaceResponseDto {
    /// The box's shorter side in pixels of an original of `size`, with the box clipped
    /// to its image (a box reaching outside counts only the part inside).
    pub fn short_side_in(&self, size: (u32, u32)) -> f64 {
        if self.image_width <= 0.0 || self.image_height <= 0.0 {
            return 0.0;
        }
        let clip = |v: f64, max: f64| v.clamp(0.0, max);
        let (w, h) = (self.image_width, self.image_height);
        let bw = clip(self.bounding_box_x2, w) - clip(self.bounding_box_x1, w);
        let bh = clip(self.bounding_box_y2, h) - clip(self.bounding_box_y1, h);
        let (sx, sy) = (f64::from(size.0) / w, f64::from(size.1) / h);
        (bw * sx).min(bh * sy).max(0.0)
    }
}

/// `PersonResponseDto` (the fields read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonResponseDto {
    /// Person id.
    pub id: String,
    /// Name, possibly empty.
    #[serde(default)]
    pub name: String,
}

/// `ServerPingResponse`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerPingResponse {
    /// `pong`.
    pub res: String,
}

/// `ServerVersionResponseDto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersionResponseDto {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;

    // Samples written from the SDK's types (3.2.2), with fields this crate ignores.
    const SEARCH: &str = r#"{"albums":{"count":0,"facets":[],"items":[],"total":0},
      "assets":{"count":1,"facets":[],"total":1,"nextPage":"2","nextCursor":null,
        "items":[{"checksum":"q83vEjRWeJq83vEjRWeJq83vEjQ=","createdAt":"2020-01-01T00:00:00.000Z",
          "duration":null,"fileCreatedAt":"2020-01-01T00:00:00.000Z","fileModifiedAt":"2020-01-01T00:00:00.000Z",
          "hasMetadata":true,"height":3000,"id":"5b1c0f7e-0000-4000-8000-000000000001","isArchived":false,
          "isEdited":false,"isFavorite":false,"isOffline":false,"isTrashed":false,
          "localDateTime":"2020-01-01T00:00:00.000Z","originalFileName":"IMG_0001.jpg",
          "originalPath":"/usr/src/app/upload/library/admin/2020/IMG_0001.jpg","ownerId":"u1",
          "thumbhash":null,"type":"IMAGE","updatedAt":"2020-01-01T00:00:00.000Z","visibility":"timeline",
          "width":4000,"exifInfo":{"exifImageWidth":4000,"exifImageHeight":3000,"make":"Canon"}}]}}"#;
    const FACES: &str = r#"[{"boundingBoxX1":100,"boundingBoxX2":228,"boundingBoxY1":50,"boundingBoxY2":210,
      "id":"f1","imageHeight":1440,"imageWidth":1920,"person":{"birthDate":null,"id":"p1","isHidden":false,
      "name":"Alice","thumbnailPath":"/t.jpeg"},"sourceType":"machine-learning"},
      {"boundingBoxX1":5,"boundingBoxX2":20,"boundingBoxY1":5,"boundingBoxY2":20,"id":"f2",
      "imageHeight":1440,"imageWidth":1920,"person":null}]"#;

    #[test]
    fn sdk_shaped_samples_parse() {
        let search: SearchResponseDto = serde_json::from_str(SEARCH).unwrap();
        assert_eq!(search.assets.next_page.as_deref(), Some("2"));
        assert_eq!(search.assets.next_cursor, None);
        let asset = &search.assets.items[0];
        assert_eq!(asset.asset_type, "IMAGE");
        assert_eq!(asset.original_size(), Some((4000, 3000)));
        let faces: Vec<AssetFaceResponseDto> = serde_json::from_str(FACES).unwrap();
        assert_eq!(faces[0].person.as_ref().unwrap().name, "Alice");
        // 128 x 160 in a 1920-wide preview of a 4000-wide original: scale 2.083.
        assert!((faces[0].short_side_in((4000, 3000)) - 128.0 * 4000.0 / 1920.0).abs() < 1e-9);
        assert!(faces[1].person.is_none());
    }

    #[test]
    fn request_serialises_like_the_sdk() {
        let body = MetadataSearchDto {
            page: Some(2),
            size: Some(250),
            asset_type: Some("IMAGE".into()),
            with_exif: Some(true),
            cursor: None,
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"page": 2, "size": 250, "type": "IMAGE", "withExif": true})
        );
    }

    #[test]
    fn boxes_outside_the_image_are_clipped() {
        let face = AssetFaceResponseDto {
            id: "f".into(),
            bounding_box_x1: -500.0,
            bounding_box_x2: 50.0,
            bounding_box_y1: 0.0,
            bounding_box_y2: 5000.0,
            image_width: 100.0,
            image_height: 100.0,
            person: None,
        };
        assert_eq!(face.short_side_in((100, 100)), 50.0);
    }
}
