//! A decoded frame that borrows the received bytes instead of copying them.
//!
//! [`Frame`] owns one `Bytes` holding the whole frame as it arrived (a slice of the receive
//! buffer) plus the offsets of its four sections. Service path, method and metadata are views
//! into it; the payload is a `Bytes` sub-slice of it, or, for a gzip frame, the decompressed
//! copy (the only case where payload bytes are produced rather than borrowed).
//!
//! The payload's own `Bytes` is made only when it is asked for by reference
//! ([`Frame::payload`]): a frame whose payload is taken ([`Frame::into_payload`], an echo)
//! hands over its one `Bytes` trimmed to the payload, so the receive buffer's reference count
//! moves once per frame instead of twice.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::{Buf, Bytes};

use crate::error::{DecodeError, Section};
use crate::header::{Header, HEADER_LEN};
use crate::limits::Limits;

/// Where the four sections of a frame are (PROTOCOL.md §1.4), all validated: their lengths,
/// since each section follows the previous one's end behind a 4-byte length word. Kept
/// small (12 bytes instead of four ranges' 64) because a [`Frame`] moves by value several
/// times per request on a server's hot path, and a move of more than 128 bytes is a
/// `memcpy` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    service_path_len: u32,
    service_method_len: u32,
    metadata_len: u32,
}

impl Layout {
    /// Parses and validates the body of a complete frame (`frame.len() == 16 + L`).
    ///
    /// Stricter than rpcx-go (PROTOCOL.md §2.1, §13.2): inner lengths must add up to the
    /// total exactly and metadata records must be complete; stock Go peers always comply.
    pub(crate) fn parse(frame: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut cursor = Cursor {
            frame,
            offset: HEADER_LEN,
        };
        let layout = Self {
            service_path_len: cursor.section(Section::ServicePath)?,
            service_method_len: cursor.section(Section::ServiceMethod)?,
            metadata_len: cursor.section(Section::Metadata)?,
        };
        let declared = cursor.read_len(Section::Payload)?;
        let actual = frame.len().saturating_sub(cursor.offset);
        if declared as usize != actual {
            return Err(DecodeError::PayloadLenMismatch { declared, actual });
        }
        debug_assert_eq!(layout.payload_start(), cursor.offset);

        for (range, section) in [
            (layout.service_path(), Section::ServicePath),
            (layout.service_method(), Section::ServiceMethod),
        ] {
            let bytes = frame.get(range).unwrap_or_default();
            if !is_utf8(bytes) {
                return Err(DecodeError::InvalidUtf8 { section });
            }
        }
        let metadata = frame.get(layout.metadata()).unwrap_or_default();
        if !metadata.is_empty() {
            validate_metadata(metadata, limits.max_metadata_count)?;
        }
        Ok(layout)
    }

    /// The service path's bytes in the frame.
    pub(crate) fn service_path(&self) -> Range<usize> {
        section_after(HEADER_LEN, self.service_path_len)
    }

    /// The service method's bytes in the frame.
    pub(crate) fn service_method(&self) -> Range<usize> {
        section_after(self.service_path().end, self.service_method_len)
    }

    /// The metadata section's bytes in the frame.
    pub(crate) fn metadata(&self) -> Range<usize> {
        section_after(self.service_method().end, self.metadata_len)
    }

    /// Where the payload starts; it runs to the end of the frame.
    pub(crate) fn payload_start(&self) -> usize {
        self.metadata().end + 4
    }
}

/// The `len` bytes after the length word that follows `end`.
fn section_after(end: usize, len: u32) -> Range<usize> {
    let start = end + 4;
    start..start + len as usize
}

struct Cursor<'a> {
    frame: &'a [u8],
    offset: usize,
}

