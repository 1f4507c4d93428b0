//! Figures per container: each local container gets a slot in the kernel's
//! `CONTAINER_HISTS` (one histogram per stage and class) and its inner
//! addresses go into `CONTAINER_IPS`, so the classifier tells a journey's
//! container from its flow at the first hit and every stage of the
//! journey counts for it, those before its veth included.
//!
//! The histograms are two arrays shared by all CPUs, counts and sums in
//! one and buckets in the other (see
//! [`prism_probes_common::CONTAINER_SLOTS`] and `ContainerSums`), mapped
//! into this process: a reading copies memory instead of making a syscall
//! per entry.

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use anyhow::{Result, bail};
use prism_probes_common::{
    CLASSES, CONTAINER_SLOTS, ContainerKey, ContainerSums, hist::BUCKETS, points::MAX_STAGES,
};

use crate::{histogram::Histogram, snapshot::Class, stages::Stage};

/// Histograms per slot.
const PER_SLOT: usize = MAX_STAGES as usize * CLASSES;

/// A local container as the model names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    pub inode: u32,
    pub name: String,
    /// Kubernetes: its pod and the pod's namespace.
    pub pod: Option<(String, String)>,
    /// Its addresses in the namespaces where its journeys start: its own
    /// (transmit) and its overlay's underlay's (receive).
    pub ips: Vec<(u32, Ipv4Addr)>,
}

/// Which container has which slot. Slots are not given again while free
/// ones remain (a reading that spans a container's exit and another's
/// arrival then never mixes the two); a slot given again is zeroed first.
#[derive(Debug, Default)]
pub struct Slots {
    held: BTreeMap<u32, (u8, Watched)>,
    /// Slots whose container left, oldest first.
    freed: Vec<u8>,
    next: u8,
    /// Containers beyond the last slot: timed in the host's figures only.
    pub overflow: usize,
}

/// What changed in one assignment, for the kernel's address map.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub removed: Vec<(u32, Ipv4Addr)>,
    /// (address, slot).
    pub added: Vec<((u32, Ipv4Addr), u8)>,
    /// Slots handed to a new container that must be zeroed first.
    pub reused: Vec<u8>,
}

impl Slots {
    /// Takes the containers now present; returns what to change.
    pub fn assign(&mut self, now: &[Watched]) -> Changes {
        let mut changes = Changes::default();
        let gone: Vec<u32> = self
            .held
            .keys()
            .filter(|inode| !now.iter().any(|w| w.inode == **inode))
            .copied()
            .collect();
        for inode in gone {
            let (slot, w) = self.held.remove(&inode).expect("held");
            changes.removed.extend(&w.ips);
            self.freed.push(slot);
        }
        self.overflow = 0;
        for w in now {
            if let Some((slot, old)) = self.held.get_mut(&w.inode) {
                // Same container: its addresses or name may have changed.
                changes
                    .removed
                    .extend(old.ips.iter().filter(|ip| !w.ips.contains(ip)));
                let slot = *slot;
                changes.added.extend(
                    w.ips
                        .iter()
                        .filter(|ip| !old.ips.contains(ip))
                        .map(|ip| (*ip, slot)),
                );
                *old = w.clone();
                continue;
            }
            let slot = if u32::from(self.next) + 1 < CONTAINER_SLOTS {
                self.next += 1;
                self.next
            } else if !self.freed.is_empty() {
                let slot = self.freed.remove(0);
                changes.reused.push(slot);
                slot
            } else {
                self.overflow += 1;
                continue;
            };
            changes.added.extend(w.ips.iter().map(|ip| (*ip, slot)));
            self.held.insert(w.inode, (slot, w.clone()));
        }
        changes
    }

    /// The containers with a slot, by namespace inode.
    pub fn held(&self) -> impl Iterator<Item = (u32, u8, &Watched)> {
        self.held
            .iter()
            .map(|(inode, (slot, w))| (*inode, *slot, w))
    }
}

/// One mmapable array map of `len` entries of `T`, mapped into this process.
struct Mapped<T> {
    base: *mut T,
    len: usize,
    bytes: usize,
}

impl<T> Mapped<T> {
    fn map(fd: BorrowedFd, len: usize) -> Result<Self> {
        let page = 4096;
        let bytes = (len * std::mem::size_of::<T>()).div_ceil(page) * page;
        // SAFETY: a shared mapping of a BPF array map; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error();
            bail!("map the per-container histograms into memory: {e}");
        }
        Ok(Self {
            base: base.cast(),
            len,
            bytes,
        })
    }

    fn at(&self, i: usize) -> Option<*mut T> {
        (i < self.len).then(|| unsafe { self.base.add(i) })
    }

    /// A racy copy of entry `i` (plain integers the kernel updates).
    fn get(&self, i: usize) -> Option<T> {
        self.at(i).map(|p| unsafe { std::ptr::read_volatile(p) })
    }

    fn set(&self, i: usize, v: T) {
        if let Some(p) = self.at(i) {
            unsafe { std::ptr::write_volatile(p, v) }
        }
    }
}

impl<T> Drop for Mapped<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.bytes) };
    }
}

