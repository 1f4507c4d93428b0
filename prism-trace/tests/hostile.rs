//! Trace files from elsewhere: whatever their bytes, reading one ends (an
//! error or a summary, never a panic) in bounded memory, and forged lengths
//! or decompression bombs cost what the file holds, not what it claims.

mod fixtures;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering},
};

use fixtures::{events, header, snapshot};
use prism_trace::{
    Footer, Summary, TraceReader, TraceWriter,
    format::{Kind, MAGIC, MAX_DECODED_LEN, VERSION},
};
use proptest::{prelude::*, sample::Index};

/// Counts the bytes this test binary holds, and the most it held.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most memory `f` held above what was held before it ran. (The tests
/// of this binary that measure run one at a time: see [`MEASURE`].)
fn peak_during(f: impl FnOnce()) -> usize {
    let base = HELD.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

static MEASURE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A valid trace: the fixture's header, snapshots, events and a footer.
fn trace() -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    for i in 0..3 {
        w.snapshot(&snapshot(i)).unwrap();
        w.events(&events(i)).unwrap();
    }
    w.finish(Footer::default()).unwrap()
}

/// A trace whose header is followed by one record framed as given.
fn with_record(kind: u8, codec: u8, claimed_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    w.flush().unwrap();
    let mut bytes = w.finish(Footer::default()).unwrap();
    // Drop the footer the writer put after the header: find the header's
    // end from its own length field.
    let header_len = u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    bytes.truncate(10 + 10 + header_len);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind, codec]);
    crc.update(payload);
    bytes.extend(claimed_len.to_le_bytes());
    bytes.extend(crc.finalize().to_le_bytes());
    bytes.extend([kind, codec]);
    bytes.extend(payload);
    bytes
}

fn summarize(bytes: &[u8]) -> Result<Summary, String> {
    let reader = TraceReader::new(bytes).map_err(|e| e.to_string())?;
    Summary::read(reader).map_err(|e| e.to_string())
}

#[test]
fn a_record_claiming_64_mib_in_a_small_file_is_a_cut_that_costs_what_the_file_holds() {
    let _one = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let bytes = with_record(Kind::Snapshot as u8, 0x81, (64 << 20) - 1, &[0u8; 100]);
    let mut result = None;
    let peak = peak_during(|| result = Some(summarize(&bytes)));
    let s = result.unwrap().expect("a cut trace still summarizes");
    assert!(s.truncated.is_some(), "reported as cut");
    assert!(peak < 4 << 20, "reading it held {peak} bytes");

    // Past the largest record a trace may hold: damage, said so.
    let too_long = with_record(Kind::Snapshot as u8, 0x81, u32::MAX, &[0u8; 100]);
    let e = summarize(&too_long).unwrap_err();
    assert!(e.contains("damaged") && e.contains("length"), "{e}");
}

#[test]
fn a_decompression_bomb_is_refused_before_it_is_all_in_memory() {
    let _one = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    // Zeros, compressed: a few KB on disk, past the decoded limit in memory.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(MAX_DECODED_LEN >> 20) + 8 {
        std::io::Write::write_all(&mut enc, &zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    drop(zeros);
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let bytes = with_record(Kind::Snapshot as u8, 0x81, bomb.len() as u32, &bomb);
    let mut result = None;
    let peak = peak_during(|| result = Some(summarize(&bytes)));
    let e = result.unwrap().unwrap_err();
    assert!(e.contains("decompresses to more than"), "{e}");
    // The decoded limit, grown by doubling (old and new buffer at once at
    // the last step), plus the decoder's buffers: never the bomb's size.
    assert!(
        peak < (MAX_DECODED_LEN as usize) * 3 + (8 << 20),
        "reading it held {peak} bytes"
    );
}

/// Damage done to a valid trace.
#[derive(Clone, Debug)]
enum Damage {
    Flip(Index, u8),
    Overwrite(Index, Vec<u8>),
    Cut(Index),
    Splice(Index, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Damage::Flip(i, b)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Damage::Overwrite(i, v)),
        any::<Index>().prop_map(Damage::Cut),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(i, v)| Damage::Splice(i, v)),
    ]
}

fn apply(mut bytes: Vec<u8>, d: &Damage) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes; // cut to nothing by an earlier damage
    }
    match d {
        Damage::Flip(i, bit) => {
            let at = i.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        Damage::Overwrite(i, v) => {
            let at = i.index(bytes.len());
            let end = (at + v.len()).min(bytes.len());
            bytes[at..end].copy_from_slice(&v[..end - at]);
        }
        Damage::Cut(i) => bytes.truncate(i.index(bytes.len())),
        Damage::Splice(i, v) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, v.iter().copied());
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// Every damaged trace reads to a summary or an error; neither panics.
    #[test]
    fn damaged_traces_read_or_fail_cleanly(damages in prop::collection::vec(damage(), 1..4)) {
        let bytes = damages.iter().fold(trace(), apply);
        let _ = summarize(&bytes);
        // Record by record, too (what `report --format jsonl` does).
        if let Ok(mut r) = TraceReader::new(&bytes[..]) {
            while let Ok(Some(_)) = r.next_record() {}
        }
    }

    /// Arbitrary bytes behind the magic and version.
    #[test]
    fn arbitrary_bytes_after_the_preamble_fail_cleanly(tail in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(VERSION.to_le_bytes());
        bytes.extend(tail);
        let _ = summarize(&bytes);
    }
}