impl Cursor<'_> {
    fn read_len(&mut self, section: Section) -> Result<u32, DecodeError> {
        let word = self
            .frame
            .get(self.offset..self.offset + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .ok_or(DecodeError::SectionOverrun {
                section,
                offset: self.offset,
                len: 4,
                frame_len: self.frame.len(),
            })?;
        self.offset += 4;
        Ok(u32::from_be_bytes(word))
    }

    /// Reads a section's length word and steps over the section; returns its length.
    fn section(&mut self, section: Section) -> Result<u32, DecodeError> {
        let len = self.read_len(section)?;
        let start = self.offset;
        let end = start
            .checked_add(len as usize)
            .filter(|&end| end <= self.frame.len())
            .ok_or(DecodeError::SectionOverrun {
                section,
                offset: start,
                len,
                frame_len: self.frame.len(),
            })?;
        self.offset = end;
        Ok(len)
    }
}

/// Checks a metadata section record by record with rpcx-go's bounds (PROTOCOL.md §2.2): the
/// key must leave room for the value's length word, the value must end inside the section.
/// More than `max_count` records is an error, found after looking at `max_count + 1`.
fn validate_metadata(section: &[u8], max_count: usize) -> Result<(), DecodeError> {
    let mut records = MetadataRecords { section, offset: 0 };
    let mut count = 0usize;
    while let Some(record) = records.next_record() {
        count += 1;
        if count > max_count {
            return Err(DecodeError::TooManyMetadata { max: max_count });
        }
        let (key, value) = record?;
        if !is_utf8(key) || !is_utf8(value) {
            return Err(DecodeError::InvalidUtf8 {
                section: Section::Metadata,
            });
        }
    }
    Ok(())
}

/// Whether `bytes` is UTF-8. Names and metadata are nearly always ASCII, which a word-wide
/// scan confirms faster than the general validator (a call per string on the hot path).
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// One metadata record: key and value bytes.
type Record<'a> = (&'a [u8], &'a [u8]);

/// Walks `u32 keyLen, key, u32 valueLen, value` records.
struct MetadataRecords<'a> {
    section: &'a [u8],
    offset: usize,
}

impl<'a> MetadataRecords<'a> {
    fn next_record(&mut self) -> Option<Result<Record<'a>, DecodeError>> {
        if self.offset >= self.section.len() {
            return None;
        }
        let record_at = self.offset;
        let missing = DecodeError::MetadataKvMissing {
            offset: record_at,
            section_len: self.section.len(),
        };
        let key = self.take();
        let value = self.take();
        match (key, value) {
            (Some(key), Some(value)) => Some(Ok((key, value))),
            _ => {
                self.offset = self.section.len();
                Some(Err(missing))
            }
        }
    }

    fn take(&mut self) -> Option<&'a [u8]> {
        let word = self.section.get(self.offset..self.offset.checked_add(4)?)?;
        let len = u32::from_be_bytes(<[u8; 4]>::try_from(word).ok()?) as usize;
        let start = self.offset + 4;
        let bytes = self.section.get(start..start.checked_add(len)?)?;
        self.offset = start + len;
        Some(bytes)
    }
}

/// A view of a metadata section: a zero-allocation iterator over its records.
/// Keys may repeat on the wire; [`Metadata::get`] returns the last one, as Go's map does.
#[derive(Debug, Clone, Copy)]
pub struct Metadata<'a> {
    section: &'a [u8],
}

impl<'a> Metadata<'a> {
    /// An empty section: `n3 = 0` on the wire.
    pub const EMPTY: Metadata<'static> = Metadata { section: &[] };

    /// Wraps a metadata section validated by [`crate::decode`].
    pub(crate) fn new(section: &'a [u8]) -> Self {
        Self { section }
    }

    /// Whether the section holds no record.
    pub fn is_empty(&self) -> bool {
        self.section.is_empty()
    }

    /// The raw section bytes, as they arrived.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.section
    }

    /// The records, in wire order, as `(key, value)` pairs.
    pub fn iter(&self) -> MetadataIter<'a> {
        MetadataIter {
            records: MetadataRecords {
                section: self.section,
                offset: 0,
            },
        }
    }

    /// The value of the last record with this key.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        if self.is_empty() {
            return None;
        }
        self.iter()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// Copies the records into a map (last duplicate wins), for callers that want one.
    pub fn to_map(&self) -> HashMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