/// `CONTAINER_SUMS` and `CONTAINER_BUCKETS` mapped into this process.
pub struct SharedHists {
    sums: Mapped<ContainerSums>,
    buckets: Mapped<u64>,
}

// Plain memory owned by this value; the kernel writes it concurrently,
// which readers accept as they do for per-CPU maps.
unsafe impl Send for SharedHists {}

impl SharedHists {
    /// Maps the two arrays (`BPF_F_MMAPABLE`), `len` histograms.
    pub fn map(sums: impl AsFd, buckets: impl AsFd, len: usize) -> Result<Self> {
        Ok(Self {
            sums: Mapped::map(sums.as_fd(), len)?,
            buckets: Mapped::map(buckets.as_fd(), len * BUCKETS)?,
        })
    }

    fn histogram(&self, i: usize) -> Histogram {
        let Some(s) = self.sums.get(i) else {
            return Histogram::default();
        };
        let buckets = (0..BUCKETS)
            .map(|b| self.buckets.get(i * BUCKETS + b).unwrap_or(0))
            .collect();
        Histogram {
            count: s.count,
            sum_ns: s.sum_ns,
            max_ns: s.max_ns,
            buckets,
        }
    }

    /// One slot's histograms of the stages in `Stage::ALL` and of whole
    /// receive journeys (empty ones left out).
    pub fn read(&self, slot: u8) -> (BTreeMap<(Stage, Class), Histogram>, [Histogram; 2]) {
        let at = |stage: u8, class: Class| {
            slot as usize * PER_SLOT + stage as usize * CLASSES + class.id() as usize
        };
        let mut stages = BTreeMap::new();
        for stage in Stage::ALL {
            for class in Class::ALL {
                let i = at(stage.id(), class);
                // The count first: most stages of most containers are empty.
                if self.sums.get(i).is_some_and(|s| s.count > 0) {
                    stages.insert((stage, class), self.histogram(i));
                }
            }
        }
        let total = prism_probes_common::points::RECEIVE_TOTAL;
        (
            stages,
            [
                self.histogram(at(total, Class::Low)),
                self.histogram(at(total, Class::High)),
            ],
        )
    }

    /// Zeroes a slot before another container takes it.
    pub fn zero(&self, slot: u8) -> Result<()> {
        let first = slot as usize * PER_SLOT;
        if first + PER_SLOT > self.sums.len {
            bail!("container slot {slot} is past the array");
        }
        for i in first..first + PER_SLOT {
            self.sums.set(i, ContainerSums::default());
            for b in 0..BUCKETS {
                self.buckets.set(i * BUCKETS + b, 0);
            }
        }
        Ok(())
    }
}

/// The classifier's key for an IPv4 address in a namespace.
pub fn key_of((netns_inum, ip): (u32, Ipv4Addr)) -> ContainerKey {
    ContainerKey {
        netns_inum,
        _pad: 0,
        addr: [u32::from_ne_bytes(ip.octets()) as u64, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(inode: u32, name: &str, ip: u8) -> Watched {
        Watched {
            inode,
            name: name.into(),
            pod: None,
            ips: vec![(7, Ipv4Addr::new(10, 0, 0, ip))],
        }
    }

    #[test]
    fn slots_are_kept_freed_and_given_again_only_when_none_is_new() {
        let mut s = Slots::default();
        let a = |n| (7, Ipv4Addr::new(10, 0, 0, n));
        let c = s.assign(&[w(1, "a", 1), w(2, "b", 2)]);
        assert_eq!(c.added, [(a(1), 1), (a(2), 2)]);
        // b leaves, c arrives: c gets a new slot, b's is kept free.
        let c = s.assign(&[w(1, "a", 1), w(3, "c", 3)]);
        assert_eq!(c.removed, [a(2)]);
        assert_eq!(c.added, [(a(3), 3)]);
        assert!(c.reused.is_empty());
        // An address change of a kept container.
        let c = s.assign(&[w(1, "a", 9), w(3, "c", 3)]);
        assert_eq!(c.removed, [a(1)]);
        assert_eq!(c.added, [(a(9), 1)]);
        let held: Vec<_> = s
            .held()
            .map(|(i, slot, w)| (i, slot, w.name.as_str()))
            .collect();
        assert_eq!(held, [(1, 1, "a"), (3, 3, "c")]);
    }

    #[test]
    fn past_the_last_slot_freed_slots_are_zeroed_and_the_rest_overflows() {
        let mut s = Slots::default();
        let many: Vec<Watched> = (1..=70).map(|i| w(i, "x", i as u8)).collect();
        s.assign(&many);
        assert_eq!(s.held().count(), CONTAINER_SLOTS as usize - 1);
        assert_eq!(s.overflow, 70 - (CONTAINER_SLOTS as usize - 1));
        // Two leave: two of the waiting ones get their slots, zeroed.
        let fewer: Vec<Watched> = many.iter().filter(|w| w.inode > 2).cloned().collect();
        let c = s.assign(&fewer);
        assert_eq!(c.reused, [1, 2]);
        assert_eq!(s.overflow, 70 - 2 - (CONTAINER_SLOTS as usize - 1));
    }
}
