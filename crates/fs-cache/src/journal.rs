//! The on-disk framing: a 16-byte header, then entries framed as
//! `[u32 length][u32 CRC-32 of payload][MessagePack payload]`, little-endian.
//!
//! A frame is only trusted when its length is sane, all its bytes are present, its CRC
//! matches and its payload decodes; the first frame that fails ends the valid journal.
//! That is what makes a torn write at the end (a crash mid-append) harmless.

use std::io::{self, Read, Write};

use crate::record::Entry;

/// Magic bytes at the start of every cache file.
pub const MAGIC: [u8; 8] = *b"FSETSCAC";
/// The format version this build writes. Version 2 added the model record; a version-1
/// cache is read as one whose model is unknown, and becomes version 2 when a writer
/// records its model (so an older build refuses it instead of cutting the new record).
/// Version 3 added the run log ([`crate::RunRecord`]); older caches are upgraded the
/// same way when a run is recorded.
pub const VERSION: u16 = 3;
/// The oldest format version this build reads.
pub const OLDEST_READABLE: u16 = 1;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 16;
/// Frames larger than this are treated as corruption (a face-heavy image is ~100 KiB).
const MAX_FRAME: u32 = 64 << 20;

/// The header bytes of a cache of [`VERSION`].
pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// What a header says.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderCheck {
    /// Magic and a version this build reads.
    Ok(u16),
    /// Not a cache file.
    BadMagic,
    /// A cache, but of another version.
    Version(u16),
}

/// Checks a header.
pub fn check_header(h: &[u8; HEADER_LEN]) -> HeaderCheck {
    if h[..8] != MAGIC {
        return HeaderCheck::BadMagic;
    }
    match u16::from_le_bytes([h[8], h[9]]) {
        v @ OLDEST_READABLE..=VERSION => HeaderCheck::Ok(v),
        other => HeaderCheck::Version(other),
    }
}

/// Appends the frame of one entry to `out`.
pub fn encode_entry(entry: &Entry, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error> {
    let payload = rmp_serde::to_vec_named(entry)?;
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Why reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// The journal ended exactly after a whole frame.
    Clean,
    /// Bytes after the last valid frame could not be read as a frame; they start at
    /// the returned valid length.
    Damaged(String),
}

/// Reads frames until the end or the first bad frame, calling `on_entry` for each.
/// Returns how many bytes (after the header) were valid, and why reading stopped.
pub fn read_entries(
    mut reader: impl Read,
    mut on_entry: impl FnMut(Entry),
) -> io::Result<(u64, Tail)> {
    let mut valid = 0u64;
    let mut payload = Vec::new();
    loop {
        let mut frame_header = [0u8; 8];
        match read_full(&mut reader, &mut frame_header)? {
            0 => return Ok((valid, Tail::Clean)),
            8 => {}
            n => {
                return Ok((
                    valid,
                    Tail::Damaged(format!("{n}-byte partial frame header")),
                ));
            }
        }
        let len = u32::from_le_bytes(frame_header[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(frame_header[4..].try_into().expect("4 bytes"));
        if len > MAX_FRAME {
            return Ok((
                valid,
                Tail::Damaged(format!("frame length {len} is implausible")),
            ));
        }
        payload.resize(len as usize, 0);
        let got = read_full(&mut reader, &mut payload)?;
        if got < payload.len() {
            return Ok((
                valid,
                Tail::Damaged(format!("frame cut short at {got} of {len} bytes")),
            ));
        }
        if crc32fast::hash(&payload) != crc {
            return Ok((valid, Tail::Damaged("frame checksum mismatch".into())));
        }
        match rmp_serde::from_slice::<Entry>(&payload) {
            Ok(entry) => on_entry(entry),
            Err(e) => return Ok((valid, Tail::Damaged(format!("undecodable entry: {e}")))),
        }
        valid += 8 + u64::from(len);
    }
}

/// Like `read_exact`, but returns how many bytes it got before the end.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes `bytes` and makes them durable.
pub(crate) fn append_durably(file: &mut std::fs::File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_data()
}

#[cfg(test)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;
    use crate::record::{ContentHash, UnreadableRecord};

    fn entry(i: u8) -> Entry {
        Entry::Unreadable(UnreadableRecord {
            path: format!("/photos/{i}.jpg").into(),
            error: "denied".into(),
        })
    }

    fn frames(n: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            encode_entry(&entry(i), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn round_trip() {
        let bytes = frames(3);
        let mut got = Vec::new();
        let (valid, tail) = read_entries(&bytes[..], |e| got.push(e)).unwrap();
        assert_eq!(tail, Tail::Clean);
        assert_eq!(valid, bytes.len() as u64);
        assert_eq!(got, (0..3).map(entry).collect::<Vec<_>>());
    }

    #[test]
    fn every_truncation_keeps_the_whole_frames_before_it() {
        let bytes = frames(3);
        let one = frames(1).len();
        for cut in 0..bytes.len() {
            let mut got = 0usize;
            let (valid, tail) = read_entries(&bytes[..cut], |_| got += 1).unwrap();
            assert_eq!(got, cut / one, "cut at {cut}");
            assert_eq!(valid as usize, got * one);
            assert_eq!(tail == Tail::Clean, cut % one == 0);
        }
    }

    #[test]
    fn flipped_byte_stops_at_that_frame() {
        let mut bytes = frames(3);
        let one = frames(1).len();
        bytes[one + 12] ^= 0x40;
        let mut got = 0;
        let (valid, tail) = read_entries(&bytes[..], |_| got += 1).unwrap();
        assert_eq!(got, 1);
        assert_eq!(valid as usize, one);
        assert!(matches!(tail, Tail::Damaged(_)));
    }

    #[test]
    fn header_checks() {
        assert_eq!(check_header(&header()), HeaderCheck::Ok(VERSION));
        let mut h = header();
        h[8] = 9;
        assert_eq!(check_header(&h), HeaderCheck::Version(9));
        h[0] = b'x';
        assert_eq!(check_header(&h), HeaderCheck::BadMagic);
        // Hash type is used by other modules; keep its size fixed with the format.
        assert_eq!(std::mem::size_of::<ContentHash>(), 32);
    }
}