impl<'a> IntoIterator for Metadata<'a> {
    type Item = (&'a str, &'a str);
    type IntoIter = MetadataIter<'a>;
    fn into_iter(self) -> MetadataIter<'a> {
        self.iter()
    }
}

/// Iterator over `(key, value)` records of a validated metadata section.
#[derive(Debug, Clone)]
pub struct MetadataIter<'a> {
    records: MetadataRecords<'a>,
}

impl std::fmt::Debug for MetadataRecords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataRecords")
            .field("offset", &self.offset)
            .finish()
    }
}

impl Clone for MetadataRecords<'_> {
    fn clone(&self) -> Self {
        Self {
            section: self.section,
            offset: self.offset,
        }
    }
}

impl<'a> Iterator for MetadataIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        // The section was validated at decode time (structure and UTF-8), so the fallbacks
        // below are never taken; they keep a bug from turning into a panic.
        let (key, value) = self.records.next_record()?.ok()?;
        Some((
            std::str::from_utf8(key).ok()?,
            std::str::from_utf8(value).ok()?,
        ))
    }
}

/// A complete, validated rpcx frame (request, response, heartbeat or push).
#[derive(Clone)]
pub struct Frame {
    raw: Bytes,
    layout: Layout,
    /// The payload's own `Bytes`: the inflated payload of a gzip frame, or, once
    /// [`Frame::payload`] was called, a slice of `raw`. Empty while the payload is only
    /// `raw`'s tail.
    payload: OnceLock<Bytes>,
    /// The payload still holds gzip bytes ([`crate::decode_frame_compressed`]).
    compressed: bool,
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
            && self.layout == other.layout
            && self.compressed == other.compressed
            && self.payload_slice() == other.payload_slice()
    }
}

impl Eq for Frame {}

impl Frame {
    pub(crate) fn new(raw: Bytes, layout: Layout, compressed: bool) -> Self {
        Self {
            raw,
            layout,
            payload: OnceLock::new(),
            compressed,
        }
    }

    /// Whether [`Frame::payload`] still holds the gzip bytes of a frame decoded with
    /// [`crate::decode_frame_compressed`] (until [`Frame::inflate`]).
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Inflates the payload of a frame decoded with [`crate::decode_frame_compressed`], to
    /// at most `max_bytes` (reading stops at `max_bytes + 1`); a no-op for any other frame.
    pub fn inflate(&mut self, max_bytes: usize) -> Result<(), DecodeError> {
        if self.compressed {
            let inflated = crate::compress::gunzip(self.payload_slice(), max_bytes)?;
            self.payload = OnceLock::from(inflated);
            self.compressed = false;
        }
        Ok(())
    }

    /// The fixed part, read in place from the received bytes.
    pub fn header(&self) -> &Header {
        // `decode_frame` only builds a Frame from at least HEADER_LEN bytes, so the fallback
        // is unreachable; it exists to keep this accessor free of panics.
        Header::peek(&self.raw).unwrap_or(&FALLBACK_HEADER)
    }

    /// The sequence number from the header.
    pub fn seq(&self) -> u64 {
        self.header().seq()
    }

    /// The service name (`Arith` in `Arith.Mul`).
    pub fn service_path(&self) -> &str {
        self.str_at(self.layout.service_path())
    }

    /// The method name (`Mul` in `Arith.Mul`).
    pub fn service_method(&self) -> &str {
        self.str_at(self.layout.service_method())
    }

    /// The service name as it arrived, for lookups that compare bytes: no UTF-8 check
    /// (decoding did that once).
    pub fn service_path_bytes(&self) -> &[u8] {
        self.raw.get(self.layout.service_path()).unwrap_or_default()
    }

    /// The method name as it arrived (see [`Frame::service_path_bytes`]).
    pub fn service_method_bytes(&self) -> &[u8] {
        self.raw
            .get(self.layout.service_method())
            .unwrap_or_default()
    }

