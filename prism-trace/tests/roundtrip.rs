//! Write -> read gives back what was written; a file cut at any byte reads
//! up to its last whole record and says where it was cut; files that are
//! not traces, or are too new, are refused with a reason.

mod fixtures;

use fixtures::{events, header, snapshot};
use prism_trace::{
    Footer, Header, Record, TraceError, TraceReader, TraceWriter,
    format::{MAGIC, VERSION},
};

/// A small trace, and the records after its header.
fn trace() -> (Vec<u8>, Vec<Record>) {
    let mut records = Vec::new();
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    for i in 0..4 {
        w.snapshot(&snapshot(i)).unwrap();
        records.push(Record::Snapshot(snapshot(i)));
        w.events(&events(i)).unwrap();
        records.push(Record::Events(events(i)));
    }
    let footer = Footer {
        end: "duration".into(),
        duration_ns: 4_000_000_000,
        events_lost: 7,
        ..Default::default()
    };
    let bytes = w.finish(footer).unwrap();
    let mut r = TraceReader::new(&bytes[..]).unwrap();
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::Footer(f) = &rec {
            records.push(Record::Footer(f.clone()));
        }
    }
    (bytes, records)
}

fn read_all(bytes: &[u8]) -> Result<(Header, Vec<Record>, Option<usize>), TraceError> {
    let mut r = TraceReader::new(bytes)?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push(rec);
    }
    Ok((r.header().clone(), out, r.truncated().map(|t| t.at_record)))
}

#[test]
fn write_then_read_gives_identical_data() {
    let (bytes, want) = trace();
    let (h, got, truncated) = read_all(&bytes).unwrap();
    assert_eq!(h, header());
    assert_eq!(got, want);
    assert_eq!(truncated, None);
    let Some(Record::Footer(f)) = got.last() else {
        panic!("a footer")
    };
    assert_eq!((f.snapshots, f.events, f.events_lost), (4, 200, 7));
}

#[test]
fn a_file_cut_at_any_byte_reads_up_to_its_last_whole_record() {
    let (bytes, all) = trace();
    for cut in 0..bytes.len() {
        match read_all(&bytes[..cut]) {
            Ok((h, got, truncated)) => {
                assert_eq!(h, header(), "cut at {cut}");
                assert_eq!(got[..], all[..got.len()], "cut at {cut}: a prefix");
                assert!(got.len() < all.len(), "cut at {cut}");
                // Either the cut fell between records (no footer then), or
                // the reader names the record it fell in.
                if let Some(at) = truncated {
                    assert_eq!(at, got.len() + 1, "cut at {cut}");
                }
            }
            Err(e) => {
                let text = e.to_string();
                assert!(
                    cut == 0 && text.contains("empty")
                        || text.contains("cut before its header ends"),
                    "cut at {cut}: {text}"
                );
            }
        }
    }
}

#[test]
fn not_a_trace_too_new_and_empty_are_clear_errors() {
    let err = |bytes: &[u8]| read_all(bytes).err().unwrap().to_string();
    assert_eq!(err(b""), "the file is empty: not a Prism trace");
    assert!(err(b"{\"not\": \"a trace\"}\n").contains("not a Prism trace"));
    assert!(err(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0]).contains("not a Prism trace"));
    let (mut bytes, _) = trace();
    bytes[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&(VERSION + 1).to_le_bytes());
    assert!(err(&bytes).contains(&format!("format version {}", VERSION + 1)));
    // A damaged byte inside a record is damage, not a cut.
    let (mut bytes, _) = trace();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    assert!(err(&bytes).contains("is damaged (checksum mismatch)"));
}
