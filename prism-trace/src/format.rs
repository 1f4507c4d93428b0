//! The file's framing: a magic and a version, then self-delimiting records.
//!
//! ```text
//! file    = magic "PRISMTRC" | version: u16 LE | record*
//! record  = length: u32 LE | crc32: u32 LE | kind: u8 | codec: u8 | payload[length]
//! ```
//!
//! The CRC (IEEE, as zlib's) covers kind, codec and payload. A record is
//! complete or it is not there: a reader stops at the first record the file
//! ends inside of, and reports how many came before. Codecs: JSON for the
//! header and footer (readable with `head -c` and any JSON tool), postcard
//! for the bulky records, each optionally zstd-compressed.

use std::io::{self, Read, Write};

use serde::{Serialize, de::DeserializeOwned};

/// What every Prism trace starts with.
pub const MAGIC: [u8; 8] = *b"PRISMTRC";
/// The format this build writes, and the newest it reads. Version 2 added
/// receive end-to-end and per-container histograms to snapshots, and
/// owners to devices; version 1 files still read.
pub const VERSION: u16 = 2;
/// Bytes before the first record.
pub const PREAMBLE_LEN: usize = MAGIC.len() + 2;
/// Bytes of a record before its payload.
pub const RECORD_HEADER_LEN: usize = 10;
/// A record larger than this is damage, not data (the largest Prism
/// writes, a batch of every event a full 16 MiB ring buffer holds, is a
/// few MiB).
pub const MAX_RECORD_LEN: u32 = 64 << 20;
/// A payload that decompresses to more than this is damage too: a small
/// file must not make a reader allocate gigabytes.
pub const MAX_DECODED_LEN: u64 = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Header = 1,
    Snapshot = 2,
    Events = 3,
    Footer = 4,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Self> {
        [Self::Header, Self::Snapshot, Self::Events, Self::Footer]
            .into_iter()
            .find(|k| *k as u8 == v)
    }
}

/// How a payload is encoded: the low bits name the serialization, the top
/// bit says whether it is zstd-compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codec(pub u8);

impl Codec {
    pub const JSON: Codec = Codec(0);
    pub const POSTCARD_ZSTD: Codec = Codec(1 | Self::ZSTD);
    const ZSTD: u8 = 0x80;

    fn compressed(self) -> bool {
        self.0 & Self::ZSTD != 0
    }

    fn serialization(self) -> u8 {
        self.0 & !Self::ZSTD
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("the file is empty: not a Prism trace")]
    Empty,
    #[error("not a Prism trace (it does not start with PRISMTRC)")]
    NotATrace,
    #[error(
        "this trace has format version {found}, newer than this prism reads ({VERSION}); read it with a newer prism"
    )]
    NewerVersion { found: u16 },
    #[error("record {record} at byte {offset} is damaged ({why})")]
    Damaged {
        record: usize,
        offset: u64,
        why: String,
    },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Writes the magic and version.
pub fn write_preamble(w: &mut impl Write) -> io::Result<()> {
    w.write_all(&MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())
}

