//! Prism's offline latency traces: what `prism record` writes and `prism
//! report` and `prism compare` read.
//!
//! A trace is a stream of self-delimiting, checksummed records behind a
//! magic and a format version: a JSON header that describes the recording
//! (host, kernel, probe mechanism, stage map, rules, datapath state, clock
//! base), then periodic histogram snapshots and batches of per-packet stage
//! events (compact binary, compressed), then a JSON footer. See
//! [`format`] for the framing and [`schema`] for the records.

pub mod compare;
pub mod export;
pub mod format;
pub mod plot;
pub mod reader;
pub mod schema;
pub mod summary;
pub mod writer;

pub use reader::{Record, TraceError, TraceReader, Truncation};
pub use schema::{EventRecord, Footer, Header, SnapshotRecord};
pub use summary::Summary;
pub use writer::TraceWriter;
