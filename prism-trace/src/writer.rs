//! Writing a trace as a stream: records go out as they are made, so memory
//! stays flat however long the recording.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

use crate::{
    format::{self, Codec, Kind},
    schema::{EventRecord, Footer, Header, SnapshotRecord},
};

pub struct TraceWriter<W: Write> {
    w: W,
    bytes: u64,
    snapshots: u64,
    events: u64,
}

impl TraceWriter<BufWriter<File>> {
    /// Creates (or replaces) the file at `path` and writes the header.
    pub fn create(path: &Path, header: &Header) -> io::Result<Self> {
        Self::new(
            BufWriter::with_capacity(1 << 20, File::create(path)?),
            header,
        )
    }
}

impl<W: Write> TraceWriter<W> {
    pub fn new(mut w: W, header: &Header) -> io::Result<Self> {
        format::write_preamble(&mut w)?;
        let mut writer = Self {
            w,
            bytes: format::PREAMBLE_LEN as u64,
            snapshots: 0,
            events: 0,
        };
        writer.record(Kind::Header, Codec::JSON, header)?;
        Ok(writer)
    }

    pub fn snapshot(&mut self, s: &SnapshotRecord) -> io::Result<()> {
        self.snapshots += 1;
        self.record(Kind::Snapshot, Codec::POSTCARD_ZSTD, s)
    }

    /// Writes one batch; an empty one writes nothing.
    pub fn events(&mut self, events: &[EventRecord]) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.events += events.len() as u64;
        self.record(Kind::Events, Codec::POSTCARD_ZSTD, &events)
    }

    /// Pushes buffered records to the file, so that a recorder killed now
    /// leaves them readable.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// Writes the footer (its counts filled in from what was written) and
    /// flushes; returns the sink.
    pub fn finish(mut self, mut footer: Footer) -> io::Result<W> {
        footer.snapshots = self.snapshots;
        footer.events = self.events;
        footer.bytes = self.bytes;
        self.record(Kind::Footer, Codec::JSON, &footer)?;
        self.w.flush()?;
        Ok(self.w)
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Snapshots written so far.
    pub fn snapshot_count(&self) -> u64 {
        self.snapshots
    }

    /// Events written so far.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    fn record<T: serde::Serialize>(&mut self, kind: Kind, codec: Codec, v: &T) -> io::Result<()> {
        let record = format::encode(kind, codec, v)?;
        self.w.write_all(&record)?;
        self.bytes += record.len() as u64;
        Ok(())
    }
}