    /// The metadata section, read in place.
    pub fn metadata(&self) -> Metadata<'_> {
        Metadata::new(self.raw.get(self.layout.metadata()).unwrap_or_default())
    }

    /// The payload, decompressed if the frame was gzip'ed (unless it was decoded with
    /// [`crate::decode_frame_compressed`] and not inflated yet). Without compression this
    /// is a slice of the received buffer: no byte was copied.
    pub fn payload(&self) -> &Bytes {
        self.payload
            .get_or_init(|| self.raw.slice(self.layout.payload_start()..))
    }

    /// The payload, without copying it (and without a reference count taken on the
    /// received bytes: the frame's own `Bytes` is trimmed to the payload).
    pub fn into_payload(self) -> Bytes {
        match self.payload.into_inner() {
            Some(payload) => payload,
            None => {
                let mut raw = self.raw;
                raw.advance(self.layout.payload_start().min(raw.len()));
                raw
            }
        }
    }

    /// The payload as a new `Bytes` sharing the frame's (no copy) that the frame does not
    /// keep: for a decoder that needs it for a moment. Unlike [`Frame::payload`], nothing is
    /// stored in the frame, so nothing is synchronised.
    pub fn share_payload(&self) -> Bytes {
        match self.payload.get() {
            Some(payload) => payload.clone(),
            None => self.raw.slice(self.layout.payload_start()..),
        }
    }

    /// The payload's bytes, without making a `Bytes` for them.
    fn payload_slice(&self) -> &[u8] {
        match self.payload.get() {
            Some(payload) => payload,
            None => self
                .raw
                .get(self.layout.payload_start()..)
                .unwrap_or_default(),
        }
    }

    /// The payload bytes exactly as they were on the wire (still compressed for gzip).
    pub fn wire_payload(&self) -> Bytes {
        self.raw.slice(self.layout.payload_start()..)
    }

    /// The whole frame exactly as received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// Everything after the 16-byte fixed part, as received (shares the buffer).
    pub(crate) fn body(&self) -> Bytes {
        self.raw.slice(HEADER_LEN..)
    }

    fn str_at(&self, range: Range<usize>) -> &str {
        // Validated as UTF-8 in `Layout::parse`; the fallback is unreachable.
        self.raw
            .get(range)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

static FALLBACK_HEADER: Header = Header::request(0, crate::payload::SerializeType::None);

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header = self.header();
        f.debug_struct("Frame")
            .field("seq", &header.seq())
            .field("message_type", &header.message_type())
            .field("flags", &format_args!("{:#04x}", header.flags()))
            .field("serialize", &header.serialize_bits())
            .field("service_path", &self.service_path())
            .field("service_method", &self.service_method())
            .field("metadata", &self.metadata().iter().collect::<Vec<_>>())
            .field("payload_len", &self.payload_slice().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn metadata_last_duplicate_wins() {
        let mut section = record(b"k", b"1");
        section.extend(record(b"", b""));
        section.extend(record(b"k", b"2"));
        validate_metadata(&section, 3).unwrap();
        assert_eq!(
            validate_metadata(&section, 2),
            Err(DecodeError::TooManyMetadata { max: 2 })
        );
        let metadata = Metadata::new(&section);
        assert_eq!(metadata.iter().count(), 3);
        assert_eq!(metadata.get("k"), Some("2"));
        assert_eq!(metadata.get(""), Some(""));
        assert_eq!(metadata.to_map().len(), 2);
    }

    #[test]
    fn metadata_key_without_room_for_value_length_is_rejected() {
        let mut section = record(b"key", b"value");
        section.extend_from_slice(&[0, 0, 0, 1, b'x', 0, 0]);
        assert_eq!(
            validate_metadata(&section, usize::MAX),
            Err(DecodeError::MetadataKvMissing {
                offset: 16,
                section_len: 23
            })
        );
    }

    #[test]
    fn metadata_value_past_section_end_is_rejected() {
        let section = [0, 0, 0, 1, b'k', 0, 0, 0, 9, b'v'];
        assert!(matches!(
            validate_metadata(&section, usize::MAX),
            Err(DecodeError::MetadataKvMissing { .. })
        ));
    }
}
