//! duraflow against raw dagx 0.3.1 and duraflow-rs 1.0.1, timed by criterion.
//!
//! Each group is one DAG shape, size and mode, named `<shape>/<tasks>/<mode>`: shapes
//! `chain`, `fan-out`, `independent` and `diamond` (see [`shapes::Shape`]), 1,000 and
//! 100,000 no-op tasks, and mode `fresh` (every run on a new empty store) or `resumed`
//! (every record already stored by an earlier, untimed run, so nothing executes). Its
//! functions are the variants: `raw-dagx` (no durability, the baseline; it runs alike in
//! both modes, and is in every group so that each group's ratios come from one run),
//! `rs-memory` and `rs-file` (duraflow-rs's `MemoryStore` and `FileStore`), and duraflow's
//! `memory`, `redb` and `file` (`MemoryStore`, `RedbStore`, `FileStore`).
//!
//! The stores that write a file per record (`rs-file`, `file`) run at 1,000 tasks only: at
//! 100,000, one run creates 100,000 files and takes longer than all the other cases of its
//! group together.
//!
//! One timed run = a new `DagRunner`, every task added, the run, and reading one sink (see
//! [`shapes::Store::run`]); duraflow's runs use `DurableDag::run`, so every record is durable
//! when the clock stops. Making a store, filling it for resumed runs, checking the result,
//! dropping the store and writing back what it left dirty are all outside the timing. Each
//! variant runs on a tokio runtime of its own (2 workers), so the state one variant leaves
//! its worker threads in does not change another's wake-up times.
//!
//! * all groups: `cargo bench -p duraflow --bench compare`
//! * one group, or any id matching a regex: `cargo bench -p duraflow --bench compare --
//!   chain/1000/fresh`
//! * every case once, untimed (a smoke check): `cargo bench -p duraflow --bench compare --
//!   --test`
//! * the median ratio of each variant to raw dagx in its group: `scripts/bench-ratios`

mod shapes;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use shapes::{Shape, Store, Variant};
use std::time::Duration;
use tokio::runtime::Runtime;

/// DAG sizes, in tasks.
const SIZES: [usize; 2] = [1_000, 100_000];

/// The largest DAG the stores that write a file per record are timed on.
const FILE_PER_RECORD_MAX: usize = 1_000;

/// Samples and times per group, so that all groups together run in 10–12 minutes on two
/// cores: criterion's default of 100 samples would take over an hour. A run of 100,000 tasks
/// takes from a tenth of a second to over a second, so those groups take criterion's minimum
/// of 10 samples, each of the same number of runs (flat sampling) rather than of growing
/// batches to fit a line through.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, tasks: usize) {
    group.warm_up_time(Duration::from_secs(1));
    if tasks <= FILE_PER_RECORD_MAX {
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(3));
    } else {
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .measurement_time(Duration::from_secs(6));
    }
}

/// One benchmark function: a variant on one shape, size and mode.
struct Case<'k> {
    shape: Shape,
    variant: Variant,
    /// Runs on a store filled beforehand (never for raw dagx, which has none).
    resumed: bool,
    keys: &'k [String],
}

impl Case<'_> {
    /// The variant's runtime, and for resumed runs the store they share, filled by one
    /// fresh run.
    fn prepare(&self) -> (Runtime, Option<Store>) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let filled = self.resumed.then(|| {
            let store = self.variant.new_store();
            rt.block_on(store.run(self.shape, self.keys, false));
            store
        });
        self.settle();
        (rt, filled)
    }

    /// One timed run, on `filled` or else on a new store.
    fn once(&self, rt: &Runtime, filled: Option<&Store>) -> Duration {
        let fresh = filled.is_none().then(|| self.variant.new_store());
        let store = filled.or(fresh.as_ref()).expect("a store");
        let elapsed = rt.block_on(store.run(self.shape, self.keys, self.resumed));
        drop(fresh); // and its directory
        self.settle();
        elapsed
    }

    /// Writes back the dirty pages a store on disk left, so that one store's unsynced
    /// writes (and the removal of its directory) are not paid by the next one's `fsync`.
    fn settle(&self) {
        if self.variant.on_disk() {
            // SAFETY: sync(2) takes no arguments and cannot fail.
            unsafe { libc::sync() };
        }
    }
}

fn compare(c: &mut Criterion) {
    for tasks in SIZES {
        let keys: Vec<String> = (0..tasks).map(|i| format!("t{i}")).collect();
        for shape in Shape::ALL {
            for (mode, resumed) in [("fresh", false), ("resumed", true)] {
                let mut group = c.benchmark_group(format!("{}/{tasks}/{mode}", shape.name()));
                configure(&mut group, tasks);
                for variant in Variant::ALL {
                    if variant.file_per_record() && tasks > FILE_PER_RECORD_MAX {
                        continue;
                    }
                    let case = Case {
                        shape,
                        variant,
                        resumed: resumed && variant != Variant::Raw,
                        keys: &keys,
                    };
                    // Made on first use: a function that the filter leaves out makes nothing.
                    let mut state = None;
                    group.bench_function(variant.name(), |b| {
                        let (rt, filled) = state.get_or_insert_with(|| case.prepare());
                        b.iter_custom(|iters| {
                            (0..iters).map(|_| case.once(rt, filled.as_ref())).sum()
                        });
                    });
                    drop(state);
                    case.settle();
                }
                group.finish();
            }
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = compare
}
criterion_main!(benches);
