//! Reading a trace back, record by record, in constant memory. A file cut
//! short reads up to its last complete record and says where it was cut.

use std::{
    fs::File,
    io::{BufReader, Read},
    path::Path,
};

use crate::{
    format::{self, FormatError, Kind, Next, RECORD_HEADER_LEN},
    schema::{self, EventRecord, Footer, Header, SnapshotRecord},
};

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("the trace is cut before its header ends: nothing to read")]
    CutHeader,
    #[error("the first record is a {0:?}, not the header: not a Prism trace")]
    NoHeader(Kind),
}

/// A record after the header.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Snapshot(SnapshotRecord),
    Events(Vec<EventRecord>),
    Footer(Footer),
}

/// Where a cut-off file ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The record the file ends inside of (the header is record 0); every
    /// record before it was read.
    pub at_record: usize,
    /// Its byte offset.
    pub offset: u64,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "truncated at record {} (byte {}): the data before it was read",
            self.at_record, self.offset
        )
    }
}

pub struct TraceReader<R: Read> {
    r: R,
    /// The file's format version: how its snapshots are laid out.
    version: u16,
    header: Header,
    /// Index of the next record.
    record: usize,
    offset: u64,
    truncated: Option<Truncation>,
    done: bool,
}

impl TraceReader<BufReader<File>> {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
        Self::new(BufReader::with_capacity(1 << 20, file))
            .with_context(|| format!("read {}", path.display()))
    }
}

impl<R: Read> TraceReader<R> {
    /// Checks the preamble and reads the header.
    pub fn new(mut r: R) -> Result<Self, TraceError> {
        let version = match format::read_preamble(&mut r) {
            Ok(v) => v,
            Err(FormatError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(TraceError::CutHeader);
            }
            Err(e) => return Err(e.into()),
        };
        let offset = format::PREAMBLE_LEN as u64;
        let raw = match format::read_record(&mut r, 0, offset)? {
            Next::Record(raw) => raw,
            Next::End | Next::Cut => return Err(TraceError::CutHeader),
        };
        if raw.kind != Kind::Header {
            return Err(TraceError::NoHeader(raw.kind));
        }
        let header = raw.decode().map_err(|why| FormatError::Damaged {
            record: 0,
            offset,
            why,
        })?;
        Ok(Self {
            r,
            version,
            header,
            record: 1,
            offset: offset + (RECORD_HEADER_LEN + raw.payload.len()) as u64,
            truncated: None,
            done: false,
        })
    }

    /// The format version the file was written in.
    pub fn version(&self) -> u16 {
        self.version
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next record; `None` at the end of the file (see
    /// [`Self::truncated`] for whether it ended early).
    pub fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        if self.done {
            return Ok(None);
        }
        let raw = match format::read_record(&mut self.r, self.record, self.offset)? {
            Next::Record(raw) => raw,
            Next::End => {
                self.done = true;
                return Ok(None);
            }
            Next::Cut => {
                self.done = true;
                self.truncated = Some(Truncation {
                    at_record: self.record,
                    offset: self.offset,
                });
                return Ok(None);
            }
        };
        let damaged = |why: String| FormatError::Damaged {
            record: self.record,
            offset: self.offset,
            why,
        };
        let record = match raw.kind {
            Kind::Snapshot if self.version == 1 => Record::Snapshot(
                raw.decode::<schema::v1::SnapshotRecord>()
                    .map_err(damaged)?
                    .into(),
            ),
            Kind::Snapshot => Record::Snapshot(raw.decode().map_err(damaged)?),
            Kind::Events => Record::Events(raw.decode().map_err(damaged)?),
            Kind::Footer => Record::Footer(raw.decode().map_err(damaged)?),
            Kind::Header => return Err(damaged("a second header".into()).into()),
        };
        self.record += 1;
        self.offset += (RECORD_HEADER_LEN + raw.payload.len()) as u64;
        Ok(Some(record))
    }

    /// Set once the reader met the end of a file cut inside a record.
    pub fn truncated(&self) -> Option<Truncation> {
        self.truncated
    }

    /// Records read so far, the header included.
    pub fn records_read(&self) -> usize {
        self.record
    }
}
