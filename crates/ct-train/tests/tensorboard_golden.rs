//! The event-file writer against TensorBoard's own (golden bytes from
//! `tools/ct-train/make_tensorboard_golden.py`, tensorboard 2.20.0, protobuf 7.36.2): exact
//! bytes, so TensorBoard reads what ct-train writes.

use ct_train::tensorboard::{record, scalars_event, version_event};

#[test]
fn records_match_tensorboards_writer_byte_for_byte() {
    let golden = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/tensorboard_golden.bin"
    ))
    .unwrap();
    let mut ours = record(&version_event(1700000000.25));
    ours.extend(record(&scalars_event(
        1700000001.5,
        1,
        &[("fold0/train/batch_loss", 1.0986123), ("fold0/lr", 0.001)],
    )));
    ours.extend(record(&scalars_event(
        1700000100.0,
        300,
        &[("fold3/val/accuracy", 0.75)],
    )));
    assert_eq!(ours, golden);
}