/// Reads and checks the magic and version; returns the version.
pub fn read_preamble(r: &mut impl Read) -> Result<u16, FormatError> {
    let mut buf = [0u8; PREAMBLE_LEN];
    let n = read_full(r, &mut buf)?;
    if n == 0 {
        return Err(FormatError::Empty);
    }
    if buf[..n.min(MAGIC.len())] != MAGIC[..n.min(MAGIC.len())] {
        return Err(FormatError::NotATrace);
    }
    if n < PREAMBLE_LEN {
        // A trace cut inside its first ten bytes.
        return Err(FormatError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    let version = u16::from_le_bytes([buf[8], buf[9]]);
    if version > VERSION {
        return Err(FormatError::NewerVersion { found: version });
    }
    if version == 0 {
        return Err(FormatError::NotATrace);
    }
    Ok(version)
}

/// Encodes `value` with `codec` into a whole record, ready to write.
pub fn encode<T: Serialize>(kind: Kind, codec: Codec, value: &T) -> io::Result<Vec<u8>> {
    let raw = match codec.serialization() {
        0 => serde_json::to_vec(value).map_err(io::Error::other)?,
        _ => postcard::to_stdvec(value).map_err(io::Error::other)?,
    };
    let payload = if codec.compressed() {
        zstd::bulk::compress(&raw, 1)?
    } else {
        raw
    };
    let mut record = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
    record.extend((payload.len() as u32).to_le_bytes());
    record.extend(crc(kind as u8, codec.0, &payload).to_le_bytes());
    record.push(kind as u8);
    record.push(codec.0);
    record.extend(payload);
    Ok(record)
}

/// One record as read, not yet decoded.
pub struct RawRecord {
    pub kind: Kind,
    pub codec: Codec,
    pub payload: Vec<u8>,
}

/// How reading the next record ended.
pub enum Next {
    Record(RawRecord),
    /// The file ends cleanly between records.
    End,
    /// The file ends inside a record.
    Cut,
}

/// Reads the next record; `record` and `offset` only name it in errors.
pub fn read_record(r: &mut impl Read, record: usize, offset: u64) -> Result<Next, FormatError> {
    let mut head = [0u8; RECORD_HEADER_LEN];
    match read_full(r, &mut head)? {
        0 => return Ok(Next::End),
        n if n < RECORD_HEADER_LEN => return Ok(Next::Cut),
        _ => {}
    }
    let damaged = |why: String| FormatError::Damaged {
        record,
        offset,
        why,
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let sum = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_RECORD_LEN {
        return Err(damaged(format!("length {len}")));
    }
    // Grown as bytes arrive, not allocated at the length the record
    // claims: a cut or forged length costs what the file holds.
    let mut payload = Vec::new();
    if r.take(len as u64).read_to_end(&mut payload)? < len as usize {
        return Ok(Next::Cut);
    }
    if crc(head[8], head[9], &payload) != sum {
        return Err(damaged("checksum mismatch".into()));
    }
    let kind = Kind::from_u8(head[8]).ok_or_else(|| damaged(format!("kind {}", head[8])))?;
    Ok(Next::Record(RawRecord {
        kind,
        codec: Codec(head[9]),
        payload,
    }))
}

impl RawRecord {
    /// Decodes the payload into `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, String> {
        let raw;
        let bytes = if self.codec.compressed() {
            raw = decompress(&self.payload)?;
            &raw[..]
        } else {
            &self.payload[..]
        };
        match self.codec.serialization() {
            0 => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            1 => postcard::from_bytes(bytes).map_err(|e| e.to_string()),
            other => Err(format!("unknown codec {other}")),
        }
    }
}

/// zstd-decompresses `payload`, refusing to go past [`MAX_DECODED_LEN`].
fn decompress(payload: &[u8]) -> Result<Vec<u8>, String> {
    let decoder = zstd::stream::read::Decoder::new(payload).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    decoder
        .take(MAX_DECODED_LEN + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 > MAX_DECODED_LEN {
        return Err(format!(
            "it decompresses to more than {} MiB",
            MAX_DECODED_LEN >> 20
        ));
    }
    Ok(out)
}

fn crc(kind: u8, codec: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind, codec]);
    h.update(payload);
    h.finalize()
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_in_both_codecs() {
        let value = vec![(1u64, "a".to_string()), (u64::MAX, "b".into())];
        for codec in [Codec::JSON, Codec::POSTCARD_ZSTD] {
            let bytes = encode(Kind::Snapshot, codec, &value).unwrap();
            let Next::Record(r) = read_record(&mut &bytes[..], 0, 0).unwrap() else {
                panic!("a whole record");
            };
            assert_eq!(r.kind, Kind::Snapshot);
            assert_eq!(r.decode::<Vec<(u64, String)>>().unwrap(), value);
        }
    }

    #[test]
    fn a_flipped_bit_is_damage_and_a_short_record_is_a_cut() {
        let mut bytes = encode(Kind::Footer, Codec::JSON, &"end").unwrap();
        for cut in 1..bytes.len() {
            assert!(matches!(
                read_record(&mut &bytes[..cut], 0, 0).unwrap(),
                Next::Cut
            ));
        }
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let err = read_record(&mut &bytes[..], 3, 99).err().unwrap();
        assert_eq!(
            err.to_string(),
            "record 3 at byte 99 is damaged (checksum mismatch)"
        );
    }

    #[test]
    fn preambles_say_what_is_wrong() {
        let mut ok = Vec::new();
        write_preamble(&mut ok).unwrap();
        assert_eq!(read_preamble(&mut &ok[..]).unwrap(), VERSION);
        assert!(matches!(
            read_preamble(&mut &b""[..]),
            Err(FormatError::Empty)
        ));
        assert!(matches!(
            read_preamble(&mut &b"{\"json\": true}"[..]),
            Err(FormatError::NotATrace)
        ));
        let mut newer = MAGIC.to_vec();
        newer.extend((VERSION + 1).to_le_bytes());
        let err = read_preamble(&mut &newer[..]).err().unwrap();
        assert!(err.to_string().contains("newer than this prism reads"));
    }
}
