//! Tests of checkpoint files: atomic writes, which files are kept, and choosing the checkpoint that goes
//! with the committed offsets.

use std::collections::BTreeMap;

use super::*;

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickstream-state-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn checkpoint(id: u64, offsets: &[(i32, i64)]) -> Checkpoint {
    let offsets = offsets
        .iter()
        .map(|&(partition, next_offset)| SourcePosition {
            source: "ticks".into(),
            position: PartitionPosition {
                topic: "t.trades.v1".into(),
                partition,
                next_offset,
            },
        })
        .collect();
    let state = serde_json::value::to_raw_value(&serde_json::json!({ "n": id })).unwrap();
    let operators = BTreeMap::from([("bars".to_owned(), state)]);
    Checkpoint::new(id, offsets, operators)
}

fn committed(offsets: &[(i32, Option<i64>, Option<u64>)]) -> Vec<CommittedOffset> {
    offsets
        .iter()
        .map(|&(partition, next_offset, checkpoint)| CommittedOffset {
            topic: "t.trades.v1".into(),
            partition,
            next_offset,
            checkpoint,
        })
        .collect()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_read_back_and_only_the_last_two_are_kept() {
    let dir = dir("keep");
    let mut store = StateStore::open(&dir).unwrap();
    assert_eq!(store.next_id(), 1);
    for id in 1..=5 {
        let keep = store.ids().last().copied();
        store
            .write(&checkpoint(id, &[(0, id as i64 * 10)]), keep)
            .unwrap();
    }
    assert_eq!(store.ids(), [4, 5]);
    assert_eq!(
        files(&dir),
        [
            "checkpoint-00000000000000000004.json",
            "checkpoint-00000000000000000005.json"
        ]
    );
    let reopened = StateStore::open(&dir).unwrap();
    assert_eq!(reopened.next_id(), 6);
    assert_eq!(reopened.load(5).unwrap(), checkpoint(5, &[(0, 50)]));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_file_the_commit_still_names_is_kept_while_later_commits_fail() {
    let dir = dir("protected");
    let mut store = StateStore::open(&dir).unwrap();
    store.write(&checkpoint(1, &[(0, 10)]), None).unwrap();
    // Checkpoint 1 was committed; the commits of 2, 3 and 4 failed.
    for id in 2..=4 {
        store
            .write(&checkpoint(id, &[(0, id as i64 * 10)]), Some(1))
            .unwrap();
    }
    assert_eq!(store.ids(), [1, 2, 3, 4]);
    store.write(&checkpoint(5, &[(0, 50)]), Some(5)).unwrap();
    assert_eq!(store.ids(), [4, 5]);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_interrupted_write_leaves_the_previous_checkpoint_and_no_temporary_file() {
    let dir = dir("atomic");
    let mut store = StateStore::open(&dir).unwrap();
    store.write(&checkpoint(1, &[(0, 10)]), None).unwrap();
    // What a crash in the middle of writing checkpoint 2 leaves: a partial temporary file.
    fs::write(
        dir.join("checkpoint-00000000000000000002.json.tmp"),
        b"{\"format\":\"tick",
    )
    .unwrap();
    let store = StateStore::open(&dir).unwrap();
    assert_eq!(store.ids(), [1]);
    assert_eq!(files(&dir), ["checkpoint-00000000000000000001.json"]);
    let chosen = store.choose(&committed(&[(0, Some(10), None)])).unwrap();
    assert_eq!(chosen, Some(checkpoint(1, &[(0, 10)])));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_checkpoint_is_chosen_by_the_commit_or_by_its_offsets() {
    let dir = dir("choose");
    let mut store = StateStore::open(&dir).unwrap();
    store
        .write(&checkpoint(1, &[(0, 10), (1, 5)]), None)
        .unwrap();
    store
        .write(&checkpoint(2, &[(0, 20), (1, 5)]), Some(1))
        .unwrap();

    // A first start: nothing committed.
    assert_eq!(
        store
            .choose(&committed(&[(0, None, None), (1, None, None)]))
            .unwrap(),
        None
    );
    // The commit names its checkpoint.
    let named = store.choose(&committed(&[(0, Some(20), Some(2)), (1, Some(5), Some(2))]));
    assert_eq!(named.unwrap().unwrap().id, 2);
    // A crash after checkpoint 2 was written but before it was committed: the offsets match 1.
    let by_offsets = store.choose(&committed(&[(0, Some(10), None), (1, Some(5), None)]));
    assert_eq!(by_offsets.unwrap().unwrap().id, 1);
    // A partition never read has no commit and constrains nothing.
    let partial = store.choose(&committed(&[(0, Some(20), None), (1, None, None)]));
    assert_eq!(partial.unwrap().unwrap().id, 2);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn state_that_does_not_go_with_the_commit_is_a_clear_mismatch() {
    let dir = dir("mismatch");
    let mut store = StateStore::open(&dir).unwrap();
    store.write(&checkpoint(1, &[(0, 10)]), None).unwrap();
    let message = |c: Vec<CommittedOffset>| store.choose(&c).unwrap_err().to_string();

    let other_offsets = message(committed(&[(0, Some(15), None)]));
    assert!(
        other_offsets.contains("no checkpoint file has these offsets"),
        "{other_offsets}"
    );
    assert!(
        other_offsets.contains("t.trades.v1[0]@15"),
        "{other_offsets}"
    );
    assert!(
        other_offsets.contains("on_mismatch = \"start_empty\""),
        "{other_offsets}"
    );

    let missing = message(committed(&[(0, Some(10), Some(9))]));
    assert!(
        missing.contains("names checkpoint 9, which is not in the directory"),
        "{missing}"
    );

    let moved = message(committed(&[(0, Some(11), Some(1))]));
    assert!(
        moved.contains("checkpoint 1's offsets are not the committed ones"),
        "{moved}"
    );

    let split = message(committed(&[(0, Some(10), Some(1)), (1, Some(3), Some(2))]));
    assert!(split.contains("name different checkpoints"), "{split}");

    // An empty directory with committed offsets: the state was lost.
    let empty = StateStore::open(&dir.join("empty")).unwrap();
    assert!(matches!(
        empty.choose(&committed(&[(0, Some(10), None)])),
        Err(Error::StateMismatch { .. })
    ));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_corrupt_file_is_reported_not_restored() {
    let dir = dir("corrupt");
    let mut store = StateStore::open(&dir).unwrap();
    store.write(&checkpoint(1, &[(0, 10)]), None).unwrap();
    fs::write(
        dir.join("checkpoint-00000000000000000001.json"),
        b"{not json",
    )
    .unwrap();
    let e = store
        .choose(&committed(&[(0, Some(10), Some(1))]))
        .unwrap_err();
    assert!(matches!(e, Error::StateCorrupt { .. }), "{e}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_default_directory_follows_the_consumer_groups() {
    let section = StateSection::default();
    assert_eq!(
        section.dir_for(&["analytics"]),
        Path::new("state/analytics")
    );
    assert_eq!(section.dir_for(&["a", "b"]), Path::new("state/a+b"));
    let configured: StateSection =
        toml::from_str("dir = \"/var/lib/x\"\non_mismatch = \"start_empty\"").unwrap();
    assert_eq!(configured.dir_for(&["analytics"]), Path::new("/var/lib/x"));
    assert_eq!(configured.on_mismatch, OnMismatch::StartEmpty);
    assert!(toml::from_str::<StateSection>("directory = \"x\"").is_err());
    assert!(
        StateSection {
            dir: Some(PathBuf::new()),
            ..StateSection::default()
        }
        .validate()
        .is_err()
    );
}

#[test]
fn the_file_format_is_stable() {
    let dir = dir("format");
    let mut store = StateStore::open(&dir).unwrap();
    store
        .write(&checkpoint(7, &[(0, 70), (2, 5)]), None)
        .unwrap();
    let text = fs::read_to_string(dir.join("checkpoint-00000000000000000007.json")).unwrap();
    assert_eq!(
        text,
        r#"{"format":"tickstream.checkpoint.v1","id":7,"offsets":[{"source":"ticks","topic":"t.trades.v1","partition":0,"next_offset":70},{"source":"ticks","topic":"t.trades.v1","partition":2,"next_offset":5}],"operators":{"bars":{"n":7}}}"#
    );
    assert_eq!(store.load(7).unwrap(), checkpoint(7, &[(0, 70), (2, 5)]));
    fs::remove_dir_all(dir).unwrap();
}
