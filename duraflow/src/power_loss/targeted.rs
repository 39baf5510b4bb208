//! Targeted power-loss cases: the simulated disk's own promises, a store that skips its
//! syncs (which the checks must catch), and one regression test per finding.

use super::disk::Disk;
use super::loss::Loss;
use super::sim::SimFs;
use super::stores::Kind;
use super::workload::{Acknowledged, Ran};
use super::{check, runtime, workload};
use crate::store::fs::FileSystem;
use crate::store::Found;
use crate::{Context, FileStore};
use std::io;
use std::path::Path;
use std::sync::Arc;

fn read(disk: &Arc<Disk>, dir: &str, name: &str) -> io::Result<Found> {
    SimFs(Arc::clone(disk))
        .open_dir(Path::new(dir))?
        .read(name, u64::MAX)
}

#[test]
fn the_disk_keeps_what_was_synced_and_may_lose_the_rest() {
    let disk = Arc::new(Disk::with_root(Path::new("/power")));
    let fs = SimFs(Arc::clone(&disk));
    fs.create_dir_all(Path::new("/power/d")).unwrap();
    let d = fs.open_dir(Path::new("/power/d")).unwrap();
    d.write_new("synced", b"data", true).unwrap();
    d.write_new("unsynced", b"data", false).unwrap();
    let lost = disk.after_cut(Loss::All, 1);
    let opened = SimFs(Arc::new(lost)).open_dir(Path::new("/power/d"));
    assert_eq!(
        opened.err().map(|e| e.kind()),
        Some(io::ErrorKind::NotFound)
    );

    fs.open_dir(Path::new("/power")).unwrap().sync().unwrap();
    d.sync().unwrap();
    d.rename("synced", "renamed").unwrap();
    let lost = Arc::new(disk.after_cut(Loss::All, 1));
    let record = Found::Record(b"data".to_vec());
    assert_eq!(read(&lost, "/power/d", "synced").unwrap(), record);
    assert_eq!(read(&lost, "/power/d", "renamed").unwrap(), Found::Absent);
    assert_eq!(
        read(&lost, "/power/d", "unsynced").unwrap(),
        Found::Record(vec![])
    );
    let kept = Arc::new(disk.after_cut(Loss::Nothing, 1));
    assert_eq!(read(&kept, "/power/d", "renamed").unwrap(), record);
    assert_eq!(read(&kept, "/power/d", "unsynced").unwrap(), record);
}

#[test]
fn a_cut_fails_its_operation_and_every_later_one() {
    let disk = Arc::new(Disk::with_root(Path::new("/power")));
    let d = SimFs(Arc::clone(&disk))
        .open_dir(Path::new("/power"))
        .unwrap();
    disk.cut_at(2);
    d.write_new("a", b"", false).unwrap();
    assert!(d.write_new("b", b"", false).is_err());
    assert!(d.names().is_err());
    let names = |loss| {
        let after = Arc::new(disk.after_cut(loss, 1));
        let mut names = SimFs(after).open_dir(Path::new("/power")).unwrap().names();
        names.as_mut().map(|n| n.sort()).unwrap();
        names.unwrap()
    };
    assert_eq!(names(Loss::All), Vec::<String>::new());
    assert_eq!(
        names(Loss::Nothing),
        ["a", "b"],
        "the cut operation may have landed"
    );
}

/// The checks are live: a disk whose syncs do nothing loses acknowledged records, and the
/// reboot check says so.
#[test]
fn a_store_whose_syncs_do_nothing_is_caught() {
    let runtime = runtime();
    for &kind in super::KINDS {
        let disk = kind.disk();
        disk.ignore_syncs();
        let ctx = Arc::new(kind.open(&disk, false).unwrap());
        let mut ran = Ran::default();
        runtime.block_on(workload::run(&ctx, 0, &mut ran)).unwrap();
        drop(ctx);
        let mut acked = Acknowledged::default();
        acked.add(0, &ran);
        let after = Arc::new(disk.after_cut(Loss::All, 1));
        let error = check::reboot(kind, &after, &acked, &runtime).unwrap_err();
        assert!(
            error.contains("acknowledged record lost") || error.contains("does not open"),
            "{kind:?}: {error}"
        );
    }
}

/// Finding: a new `FileStore`'s directories were created without syncing their parents, so
/// a power cut could take the store's directory, and every record in it, after `save`
/// returned `Ok` (a batch of one record syncs its file and the store's directory, not the
/// parent); and a store created but not yet written to could vanish, or lose its marker.
#[test]
fn a_new_file_store_and_its_first_record_survive_a_cut() {
    let disk = Arc::new(Disk::with_root(Path::new("/power")));
    let dir = Kind::File.path().join("nested");
    let ctx = Context::new(FileStore::new_on(&SimFs(Arc::clone(&disk)), &dir).unwrap());
    for loss in Loss::EVERY {
        let after = SimFs(Arc::new(disk.after_cut(loss, 7)));
        let opened = FileStore::open_existing_on(&after, &dir);
        assert!(opened.is_ok(), "{loss:?}: {opened:?}");
    }
    ctx.save("answer", &42u64).unwrap();
    for loss in Loss::EVERY {
        let after = SimFs(Arc::new(disk.after_cut(loss, 7)));
        let ctx = Context::new(FileStore::open_existing_on(&after, &dir).unwrap());
        assert_eq!(ctx.get::<u64>("answer"), Some(42), "{loss:?}");
    }
}
