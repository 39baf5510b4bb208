//! What a power cut leaves of the unsynced changes of a [`Disk`]: the [`Loss`] policies, and
//! [`Disk::after_cut`], the disk a reboot finds.

use super::disk::{Apply, Change, Directory, Disk, Entry, Inode};
use std::collections::BTreeMap;

/// What a power cut leaves of the unsynced changes: one policy for the whole disk, its
/// choices drawn from a seeded generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loss {
    /// Nothing unsynced survives.
    All,
    /// Everything written survives (the cut came as the syncs were returning).
    Nothing,
    /// Each file keeps an in-order prefix of its writes, the last one torn; each directory
    /// a prefix of its changes.
    Torn,
    /// Each file keeps any subset of the sectors written to it; each directory a prefix.
    Reordered,
    /// Each file's unsynced writes all keep their length, but some are lost: what the file
    /// had there stays, and what it grew by reads as zeros. Each directory keeps a prefix.
    Zeroed,
}

impl Loss {
    /// Every policy, in the order the tests try them.
    pub(crate) const EVERY: [Loss; 5] = [
        Loss::All,
        Loss::Nothing,
        Loss::Torn,
        Loss::Reordered,
        Loss::Zeroed,
    ];
}

impl Disk {
    /// The disk a reboot finds after the cut, under `loss`, choices drawn from `seed`.
    pub(crate) fn after_cut(&self, loss: Loss, seed: u64) -> Disk {
        let state = self.state.lock();
        let mut rng = Rng(seed);
        let inodes = state
            .inodes
            .iter()
            .map(|inode| Inode::settled(inode.survivor(loss, &mut rng)))
            .collect();
        let mut dirs = BTreeMap::new();
        for (path, directory) in &state.dirs {
            let names = directory.survivor(loss, &mut rng);
            let reachable = match (path.parent(), path.file_name()) {
                (Some(parent), Some(name)) => dirs
                    .get(parent)
                    .and_then(|p: &Directory| p.durable.get(&*name.to_string_lossy()))
                    .is_some_and(|entry| *entry == Entry::Dir),
                _ => true,
            };
            // Parents sort before their children, so each parent is settled first.
            if reachable {
                dirs.insert(path.clone(), Directory::settled(names));
            }
        }
        Disk::holding(inodes, dirs)
    }
}

impl Inode {
    fn survivor(&self, loss: Loss, rng: &mut Rng) -> Vec<u8> {
        let mut data = self.durable.clone();
        match loss {
            Loss::All => {}
            Loss::Nothing => data.clone_from(&self.live),
            Loss::Torn => {
                let kept = rng.below(self.pending.len() + 1);
                self.pending[..kept].iter().for_each(|c| c.apply(&mut data));
                match self.pending.get(kept) {
                    Some(Change::Write { at, data: written }) => {
                        let torn = &written[..rng.below(written.len() + 1)];
                        Change::write(&mut data, *at, torn);
                    }
                    Some(set_len) if rng.below(2) == 0 => set_len.apply(&mut data),
                    _ => {}
                }
            }
            Loss::Reordered => {
                for change in &self.pending {
                    match change {
                        Change::Write { at, data: written } => {
                            let mut offset = 0;
                            while offset < written.len() {
                                // Up to the next 512-byte boundary of the file.
                                let end = (at + offset) / 512 * 512 + 512 - at;
                                let end = end.min(written.len());
                                if rng.below(2) == 0 {
                                    Change::write(&mut data, at + offset, &written[offset..end]);
                                }
                                offset = end;
                            }
                        }
                        set_len if rng.below(2) == 0 => set_len.apply(&mut data),
                        _ => {}
                    }
                }
            }
            Loss::Zeroed => {
                for change in &self.pending {
                    match change {
                        // The length grew; bytes the file had keep their old content.
                        Change::Write { at, data: written } if rng.below(2) == 0 => {
                            let end = at + written.len();
                            if data.len() < end {
                                data.resize(end, 0);
                            }
                        }
                        change => change.apply(&mut data),
                    }
                }
            }
        }
        data
    }
}

impl Directory {
    fn survivor(&self, loss: Loss, rng: &mut Rng) -> BTreeMap<String, Entry> {
        let kept = match loss {
            Loss::All => 0,
            Loss::Nothing => self.pending.len(),
            _ => rng.below(self.pending.len() + 1),
        };
        let mut names = self.durable.clone();
        self.pending[..kept]
            .iter()
            .for_each(|c| c.apply(&mut names));
        names
    }
}

/// SplitMix64: the seeded choices of a power cut.
pub(crate) struct Rng(pub(crate) u64);

/// SplitMix64's output for the state before `x`: a well-mixed function of `x`.
pub(crate) fn mix(x: u64) -> u64 {
    let mut x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        let next = mix(self.0);
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        next
    }

    /// A number below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        match n {
            0 => 0,
            n => (self.next() % n as u64) as usize,
        }
    }
}
